//! RealPage OneSite connector (pms-apis.md §2): the RPX SOAP gateway, `getresidentlist` once per
//! site, with an `auth` block (`pmcid`, `siteid`, `licensekey`, `system`). A method the license key
//! is not enabled for is reported as such (`NotLicensed`), not as an outage.

use crate::credentials::SecretData;
use crate::http::{HttpClient, RateLimit};
use crate::pms::soap::{self, Element};
use crate::pms::{ConnectorConfigError, MissingId, PmsError, PmsSource, Row, parse_date, require_numeric_ids};
use crate::sync::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};

pub const SECRET_KEYS: [&str; 2] = ["pmcId", "licenseKey"];
/// The RPX gateway; partners usually have their own service path under it: set `baseUrl`.
pub const DEFAULT_BASE_URL: &str = "https://gateway.rpx.realpage.com/rpxgateway/partner/RPX/RPX.svc";
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(60);
const ACTION: &str = "http://tempuri.org/IRPXService/getresidentlist";

pub struct Realpage {
    http: HttpClient,
    url: String,
    pmc_id: String,
    license_key: String,
}

impl Realpage {
    pub fn new(
        base_url: Option<&str>,
        property_ids: &[String],
        secret: &SecretData,
        http: HttpClient,
    ) -> Result<Self, ConnectorConfigError> {
        secret.require(&SECRET_KEYS)?;
        require_numeric_ids(property_ids, "RealPage site IDs")?;
        Ok(Self {
            http,
            url: base_url.unwrap_or(DEFAULT_BASE_URL).to_string(),
            pmc_id: secret.get("pmcId")?.to_string(),
            license_key: secret.get("licenseKey")?.to_string(),
        })
    }

    fn envelope(&self, site_id: &str) -> String {
        soap::envelope(&format!(
            "<tem:getresidentlist xmlns:tem=\"http://tempuri.org/\"><tem:auth><tem:pmcid>{}</tem:pmcid>\
             <tem:siteid>{}</tem:siteid><tem:licensekey>{}</tem:licensekey><tem:system>Onesite</tem:system>\
             </tem:auth></tem:getresidentlist>",
            soap::escape(&self.pmc_id),
            soap::escape(site_id),
            soap::escape(&self.license_key)
        ))
    }
}

/// Classifies a fault or error message. The message itself is vendor free text that may echo the
/// request or name a resident: it is read here and never reported.
fn classify(message: &str) -> PmsError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("not authorized to call the method") || lower.contains("not licensed") {
        PmsError::NotLicensed("the license key is not enabled for getresidentlist".into())
    } else if lower.contains("license") || lower.contains("pmcid") || lower.contains("authenticat") {
        PmsError::Unauthorized { status: 401 }
    } else {
        PmsError::Rejected { status: 200, code: Some("RealPage error message".into()) }
    }
}

/// The residents of a `getresidentlistResult` element (or the error it reports).
pub(crate) fn residents(site_id: &str, result: Element) -> Result<Vec<Resident>, PmsError> {
    if let Some(error) =
        result.descendants("error").first().map(|e| e.text.trim().to_string()).filter(|t| !t.is_empty())
    {
        return Err(classify(&error));
    }
    let mut people = super::People::default();
    for row in result.descendants("resident") {
        people.push(resident(site_id, row));
    }
    people.finish("getresidentlist")
}

impl PmsSource for Realpage {
    async fn list_residents(&self, site_id: &str) -> Result<Vec<Resident>, PmsError> {
        let envelope = self.envelope(site_id);
        let result = soap::call(&self.http, &self.url, ACTION, envelope, "getresidentlistResult", classify).await?;
        residents(site_id, result)
    }
}

/// OneSite lease statuses (pms-apis.md §2, §13). Notice and eviction come as a date and a flag.
pub fn normalize(raw: &str) -> ResidentStatus {
    match raw.trim().to_ascii_lowercase().as_str() {
        "current" | "future lease" => ResidentStatus::Current,
        "applicant - lease signed" | "pending" => ResidentStatus::Future,
        "applicant" => ResidentStatus::Applicant,
        "former" => ResidentStatus::Past,
        "former applicant" | "cancelled" | "canceled" | "denied" => ResidentStatus::Cancelled,
        "notice" | "on notice" => ResidentStatus::Notice,
        "evicted" | "eviction" => ResidentStatus::Evicted,
        _ => ResidentStatus::Unknown,
    }
}

fn flag(e: &Element, name: &str) -> bool {
    e.text_of(name).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "y" | "yes"))
}

fn resident(site_id: &str, e: &Element) -> Row {
    let Some(person) = e.text_of("residentmemberid").or_else(|| e.text_of("residentid")) else {
        return Some(Err(MissingId));
    };
    let status_raw = e.text_of("leasestatus").unwrap_or_default();
    let mut status = normalize(&status_raw);
    let notice_given = parse_date(e.text_of("noticegivendate").as_deref());
    let evict = flag(e, "evict");
    if status == ResidentStatus::Current {
        if evict {
            status = ResidentStatus::Evicted;
        } else if notice_given.is_some() {
            status = ResidentStatus::Notice;
        }
    }
    let mut r = Resident::new(site_id, &person, &status_raw, status);
    let kind = e.text_of("residenttype").or_else(|| e.text_of("relationship")).unwrap_or_default().to_ascii_lowercase();
    r.role = if flag(e, "headofhousehold") || kind.contains("head") {
        ResidentRole::Primary
    } else if kind.contains("guarantor") {
        ResidentRole::Guarantor
    } else if kind.contains("occupant") || kind.contains("minor") {
        ResidentRole::Occupant
    } else {
        ResidentRole::CoResident
    };
    r.lease_id = e.text_of("residentid");
    r.unit = e.text_of("unitnumber");
    r.first_name = e.text_of("firstname").unwrap_or_default();
    r.last_name = e.text_of("lastname").unwrap_or_default();
    r.emails = e.text_of("email").into_iter().collect();
    r.phones = [
        ("cellphone", PhoneKind::Mobile),
        ("homephone", PhoneKind::Home),
        ("workphone", PhoneKind::Work),
        ("phone", PhoneKind::Other),
    ]
    .into_iter()
    .filter_map(|(name, kind)| Some(Phone { number: e.text_of(name)?, kind }))
    .collect();
    r.lease_start = parse_date(e.text_of("begindate").as_deref());
    r.lease_end = parse_date(e.text_of("enddate").as_deref());
    r.move_in = parse_date(e.text_of("moveindate").as_deref());
    r.move_out = parse_date(e.text_of("moveoutdate").or_else(|| e.text_of("noticefordate")).as_deref());
    r.notice_given = notice_given;
    r.under_eviction = evict;
    Some(Ok(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_residents_and_derives_notice_and_eviction() {
        let xml = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getresidentlistResponse xmlns="http://tempuri.org/">
          <getresidentlistResult><residentlist>
            <resident><residentid>R1</residentid><residentmemberid>M1</residentmemberid><unitnumber>204</unitnumber>
              <firstname>José</firstname><lastname>Núñez</lastname><leasestatus>Current</leasestatus><headofhousehold>true</headofhousehold>
              <noticegivendate>2026-10-01T00:00:00</noticegivendate><cellphone>555-0101</cellphone></resident>
            <resident><residentmemberid>M2</residentmemberid><leasestatus>Current</leasestatus><evict>Y</evict></resident>
            <resident><residentmemberid>M3</residentmemberid><leasestatus>Applicant - Lease Signed</leasestatus><residenttype>Occupant</residenttype></resident>
          </residentlist></getresidentlistResult></getresidentlistResponse></s:Body></s:Envelope>"#;
        let doc = soap::parse(xml).unwrap();
        let rs: Vec<Resident> =
            doc.descendants("resident").into_iter().filter_map(|e| resident("5446271", e)?.ok()).collect();
        let got: Vec<(&str, ResidentStatus, ResidentRole)> =
            rs.iter().map(|r| (r.person_id.as_str(), r.status, r.role)).collect();
        assert_eq!(
            got,
            [
                ("M1", ResidentStatus::Notice, ResidentRole::Primary),
                ("M2", ResidentStatus::Evicted, ResidentRole::CoResident),
                ("M3", ResidentStatus::Future, ResidentRole::Occupant)
            ]
        );
        assert_eq!(rs[0].first_name, "José");
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use wiremock::matchers::{header, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn license_faults_are_reported_as_such_and_credentials_never_echo() {
        let server = MockServer::start().await;
        let fault = |text: &str| {
            ResponseTemplate::new(500).set_body_string(soap::envelope(&format!(
                "<s:Fault xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><faultcode>s:Client</faultcode><faultstring>{text}</faultstring></s:Fault>"
            )))
        };
        Mock::given(method("POST"))
            .and(header("SOAPAction", "\"http://tempuri.org/IRPXService/getresidentlist\""))
            .respond_with(fault("LicenseKey lk-secret-1 is not authorized to call the method getresidentlist"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST")).respond_with(fault("Invalid LicenseKey or PMCID")).mount(&server).await;
        let secret = SecretData::new(
            "s",
            BTreeMap::from([("pmcId".into(), "42".into()), ("licenseKey".into(), "lk-secret-1".into())]),
        );
        let http = HttpClient::new("realpage", Default::default(), Metrics::default());
        let c = Realpage::new(Some(&server.uri()), &["5446271".into()], &secret, http).unwrap();
        let err = c.list_residents("5446271").await.unwrap_err();
        assert!(
            matches!(&err, PmsError::NotLicensed(m) if m.contains("getresidentlist") && !m.contains("lk-secret-1")),
            "{err}"
        );
        assert!(matches!(c.list_residents("5446271").await, Err(PmsError::Unauthorized { .. })));
        assert_eq!(server.received_requests().await.unwrap().len(), 2, "a fault (HTTP 500) is read, not retried");
    }
}

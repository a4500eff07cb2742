//! RealPage OneSite connector (docs/connectors.md#realpage-onesite): the RPX SOAP gateway, `getresidentlist` once per
//! site, with an `auth` block (`pmcid`, `siteid`, `licensekey`, `system`) and the
//! `<getresidentlistargs><ExtensionData/></getresidentlistargs>` element every public caller sends.
//! A method the license key is not enabled for is reported as such (`NotLicensed`), not as an
//! outage.
//!
//! Evidence (`../shared/vendor-samples/realpage/`): the resident element names, statuses and odd
//! values come from the `getresidentlistinfo` capture of RealPage's sandbox (converted to JSON by
//! the capturing client, so only names and values are real); `getresidentlist` returns the same
//! `resident` records (public callers read `leaseid`, `unitnumber`, `leasestatus` from it), but no
//! capture of its body exists: the reader therefore takes either result element. Faults arrive as
//! HTTP 500 SOAP faults or inside HTTP 200 bodies (`rpx-error-and-fault-responses.json`).

use crate::credentials::SecretData;
use crate::http::{HttpClient, RateLimit};
use crate::pms::soap::{self, Element};
use crate::pms::{ConnectorConfigError, MissingId, PmsError, PmsSource, Row, parse_date, require_numeric_ids};
use crate::domain::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};

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
             </tem:auth><tem:getresidentlistargs><tem:ExtensionData/></tem:getresidentlistargs></tem:getresidentlist>",
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
    // `getresidentlistinfo` answers with the same records: read either.
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

/// OneSite lease statuses (docs/connectors.md#statuses; the capture's `leasestatus` values are Former,
/// Former Applicant, Current, Applicant, Future Lease and Applicant - Lease Signed). A future lease
/// is a future resident: no access before move-in. Notice and eviction come as a date and a flag.
pub fn normalize(raw: &str) -> ResidentStatus {
    match raw.trim().to_ascii_lowercase().as_str() {
        "current" => ResidentStatus::Current,
        "future lease" | "applicant - lease signed" | "pending" | "future" => ResidentStatus::Future,
        "applicant" => ResidentStatus::Applicant,
        "former" | "former resident" | "past" => ResidentStatus::Past,
        "former applicant" | "cancelled" | "canceled" | "denied" => ResidentStatus::Cancelled,
        "notice" | "on notice" => ResidentStatus::Notice,
        "evicted" | "eviction" => ResidentStatus::Evicted,
        _ => ResidentStatus::Unknown,
    }
}

/// A `*bit` ("TRUE"/"FALSE") or flag ("Y"/"N") field.
fn flag(e: &Element, name: &str) -> bool {
    e.text_of(name).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "y" | "yes"))
}

/// The person's role. Guarantors and co-signers come flagged several ways in the capture
/// (`guarantorbit`, `cosignerbit`, `residentrelationship` "Guarantor", "Guarantor/Cosigner",
/// "xxxGuarantor_old", `contactstatus` "Guarantor" or "Co-signer"): any of them makes one.
fn role(e: &Element) -> ResidentRole {
    let relationship = e.text_of("residentrelationship").or_else(|| e.text_of("relationship")).unwrap_or_default();
    let relationship = relationship.to_ascii_lowercase();
    let contact = e.text_of("contactstatus").unwrap_or_default().to_ascii_lowercase();
    let kind = e.text_of("residenttype").unwrap_or_default();
    let guarantor = ["guarant", "cosign", "co-sign"];
    if flag(e, "guarantorbit")
        || flag(e, "cosignerbit")
        || guarantor.iter().any(|g| relationship.contains(g) || contact.contains(g))
    {
        ResidentRole::Guarantor
    } else if flag(e, "hohbit") || flag(e, "headofhousehold") || kind == "H" || relationship == "head of household" {
        ResidentRole::Primary
    } else if ["minor", "child", "dependent", "occupant", "occ"]
        .iter()
        .any(|o| relationship.contains(o) || kind.to_ascii_lowercase().contains(o))
    {
        ResidentRole::Occupant
    } else {
        ResidentRole::CoResident
    }
}

fn resident(site_id: &str, e: &Element) -> Row {
    let Some(person) = e.text_of("residentmemberid").or_else(|| e.text_of("residentid")) else {
        return Some(Err(MissingId));
    };
    let status_raw = e.text_of("leasestatus").unwrap_or_default();
    let mut status = normalize(&status_raw);
    // The person's own status wins over the lease's: a "Former resident" on a current lease
    // (moved out, lease goes on with the others) has no access, as for Buildium.
    let contact = e.text_of("contactstatus").unwrap_or_default();
    if contact.eq_ignore_ascii_case("former resident") {
        status = ResidentStatus::Past;
    }
    let notice_given = parse_date(e.text_of("noticegivendate").as_deref());
    let evict = flag(e, "inevict") || flag(e, "evict");
    if status == ResidentStatus::Current {
        if evict {
            status = ResidentStatus::Evicted;
        } else if notice_given.is_some() {
            status = ResidentStatus::Notice;
        }
    }
    let raw = if status == ResidentStatus::Past && contact.eq_ignore_ascii_case("former resident") {
        contact
    } else {
        status_raw
    };
    let mut r = Resident::new(site_id, &person, &raw, status);
    r.role = role(e);
    r.lease_id = e.text_of("leaseid").or_else(|| e.text_of("residentid"));
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
mod sample_tests {
    use super::*;
    use serde_json::Value;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../shared/vendor-samples/realpage/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("the shared RealPage sample")).unwrap()
    }

    /// The 300 captured residents, as XML again, through the connector's reader: counts by
    /// (status, role) as the capture's fields and the rules above give them.
    #[test]
    fn reads_the_captured_resident_list() {
        let list = sample("rpx-getresidentlistinfo-response-trimmed-300-of-962.json");
        let list = &list["residents_info"]["data"]["getresidentlistinfoResult"]["residentlist"];
        let xml = crate::fuzzing::envelope("getresidentlistResult", &crate::fuzzing::rebuild_xml("residentlist", list));
        let result = soap::read_result(200, &xml, "getresidentlistResult", classify).unwrap();
        let rs = residents("4589705", result).unwrap();
        assert_eq!(rs.len(), 300);
        let count = |status, role| rs.iter().filter(|r| r.status == status && r.role == role).count();
        use ResidentRole::*;
        use ResidentStatus::*;
        assert_eq!(count(Current, Primary), 28);
        assert_eq!(count(Current, CoResident), 7);
        assert_eq!(count(Current, Guarantor), 3, "guarantors on current leases: no access by default");
        assert_eq!((count(Notice, Primary), count(Notice, CoResident)), (1, 1));
        assert_eq!((count(Evicted, Primary), count(Evicted, CoResident)), (1, 1), "inevict Y");
        assert_eq!((count(Future, Primary), count(Future, CoResident)), (2, 1), "Future Lease opens no door early");
        assert_eq!(count(Applicant, Primary) + count(Applicant, CoResident), 33);
        assert_eq!(rs.iter().filter(|r| r.status == Cancelled).count(), 24);
        assert_eq!(rs.iter().filter(|r| r.status == Past).count(), 198);
        assert_eq!(rs.iter().filter(|r| r.status == Unknown).count(), 0);
        // "Former resident" people on current leases lost access: the person's own status won.
        let former_on_current = rs.iter().filter(|r| r.status == Past && r.status_raw == "Former resident").count();
        assert!(former_on_current >= 3);
        assert!(rs.iter().all(|r| r.lease_id.is_some()), "leaseid is the lease");
        assert_eq!(rs.iter().filter(|r| r.person_id == "54").count(), 2, "one person on two leases");
        // 299 of 300 carry the placeholder email: it reaches the core, which drops it.
        let placeholder = rs.iter().filter(|r| r.emails.iter().any(|e| e == "none@nowhere.com")).count();
        assert_eq!(placeholder, 299);
    }

    /// The captured faults: HTTP 500 `ActionNotSupported` and HTTP 200 bodies holding `faultcode`.
    #[test]
    fn captured_faults_are_errors_of_the_right_kind() {
        let faults = sample("rpx-error-and-fault-responses.json");
        let mut seen = 0;
        for (call, capture) in faults.as_object().unwrap() {
            let error = if let Some(raw) = capture["raw"].as_str() {
                soap::read_result(500, raw, "getresidentlistResult", classify).unwrap_err()
            } else {
                let body = crate::fuzzing::rebuild_xml("Fault", &capture["data"]);
                let xml = format!(
                    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{body}</s:Body></s:Envelope>"
                );
                let err = soap::read_result(200, &xml, "getresidentlistResult", classify).unwrap_err();
                assert!(matches!(err, PmsError::NotLicensed(_)), "{call}: {err}");
                err
            };
            assert!(!matches!(error, PmsError::InvalidResponse(_)), "{call}: {error}");
            seen += 1;
        }
        assert_eq!(seen, 5);
        // The same fault without its `Fault` wrapper, as the converted capture shows it.
        let bare = "<s:Envelope xmlns:s=\"s\"><s:Body><x><faultcode>s:inv_Param</faultcode>\
                    <faultstring>LicenseKey is not authorized to call the method.</faultstring></x></s:Body></s:Envelope>";
        assert!(matches!(
            soap::read_result(200, bare, "getresidentlistResult", classify),
            Err(PmsError::NotLicensed(_))
        ));
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

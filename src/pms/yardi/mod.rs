//! Yardi Voyager connector (pms-apis.md §1): SOAP 1.1 `ItfResidentData.asmx`, `GetResidents` once
//! per `YardiPropertyId`, credentials in the body. Errors arrive as SOAP faults or as
//! `<Messages><Message messageType="Error">` inside an HTTP 200 result; dates are `MM/DD/YYYY`.

use crate::credentials::SecretData;
use crate::http::{HttpClient, RateLimit};
use crate::pms::soap::{self, Element};
use crate::pms::{ConnectorConfigError, MissingId, PmsError, PmsSource, Row, join_url, parse_date, required_base_url};
use crate::sync::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};

pub const SECRET_KEYS: [&str; 7] =
    ["username", "password", "serverName", "database", "platform", "interfaceEntity", "interfaceLicense"];
/// Yardi announced limits in 2024 without publishing numbers: stay conservative.
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(60);
const NAMESPACE: &str = "http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentData";
const ACTION: &str = "http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentData/GetResidents";

pub struct Yardi {
    http: HttpClient,
    url: String,
    /// (element name, value) in the order the WSDL lists them, property ID excluded.
    credentials: Vec<(&'static str, String)>,
}

impl Yardi {
    pub fn new(
        base_url: Option<&str>,
        _property_ids: &[String],
        secret: &SecretData,
        http: HttpClient,
    ) -> Result<Self, ConnectorConfigError> {
        let base = required_base_url(base_url, "yardi", "the Voyager web-services base URL")?;
        secret.require(&SECRET_KEYS)?;
        let url = if base.to_ascii_lowercase().ends_with(".asmx") {
            base.to_string()
        } else {
            join_url(base, "ItfResidentData.asmx")
        };
        let pairs = [
            ("UserName", "username"),
            ("Password", "password"),
            ("ServerName", "serverName"),
            ("Database", "database"),
            ("Platform", "platform"),
            ("InterfaceEntity", "interfaceEntity"),
            ("InterfaceLicense", "interfaceLicense"),
        ];
        let credentials = pairs
            .iter()
            .map(|(element, key)| Ok((*element, secret.get(key)?.to_string())))
            .collect::<Result<_, crate::credentials::MissingKey>>()?;
        Ok(Self { http, url, credentials })
    }

    fn envelope(&self, property_id: &str) -> String {
        let field = |name: &str, value: &str| format!("<{name}>{}</{name}>", soap::escape(value));
        let mut body = format!("<GetResidents xmlns=\"{NAMESPACE}\">");
        for (name, value) in &self.credentials[..5] {
            body.push_str(&field(name, value));
        }
        body.push_str(&field("YardiPropertyId", property_id));
        for (name, value) in &self.credentials[5..] {
            body.push_str(&field(name, value));
        }
        body.push_str("</GetResidents>");
        soap::envelope(&body)
    }
}

/// Classifies a fault or error message. The message itself is vendor free text that may echo the
/// request or name a resident: it is read here and never reported.
fn classify(message: &str) -> PmsError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("login failed") || lower.contains("invalid credentials") || lower.contains("authenticat") {
        PmsError::Unauthorized { status: 401 }
    } else if lower.contains("license") || lower.contains("not authorized") {
        PmsError::NotLicensed("the interface license is not enabled for GetResidents".into())
    } else {
        PmsError::Rejected { status: 200, code: Some("Yardi error message".into()) }
    }
}

/// The residents of a `GetResidentsResult` element (or the errors it reports).
pub(crate) fn residents(property_id: &str, result: Element) -> Result<Vec<Resident>, PmsError> {
    // Some Voyager versions return the result document as escaped text.
    let result = if result.children.is_empty() && result.text.trim_start().starts_with('<') {
        soap::parse(result.text.trim()).map_err(|e| PmsError::InvalidResponse(format!("GetResidentsResult: {e}")))?
    } else {
        result
    };
    let errors: Vec<String> = result
        .descendants("Message")
        .into_iter()
        .filter(|m| m.attribute("messageType").is_some_and(|t| t.eq_ignore_ascii_case("error")))
        .map(|m| m.text.trim().to_string())
        .collect();
    if let Some(first) = errors.first() {
        return Err(classify(first));
    }
    let mut people = super::People::default();
    for row in result.descendants("Resident") {
        people.push(resident(property_id, row));
    }
    people.finish("GetResidents")
}

impl PmsSource for Yardi {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        let envelope = self.envelope(property_id);
        let result = soap::call(&self.http, &self.url, ACTION, envelope, "GetResidentsResult", classify).await?;
        residents(property_id, result)
    }
}

/// Yardi statuses (exact list unpublished, pms-apis.md §1): matched loosely, so that variants
/// such as "current resident" map too; anything else is `unknown` (overridable).
pub fn normalize(raw: &str) -> ResidentStatus {
    let s = raw.trim().to_ascii_lowercase();
    if s.contains("notice") {
        ResidentStatus::Notice
    } else if s.contains("evict") {
        ResidentStatus::Evicted
    } else if s.contains("current") {
        ResidentStatus::Current
    } else if s.contains("future") {
        ResidentStatus::Future
    } else if s.contains("past") || s.contains("former") {
        ResidentStatus::Past
    } else if s.contains("cancel") || s.contains("denied") {
        ResidentStatus::Cancelled
    } else if s.contains("applicant") || s.contains("waitlist") {
        ResidentStatus::Applicant
    } else {
        ResidentStatus::Unknown
    }
}

fn resident(property_id: &str, e: &Element) -> Row {
    let Some(person) = e
        .attribute("tCode")
        .map(str::to_string)
        .or_else(|| e.text_of("tCode"))
        .or_else(|| e.text_of("TenantCode"))
        .or_else(|| e.text_of("ResidentId"))
    else {
        return Some(Err(MissingId));
    };
    let status_raw = e.text_of("Status").unwrap_or_default();
    let mut r = Resident::new(property_id, person.trim(), &status_raw, normalize(&status_raw));
    r.role = match e.text_of("Relationship").unwrap_or_default().to_ascii_lowercase() {
        s if s.contains("guarantor") => ResidentRole::Guarantor,
        s if s.contains("occupant") => ResidentRole::Occupant,
        s if s.contains("roommate") => ResidentRole::CoResident,
        _ => ResidentRole::Primary,
    };
    r.unit = e.text_of("UnitCode").or_else(|| e.text_of("Unit"));
    r.first_name = e.text_of("FirstName").unwrap_or_default();
    r.last_name = e.text_of("LastName").unwrap_or_default();
    r.emails = e.text_of("Email").into_iter().collect();
    r.phones = e
        .descendants("Phone")
        .into_iter()
        .filter_map(|p| {
            let number =
                p.text_of("PhoneNumber").or_else(|| Some(p.text.trim().to_string()).filter(|t| !t.is_empty()))?;
            let kind =
                match p.attribute("Type").or(p.attribute("PhoneType")).unwrap_or("").to_ascii_lowercase().as_str() {
                    "cell" | "mobile" => PhoneKind::Mobile,
                    "home" => PhoneKind::Home,
                    "office" | "work" => PhoneKind::Work,
                    _ => PhoneKind::Other,
                };
            Some(Phone { number, kind })
        })
        .collect();
    r.lease_start = parse_date(e.text_of("LeaseFromDate").as_deref());
    r.lease_end = parse_date(e.text_of("LeaseToDate").as_deref());
    r.move_in = parse_date(e.text_of("MoveInDate").as_deref());
    r.move_out = parse_date(e.text_of("MoveOutDate").as_deref());
    r.notice_given = parse_date(e.text_of("NoticeDate").as_deref());
    r.under_eviction = r.status == ResidentStatus::Evicted;
    Some(Ok(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_residents_in_any_namespace_and_order_with_us_dates() {
        let xml = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
          <GetResidentsResponse xmlns="http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentData"><GetResidentsResult>
          <MITS-ResidentData><PropertyResidents><Residents>
            <Resident tCode="t0001234"><LastName>Ångström</LastName><Status>Current Resident</Status><FirstName>Zoë</FirstName>
              <Email>zoe@example.org</Email><Phone Type="Cell"><PhoneNumber>555-0100</PhoneNumber></Phone>
              <UnitCode>101</UnitCode><LeaseFromDate>01/01/2025</LeaseFromDate><MoveInDate>1/5/2025</MoveInDate></Resident>
            <Resident><tCode>t0009</tCode><Status>Eviction</Status></Resident>
          </Residents></PropertyResidents></MITS-ResidentData></GetResidentsResult></GetResidentsResponse></soap:Body></soap:Envelope>"#;
        let doc = soap::parse(xml).unwrap();
        let rs: Vec<Resident> =
            doc.descendants("Resident").into_iter().filter_map(|e| resident("p1", e)?.ok()).collect();
        assert_eq!(rs.len(), 2);
        assert_eq!(
            (rs[0].person_id.as_str(), rs[0].status, rs[0].first_name.as_str()),
            ("t0001234", ResidentStatus::Current, "Zoë")
        );
        assert_eq!(rs[0].move_in.unwrap().to_string(), "2025-01-05");
        assert_eq!(rs[0].phones[0].kind, PhoneKind::Mobile);
        assert_eq!((rs[1].person_id.as_str(), rs[1].status), ("t0009", ResidentStatus::Evicted));
    }

    #[test]
    fn statuses_normalize_loosely() {
        for (raw, want) in [
            ("Current", ResidentStatus::Current),
            ("Notice", ResidentStatus::Notice),
            ("Past", ResidentStatus::Past),
            ("Future", ResidentStatus::Future),
            ("Canceled", ResidentStatus::Cancelled),
            ("Denied", ResidentStatus::Cancelled),
            ("Applicant", ResidentStatus::Applicant),
            ("Waitlist", ResidentStatus::Applicant),
            ("Vacant", ResidentStatus::Unknown),
        ] {
            assert_eq!(normalize(raw), want, "{raw}");
        }
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn messages_in_a_200_result_are_errors_and_the_request_carries_the_credentials() {
        let server = MockServer::start().await;
        let body = soap::envelope(&format!(
            "<GetResidentsResponse xmlns=\"{NAMESPACE}\"><GetResidentsResult><Messages>\
             <Message messageType=\"Error\">Login failed. Please check login credentials and try again.</Message>\
             </Messages></GetResidentsResult></GetResidentsResponse>"
        ));
        Mock::given(method("POST"))
            .and(path("/voyager/ItfResidentData.asmx"))
            .and(body_string_contains("<YardiPropertyId>p&amp;1</YardiPropertyId>"))
            .and(body_string_contains("<UserName>u</UserName>"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
        let keys =
            SECRET_KEYS.iter().map(|k| (k.to_string(), if *k == "username" { "u".into() } else { format!("{k}-v") }));
        let secret = SecretData::new("s", keys.collect::<BTreeMap<_, _>>());
        let http = HttpClient::new("yardi", Default::default(), Metrics::default());
        let c = Yardi::new(Some(&format!("{}/voyager", server.uri())), &[], &secret, http).unwrap();
        assert!(matches!(c.list_residents("p&1").await, Err(PmsError::Unauthorized { .. })));
    }
}

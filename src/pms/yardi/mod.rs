//! Yardi Voyager connector (docs/connectors.md#yardi-voyager): SOAP 1.1 `ItfResidentTransactions20.asmx`,
//! `GetResidentTransactions_Login` once per `YardiPropertyId`, credentials in the body. Errors
//! arrive as SOAP faults or inside an HTTP 200 result (`<Messages><Message messageType="Error">`,
//! or bare text such as "Login failed.").
//!
//! Why this call (issue 11; `../shared/vendor-samples/yardi/`): `ItfResidentData/GetResidents`
//! carries phone *types* without numbers and only the lease holder, so roommates never got access
//! (a third of the people of the 48-household capture were missing). `GetResidentData` needs one
//! call per tenant code. `GetResidentTransactions_Login` answers the whole property in one
//! MITS ResidentTransactions 2.0 document: every household (`RT_Customer`) with every person on it
//! (`Customers/Customer`, roommates included), their status (`Customer@Type`), unit, lease and
//! move dates (`YYYY-MM-DD`), email (inside `Address`) and phone numbers
//! (`Phone@Type` + `PhoneNumber`). It also carries the ledger, which makes the body larger; the
//! body cap (`--max-body-mib`) bounds it.

use crate::credentials::SecretData;
use crate::http::{HttpClient, RateLimit};
use crate::pms::soap::{self, Element};
use crate::pms::{ConnectorConfigError, MissingId, PmsError, PmsSource, join_url, parse_date, required_base_url};
use crate::domain::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};

pub const SECRET_KEYS: [&str; 7] =
    ["username", "password", "serverName", "database", "platform", "interfaceEntity", "interfaceLicense"];
/// Yardi announced limits in 2024 without publishing numbers: stay conservative.
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(60);
/// The interface's page, under the Voyager web-services base.
pub const SERVICE: &str = "ItfResidentTransactions20.asmx";
const NAMESPACE: &str = "http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentTransactions20";
const ACTION: &str =
    "http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentTransactions20/GetResidentTransactions_Login";
/// The result element of the call.
pub const RESULT: &str = "GetResidentTransactions_LoginResult";

pub struct Yardi {
    http: HttpClient,
    url: String,
    /// (element name, value) in the order the WSDL lists them, property ID excluded.
    credentials: Vec<(&'static str, String)>,
}

/// The service URL from `spec.pms.baseUrl`: the web-services base (`…/WebServices`), or any
/// interface's `.asmx` URL under it (an `ItfResidentData.asmx` URL from an earlier version keeps
/// working: the page is swapped for this interface's).
fn service_url(base: &str) -> String {
    let trimmed = base.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((dir, page)) if page.to_ascii_lowercase().ends_with(".asmx") => format!("{dir}/{SERVICE}"),
        _ => join_url(trimmed, SERVICE),
    }
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
        Ok(Self { http, url: service_url(base), credentials })
    }

    /// The WSDL's parameter order: five credentials, `YardiPropertyId`, entity, license
    /// (`yardi/request-examples-and-notes.txt`).
    fn envelope(&self, property_id: &str) -> String {
        let field = |name: &str, value: &str| format!("<{name}>{}</{name}>", soap::escape(value));
        let mut body = format!("<GetResidentTransactions_Login xmlns=\"{NAMESPACE}\">");
        for (name, value) in &self.credentials[..5] {
            body.push_str(&field(name, value));
        }
        body.push_str(&field("YardiPropertyId", property_id));
        for (name, value) in &self.credentials[5..] {
            body.push_str(&field(name, value));
        }
        body.push_str("</GetResidentTransactions_Login>");
        soap::envelope(&body)
    }
}

/// Classifies a fault or error message. The message itself is vendor free text that may echo the
/// request or name a resident: it is read here and never reported.
fn classify(message: &str) -> PmsError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("login failed")
        || lower.contains("invalid credentials")
        || lower.contains("authenticat")
        || lower.contains("invalid interface entity")
    {
        PmsError::Unauthorized { status: 401 }
    } else if lower.contains("license") || lower.contains("not authorized") {
        PmsError::NotLicensed("the interface license is not enabled for GetResidentTransactions_Login".into())
    } else {
        PmsError::Rejected { status: 200, code: Some("Yardi error message".into()) }
    }
}

/// The residents of a `GetResidentTransactions_LoginResult` element (or the errors it reports).
pub(crate) fn residents(property_id: &str, result: Element) -> Result<Vec<Resident>, PmsError> {
    let text = result.text.trim();
    // Some Voyager versions return the result document as escaped text; errors may come as bare
    // text ("Login failed.", GetCovered's base.rb checks for it in 200 bodies).
    let result = if result.children.is_empty() && text.starts_with('<') {
        soap::parse(text).map_err(|e| PmsError::InvalidResponse(format!("{RESULT}: {e}")))?
    } else if result.children.is_empty() && !text.is_empty() {
        return Err(classify(text));
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
    let households = result.descendants("RT_Customer");
    if households.is_empty() && result.name != "ResidentTransactions" && result.descendants("Property").is_empty() {
        return Err(PmsError::InvalidResponse(format!("{RESULT} holds no ResidentTransactions document")));
    }
    let mut people = super::People::default();
    for household in households {
        for row in household_residents(property_id, household) {
            people.push(row);
        }
        super::check_rows(people.len(), "GetResidentTransactions_Login")?;
    }
    people.finish("GetResidentTransactions_Login")
}

impl PmsSource for Yardi {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        let envelope = self.envelope(property_id);
        let result = soap::call(&self.http, &self.url, ACTION, envelope, RESULT, classify).await?;
        residents(property_id, result)
    }
}

/// Yardi statuses (exact list unpublished, docs/connectors.md#statuses): `Customer@Type` values seen are
/// "current resident", "future resident", "applicant" and "customer" (a roommate, whose status is
/// the household's); GetCovered's sync also expects Past, Notice, Eviction, Canceled, Wait List and
/// Denied. Matched loosely; anything else is `unknown` (overridable).
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
    } else if s.contains("applicant") || s.contains("waitlist") || s.contains("wait list") {
        ResidentStatus::Applicant
    } else {
        ResidentStatus::Unknown
    }
}

/// `Customer@Type` of a roommate: the person has no status of their own.
const ROOMMATE: &str = "customer";
/// The status reported for a roommate with an `ActualMoveOut` (MITS's word for a moved-out person).
const MOVED_OUT_ROOMMATE: &str = "former resident";

/// The people of one household (`RT_Customer`). The household's `CustomerID` is the lease
/// holder's tenant code (`t…`); roommates (`r…`, `Type="customer"`) take the household's status,
/// unit and lease dates. A household without `Customers` is a vacant unit (in
/// `GetUnitInformation` its `CustomerID` even holds a unit status): nobody.
fn household_residents(property_id: &str, household: &Element) -> Vec<super::Row> {
    let Some(customers) = household.child("Customers") else { return Vec::new() };
    let people: Vec<&Element> = customers.children.iter().filter(|c| c.name.eq_ignore_ascii_case("Customer")).collect();
    let household_id = household.text_of("CustomerID");
    let head = people
        .iter()
        .find(|c| c.text_of("CustomerID").is_some() && c.text_of("CustomerID") == household_id)
        .or_else(|| people.iter().find(|c| !kind(c).eq_ignore_ascii_case(ROOMMATE)))
        .copied();
    let head_status = head.map(|h| kind(&h)).unwrap_or_default();
    let head_lease = head.and_then(|h| h.child("Lease"));
    let unit = head
        .and_then(|h| h.child("Property"))
        .and_then(|p| p.text_of("UnitID"))
        .or_else(|| household.child("RT_Unit").and_then(|u| u.text_of("UnitID")));
    people
        .into_iter()
        .map(|customer| {
            let Some(person) = customer.text_of("CustomerID") else { return Some(Err(MissingId)) };
            let own = kind(&customer);
            let lease = customer.child("Lease");
            // A roommate has no status of their own: the household's, unless they moved out
            // (their own `ActualMoveOut`), which is theirs alone.
            let moved_out = lease
                .and_then(|l| parse_date(l.text_of("ActualMoveOut").as_deref()))
                .is_some_and(|d| !crate::domain::placeholder::is_placeholder_date(d));
            let status_raw = match own.eq_ignore_ascii_case(ROOMMATE) {
                true if moved_out => MOVED_OUT_ROOMMATE.to_string(),
                true => head_status.clone(),
                false => own.clone(),
            };
            let mut r = Resident::new(property_id, &person, &status_raw, normalize(&status_raw));
            let responsible = lease.and_then(|l| l.text_of("ResponsibleForLease"));
            r.role = if own.to_ascii_lowercase().contains("guarantor") {
                ResidentRole::Guarantor
            } else if head.is_some_and(|h| std::ptr::eq(h, customer)) {
                ResidentRole::Primary
            } else if responsible.is_some_and(|v| v.eq_ignore_ascii_case("false")) {
                ResidentRole::Occupant
            } else {
                ResidentRole::CoResident
            };
            r.lease_id = household_id.clone();
            r.unit = customer.child("Property").and_then(|p| p.text_of("UnitID")).or_else(|| unit.clone());
            if let Some(name) = customer.child("Name") {
                r.first_name = name.text_of("FirstName").unwrap_or_default();
                r.last_name = name.text_of("LastName").unwrap_or_default();
            }
            r.emails = customer.descendants("Email").into_iter().map(|e| e.text.trim().to_string()).collect();
            r.phones = customer
                .children
                .iter()
                .filter(|p| p.name.eq_ignore_ascii_case("Phone"))
                .filter_map(|p| {
                    let kind = match p
                        .attribute("Type")
                        .or(p.attribute("PhoneType"))
                        .unwrap_or("")
                        .to_ascii_lowercase()
                        .as_str()
                    {
                        "cell" | "mobile" => PhoneKind::Mobile,
                        "home" => PhoneKind::Home,
                        "office" | "work" => PhoneKind::Work,
                        _ => PhoneKind::Other,
                    };
                    Some(Phone { number: p.text_of("PhoneNumber")?, kind })
                })
                .collect();
            let date = |name: &str| {
                let own = lease.and_then(|l| parse_date(l.text_of(name).as_deref()));
                own.filter(|d| !crate::domain::placeholder::is_placeholder_date(*d))
                    .or_else(|| head_lease.and_then(|l| parse_date(l.text_of(name).as_deref())))
            };
            r.lease_start = date("LeaseFromDate");
            r.lease_end = date("LeaseToDate");
            r.move_in = date("ActualMoveIn").or_else(|| date("ExpectedMoveInDate"));
            // `ExpectedMoveOutDate` is a plan, not a move-out: current residents in the capture
            // carry ones years past. Only `ActualMoveOut` ends access by date.
            r.move_out = date("ActualMoveOut");
            r.notice_given = date("NoticeDate");
            r.under_eviction = r.status == ResidentStatus::Evicted;
            Some(Ok(r))
        })
        .collect()
}

fn kind(customer: &&Element) -> String {
    customer.attribute("Type").unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests;

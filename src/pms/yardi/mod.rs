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

pub mod map;

use crate::domain::Resident;
use crate::http::{HttpClient, RateLimit};
use crate::pms::provider::{BaseUrl, Config, Descriptor, PropertyIds};
use crate::pms::soap::{self, Element};
use crate::pms::{PmsError, PmsSource, join_url};
pub use map::normalize;

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
pub const DESCRIPTOR: Descriptor = Descriptor {
    provider: crate::api::PmsProvider::Yardi,
    secret_keys: &[&SECRET_KEYS],
    base_url: BaseUrl::Required("the Voyager web-services base URL"),
    default_limit: DEFAULT_LIMIT,
    property_ids: PropertyIds::Any,
    property_ids_are: "Yardi property codes",
};

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
    /// A connector for a checked configuration ([`DESCRIPTOR`]).
    pub fn new(config: Config, http: HttpClient) -> Self {
        let pairs = [
            ("UserName", "username"),
            ("Password", "password"),
            ("ServerName", "serverName"),
            ("Database", "database"),
            ("Platform", "platform"),
            ("InterfaceEntity", "interfaceEntity"),
            ("InterfaceLicense", "interfaceLicense"),
        ];
        let credentials =
            pairs.iter().map(|(element, key)| (*element, config.credentials.get(key).to_string())).collect();
        Self { http, url: service_url(config.base_url.as_str()), credentials }
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
    let no_households = result.descendants("RT_Customer").is_empty();
    if no_households && result.name != "ResidentTransactions" && result.descendants("Property").is_empty() {
        return Err(PmsError::InvalidResponse(format!("{RESULT} holds no ResidentTransactions document")));
    }
    crate::pms::mits::residents(property_id, &result, "GetResidentTransactions_Login", normalize)
}

impl PmsSource for Yardi {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        let envelope = self.envelope(property_id);
        let result = soap::call(&self.http, &self.url, ACTION, envelope, RESULT, classify).await?;
        residents(property_id, result)
    }
}

#[cfg(test)]
mod tests;

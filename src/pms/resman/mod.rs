//! ResMan connector (docs/connectors.md#resman): the MITS call `GetResidentTransactions2_0`, one
//! form POST per property (`IntegrationPartnerID`, `ApiKey`, `AccountID`, `PropertyID`), answered
//! by a `<ResMan>` envelope whose `<Status>` is the error signal (whatever the HTTP code) and whose
//! `<Response>` holds the MITS ResidentTransactions document, HTML-escaped on the wire.
//!
//! Why MITS and not the partners REST API (`/Leasing/Leases`): MITS is the call with captured
//! responses (`../shared/vendor-samples/resman/`, 283 customers of a demo property and a vacant
//! property); the REST API is known only from a client's type definitions, with no capture of
//! its answers, and its accounts are issued separately. MITS carries every household, so a full
//! read needs nothing else. `modifiedSince` (REST) matters for incremental reads, which are not
//! built yet; when they are, REST comes as a second way, with MITS kept for accounts without it.

pub mod map;

use crate::domain::Resident;
use crate::http::{HttpClient, RateLimit};
use crate::pms::provider::{BaseUrl, Config, Descriptor, PropertyIds};
use crate::pms::soap::{self, Element};
use crate::pms::{PmsError, PmsSource, join_url};
pub use map::normalize;

pub const SECRET_KEYS: [&str; 3] = ["integrationPartnerId", "apiKey", "accountId"];
pub const DEFAULT_BASE_URL: &str = "https://api.myresman.com";
/// ResMan publishes no rate limit: one call a second per integration.
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(60);
pub const CALL: &str = "GetResidentTransactions2_0";
pub const DESCRIPTOR: Descriptor = Descriptor {
    provider: crate::api::PmsProvider::Resman,
    secret_keys: &[&SECRET_KEYS],
    base_url: BaseUrl::Default(DEFAULT_BASE_URL),
    default_limit: DEFAULT_LIMIT,
    // GUIDs in every capture; not enforced, as nothing says every account's are.
    property_ids: PropertyIds::Any,
    property_ids_are: "ResMan property IDs",
};

pub struct Resman {
    http: HttpClient,
    url: String,
    form: [(&'static str, String); 3],
}

impl Resman {
    /// A connector for a checked configuration ([`DESCRIPTOR`]).
    pub fn new(config: Config, http: HttpClient) -> Self {
        let c = &config.credentials;
        let form = [
            ("IntegrationPartnerID", c.get("integrationPartnerId").to_string()),
            ("ApiKey", c.get("apiKey").to_string()),
            ("AccountID", c.get("accountId").to_string()),
        ];
        Self { http, url: join_url(config.base_url.as_str(), &format!("MITS/{CALL}")), form }
    }
}

impl PmsSource for Resman {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        let response = self
            .http
            .send(|c| {
                let mut form: Vec<(&str, &str)> = self.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                form.push(("PropertyID", property_id));
                c.post(&self.url).form(&form)
            })
            .await?;
        if let Some(error) = PmsError::from_status(response.status()) {
            return Err(error);
        }
        let text = self.http.text(response).await?;
        residents(property_id, &text)
    }
}

/// The residents in a `<ResMan>` answer for `property_id`, or the error it reports. Pure: the
/// fuzz targets run it on arbitrary bytes.
pub fn residents(property_id: &str, body: &str) -> Result<Vec<Resident>, PmsError> {
    let envelope = soap::parse(body).map_err(|e| PmsError::InvalidResponse(format!("{CALL}: {e}")))?;
    if !envelope.name.eq_ignore_ascii_case("ResMan") {
        return Err(PmsError::InvalidResponse(format!("{CALL} did not answer with a ResMan document")));
    }
    let status = envelope.text_of("Status").unwrap_or_default();
    if !status.trim().eq_ignore_ascii_case("success") {
        return Err(classify(&envelope));
    }
    // An answer about another property would deprovision this one's residents.
    if let Some(answered) = envelope.text_of("PropertyID").filter(|id| !id.trim().is_empty())
        && !answered.trim().eq_ignore_ascii_case(property_id)
    {
        return Err(PmsError::InvalidResponse(format!("{CALL} answered for another property")));
    }
    let response =
        envelope.child("Response").ok_or_else(|| PmsError::InvalidResponse(format!("{CALL}: no Response element")))?;
    let text = response.text.trim();
    // On the wire the MITS document is HTML-escaped text; a client may also see it as elements.
    let document = if response.children.is_empty() && text.starts_with('<') {
        soap::parse(text).map_err(|e| PmsError::InvalidResponse(format!("{CALL} Response: {e}")))?
    } else {
        response.clone()
    };
    let is_document = document.name.eq_ignore_ascii_case("ResidentTransactions")
        || !document.descendants("ResidentTransactions").is_empty();
    if !is_document {
        return Err(PmsError::InvalidResponse(format!("{CALL}: the Response holds no ResidentTransactions document")));
    }
    crate::pms::mits::residents(property_id, &document, CALL, normalize)
}

/// The error of a non-"Success" answer. Its texts are vendor free text that may echo the request:
/// they are read for a classification and never reported.
fn classify(envelope: &Element) -> PmsError {
    let text = format!(
        "{} {} {}",
        envelope.text_of("Status").unwrap_or_default(),
        envelope.text_of("ErrorDescription").unwrap_or_default(),
        envelope.text_of("ErrorMessage").unwrap_or_default()
    )
    .to_ascii_lowercase();
    // Not "partner": a property error may name the IntegrationPartnerID it was asked with.
    let credentials = ["auth", "api key", "apikey", "credential", "permission", "access denied"];
    if credentials.iter().any(|w| text.contains(w)) {
        PmsError::Unauthorized { status: 200 }
    } else {
        PmsError::Rejected { status: 200, code: Some("ResMan Status is not Success".into()) }
    }
}

#[cfg(test)]
mod tests;

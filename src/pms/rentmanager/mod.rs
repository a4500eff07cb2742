//! Rent Manager 12 connector (docs/connectors.md#rent-manager): log in once with
//! `POST /Authentication/AuthorizeUser` (the answer is a JSON string: the token), then
//! `GET /Tenants` per property with `filters=PropertyID,eq,<id>`, the `Contacts`, phone number,
//! `Leases` and unit embeds (tenants alone carry no email, phone, unit or move-in), `pageSize` and
//! `pageNumber`, totals in `x-total-results`. The token is reused across pages and properties and
//! renewed once on a 401; a partner token (`partnerToken`) needs no login.
//!
//! Evidence (`../shared/vendor-samples/rentmanager/request-examples-and-notes.txt`): request
//! shapes, headers, paging and error keys from public clients; no response was ever captured, so
//! the reader is tolerant (key case, field order, absent embeds) and the mapping overridable.

pub mod map;

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::domain::Resident;
use crate::http::{HttpClient, RateLimit};
use crate::pms::provider::{BaseUrl, Config, Descriptor, PropertyIds};
use crate::pms::{People, PmsError, PmsSource, join_url};
pub use map::normalize;

/// Rent Manager's typical limit is 500 requests a minute per credential; integrations may share
/// one, so each takes half.
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(250);
pub const DESCRIPTOR: Descriptor = Descriptor {
    provider: crate::api::PmsProvider::Rentmanager,
    secret_keys: &[&["username", "password", "locationId"], &["partnerToken", "locationId"]],
    base_url: BaseUrl::Required("the company's API host, https://<company>.api.rentmanager.com"),
    default_limit: DEFAULT_LIMIT,
    property_ids: PropertyIds::Digits,
    property_ids_are: "Rent Manager property IDs",
};
const PAGE_SIZE: usize = 500;
/// 200 pages of 500 tenants: past any property.
const MAX_PAGES: usize = 200;
const EMBEDS: &str = "Contacts,Contacts.PhoneNumbers,Contacts.PhoneNumbers.PhoneNumberType,Leases,Leases.Unit";

enum Auth {
    Login { username: String, password: String },
    Partner(String),
}

pub struct Rentmanager {
    http: HttpClient,
    base_url: String,
    location_id: String,
    auth: Auth,
    /// The session token of the last login, shared by every page and property.
    token: Mutex<Option<String>>,
}

impl Rentmanager {
    /// A connector for a checked configuration ([`DESCRIPTOR`]).
    pub fn new(config: Config, http: HttpClient) -> Self {
        let c = &config.credentials;
        let auth = if c.has("username") {
            Auth::Login { username: c.get("username").into(), password: c.get("password").into() }
        } else {
            Auth::Partner(c.get("partnerToken").into())
        };
        let location_id = c.get("locationId").to_string();
        Self { http, base_url: config.base_url.to_string(), location_id, auth, token: Mutex::new(None) }
    }

    /// The header carrying the credential: the session token (logging in when there is none or
    /// `renew` asks for a new one), or the partner token.
    async fn credential(&self, renew: bool) -> Result<(&'static str, String), PmsError> {
        let (username, password) = match &self.auth {
            Auth::Partner(token) => return Ok(("X-RM12Api-PartnerToken", token.clone())),
            Auth::Login { username, password } => (username, password),
        };
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|_| !renew) {
            return Ok(("X-RM12Api-ApiToken", token.clone()));
        }
        // LocationID is a number in every client; sent as written when it is not one.
        let location = self.location_id.parse::<u64>().map_or_else(|_| json!(self.location_id), |n| json!(n));
        let body = json!({"Username": username, "Password": password, "LocationID": location});
        let url = join_url(&self.base_url, "Authentication/AuthorizeUser");
        let response = self.http.send(|c| c.post(&url).json(&body)).await?;
        let status = response.status();
        let text = self.http.text(response).await?;
        if !status.is_success() {
            return Err(login_error(status, &text));
        }
        let token =
            read_token(&text).ok_or_else(|| PmsError::InvalidResponse("AuthorizeUser returned no token".into()))?;
        *cached = Some(token.clone());
        Ok(("X-RM12Api-ApiToken", token))
    }

    /// One page of tenants and the total the vendor reports, renewing the session once on 401.
    async fn page(&self, property_id: &str, number: usize) -> Result<(Vec<Value>, Option<usize>), PmsError> {
        let url = join_url(&self.base_url, "Tenants");
        let query = [
            ("filters", format!("PropertyID,eq,{property_id}")),
            ("embeds", EMBEDS.to_string()),
            ("pageSize", PAGE_SIZE.to_string()),
            ("pageNumber", number.to_string()),
        ];
        for renew in [false, true] {
            let (header, token) = self.credential(renew).await?;
            let response = self
                .http
                .send(|c| {
                    c.get(&url).query(&query).header(header, &token).header("X-RM12Api-LocationID", &self.location_id)
                })
                .await?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !renew && matches!(self.auth, Auth::Login { .. }) {
                continue;
            }
            let total = response
                .headers()
                .get("x-total-results")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            if !status.is_success() {
                let text = self.http.text(response).await.unwrap_or_default();
                return Err(api_error(status, &text));
            }
            let tenants: Vec<Value> = super::read_json(&self.http, response, "Tenants").await?;
            return Ok((tenants, total));
        }
        Err(PmsError::Unauthorized { status: 401 })
    }
}

impl PmsSource for Rentmanager {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        let mut pages = super::paging::Pages::new("Tenants", MAX_PAGES);
        let mut people = People::default();
        let mut read = 0;
        for number in 1.. {
            pages.next(number)?;
            let (tenants, total) = self.page(property_id, number).await?;
            read += tenants.len();
            for tenant in &tenants {
                for row in map::tenant_residents(property_id, tenant) {
                    people.push(row);
                }
            }
            super::check_rows(people.len(), "Tenants")?;
            // With a total (`x-total-results`), read up to it, whatever page size the server
            // chose: a page short of the asked size ends nothing, and an empty page before the
            // total leaves the listing incomplete. Without one, a short page is the last.
            match total {
                Some(total) if read >= total => break,
                Some(_) if tenants.is_empty() => {
                    return Err(PmsError::Incomplete("Tenants ended before x-total-results".into()));
                }
                Some(_) => {}
                None if tenants.len() < PAGE_SIZE => break,
                None => {}
            }
        }
        people.finish("Tenants")
    }
}

/// The token in an `AuthorizeUser` answer: a JSON string, or bare text from a lenient proxy.
pub(crate) fn read_token(body: &str) -> Option<String> {
    let token = serde_json::from_str::<String>(body).unwrap_or_else(|_| body.trim().trim_matches('"').to_string());
    let token = token.trim();
    (!token.is_empty() && token.len() <= 4096 && !token.contains(char::is_whitespace)).then(|| token.to_string())
}

/// A failed login. "Logged in the maximum number of times" means the account's sessions are all
/// in use: reported as such (retried later, with backoff), never retried in a loop.
fn login_error(status: reqwest::StatusCode, body: &str) -> PmsError {
    if body.to_ascii_lowercase().contains("maximum number of times") {
        return PmsError::Rejected {
            status: status.as_u16(),
            code: Some("login limit reached: sessions exhausted".into()),
        };
    }
    api_error(status, body)
}

/// A non-2xx answer: `{UserMessage, DeveloperMessage, ErrorCode}`. The messages are vendor text
/// and stay unreported; the numeric `ErrorCode` is kept.
fn api_error(status: reqwest::StatusCode, body: &str) -> PmsError {
    let code = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.as_object().and_then(|o| super::json_text(o, &["ErrorCode"])))
        .filter(|c| c.len() <= 12 && c.bytes().all(|b| b.is_ascii_digit()));
    match PmsError::from_status(status) {
        Some(PmsError::Rejected { status, .. }) => {
            PmsError::Rejected { status, code: code.map(|c| format!("ErrorCode {c}")) }
        }
        Some(other) => other,
        None => PmsError::InvalidResponse("Tenants failed".into()),
    }
}

#[cfg(test)]
mod tests;

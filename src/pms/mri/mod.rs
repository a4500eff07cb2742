//! MRI connector (docs/connectors.md#mri): MRI API Services (`mriapiservices/api.asp`), the call
//! `MRI_S-PMRM_ResidentLeaseDetailsByPropertyID` with `$format=json&RMPROPID=…`, Basic auth,
//! following `nextLink` (`%24top`/`%24skip` or a `_next` cursor) on the same host only.
//!
//! Evidence (`../shared/vendor-samples/mri/`): the JSON envelope (`odata.metadata`, `nextLink`,
//! `value[]`) and its string-only values come from a client's test bodies that look pasted from
//! real answers; the 24-entry XML capture of the same call gives the field names and statuses
//! (Current, Co-Resident, Other Resident, Old) and `IsCurrent`. Errors arrive in HTTP 200 as
//! `value[0].Error.Message` (a hand-written client mock: the one piece of thin evidence) or as
//! non-2xx statuses. Property IDs are `RMPROPID`s such as `GCNS01` or `500`.

pub mod map;

use reqwest::Url;
use serde_json::Value;

use crate::domain::Resident;
use crate::http::{HttpClient, RateLimit};
use crate::pms::provider::{BaseUrl, Config, Descriptor, PropertyIds};
use crate::pms::{People, PmsError, PmsSource, Row};
pub use map::normalize;

pub const SECRET_KEYS: [&str; 5] = ["clientId", "databaseName", "username", "password", "partnerKey"];
/// MRI publishes no rate limit: one call a second per integration.
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(60);
pub const API: &str = "MRI_S-PMRM_ResidentLeaseDetailsByPropertyID";
/// 300 rows a page (the captured `$top`): 1,000 pages is 300,000 rows, past any building.
const MAX_PAGES: usize = 1_000;
pub const DESCRIPTOR: Descriptor = Descriptor {
    provider: crate::api::PmsProvider::Mri,
    secret_keys: &[&SECRET_KEYS],
    base_url: BaseUrl::Required("the customer's MRI API farm, e.g. https://<farm>.saas.mrisoftware.com"),
    default_limit: DEFAULT_LIMIT,
    property_ids: PropertyIds::Any,
    property_ids_are: "MRI property IDs (RMPROPID)",
};

pub struct Mri {
    http: HttpClient,
    endpoint: Url,
    /// `clientId/databaseName/username/partnerKey`: MRI's web-services user name form.
    user: String,
    password: String,
}

impl Mri {
    /// A connector for a checked configuration ([`DESCRIPTOR`]).
    pub fn new(config: Config, http: HttpClient) -> Self {
        let c = &config.credentials;
        let user = ["clientId", "databaseName", "username", "partnerKey"].map(|k| c.get(k)).join("/");
        Self { http, endpoint: endpoint(config.base_url), user, password: c.get("password").to_string() }
    }

    async fn page(&self, url: &Url) -> Result<Value, PmsError> {
        let response = self
            .http
            .send(|c| {
                c.get(url.clone())
                    .basic_auth(&self.user, Some(&self.password))
                    .header(reqwest::header::ACCEPT, "application/json")
            })
            .await?;
        if let Some(error) = PmsError::from_status(response.status()) {
            return Err(error);
        }
        super::read_json(&self.http, response, API).await
    }
}

/// `…/mriapiservices/api.asp` under the farm URL, whichever part of it `baseUrl` already names.
fn endpoint(mut base: Url) -> Url {
    let path = base.path().trim_end_matches('/').to_string();
    let lower = path.to_ascii_lowercase();
    let full = if lower.ends_with("/api.asp") {
        path
    } else if lower.ends_with("/mriapiservices") {
        format!("{path}/api.asp")
    } else {
        format!("{path}/mriapiservices/api.asp")
    };
    base.set_path(&full);
    base.set_query(None);
    base
}

impl PmsSource for Mri {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("$api", API)
            .append_pair("$format", "json")
            .append_pair("RMPROPID", property_id);
        let mut pages = super::paging::Pages::new("nextLink", MAX_PAGES);
        let mut people = People::default();
        loop {
            pages.next(url.to_string())?;
            let (rows, next) = read_page(property_id, &self.page(&url).await?)?;
            for row in rows {
                people.push(row);
            }
            super::check_rows(people.len(), API)?;
            match next {
                Some(link) => url = next_url(&self.endpoint, &link)?,
                None => return people.finish(API),
            }
        }
    }
}

/// One page's rows and its `nextLink`, or the error the page reports. Pure.
pub(crate) fn read_page(property_id: &str, page: &Value) -> Result<(Vec<Row>, Option<String>), PmsError> {
    let rows = page["value"]
        .as_array()
        .ok_or_else(|| PmsError::InvalidResponse(format!("{API} answered without a value list")))?;
    if let Some(message) = rows.first().and_then(|r| r.get("Error")).map(|e| e["Message"].as_str().unwrap_or("")) {
        return Err(classify(message));
    }
    let rows = rows
        .iter()
        .map(|row| match row.as_object() {
            Some(record) => map::resident(property_id, record),
            None => Some(Err(crate::pms::MissingId)),
        })
        .collect();
    let next = ["nextLink", "odata.nextLink", "@odata.nextLink"]
        .iter()
        .find_map(|k| page[k].as_str())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from);
    Ok((rows, next))
}

/// The next page: on the farm's own origin (credentials go with it), always as JSON (a captured
/// `nextLink` says `%24format=xml` under a JSON body).
fn next_url(endpoint: &Url, link: &str) -> Result<Url, PmsError> {
    let mut url = super::same_origin(endpoint, link, "nextLink")?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "$format" { "json".to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    Ok(url)
}

/// [`next_url`] under a fixed farm, for the fuzz targets: the length of what it accepts.
pub fn next_url_for_fuzzing(link: &str) -> usize {
    let endpoint = Url::parse("https://f.example/mriapiservices/api.asp").expect("a URL");
    next_url(&endpoint, link).map_or(0, |u| u.as_str().len())
}

/// An error message in a 200 answer: vendor free text, read for a classification, never reported.
fn classify(message: &str) -> PmsError {
    let lower = message.to_ascii_lowercase();
    let credentials = ["authoriz", "authentic", "login", "password", "credential", "partner key", "user name"];
    if credentials.iter().any(|w| lower.contains(w)) {
        PmsError::Unauthorized { status: 200 }
    } else {
        PmsError::Rejected { status: 200, code: Some("MRI error message".into()) }
    }
}

#[cfg(test)]
mod tests;

//! Entrata connector (docs/connectors.md#entrata): JSON-RPC over POST to `<baseUrl>/leases`, method
//! `getLeases` **version r2**, with `X-Api-Key` (gateway, Secret key `apiKey`) or HTTP Basic
//! (legacy host, keys `username`, `password`). Errors arrive in the body with HTTP 200. Pages with
//! `page_no` / `per_page` until a page is empty, or brings nothing new (a gateway that ignores
//! paging).
//!
//! Why r2: the only captured `getLeases` response
//! (`../shared/vendor-samples/entrata/getLeases-r2-response-property739084-93-leases.json`) was
//! produced by r2, whose leases embed `customers.customer[]`; Entrata's published r1 lease is flat
//! (no customers), so an r1 reader would find nobody. The request body follows the capturing
//! client (`entrata/request-examples-and-notes.txt`): string flags, one `propertyId` per call.
//!
//! Past the last page: no capture shows what r2 answers there. Any of the plausible answers — an
//! empty `leases` list, a result without `leases`, or an error saying nothing was found — ends the
//! listing after page 1; on page 1 the last of these fails the property (a wrong property ID says
//! the same thing, and must not read as "nobody lives here").

pub mod map;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::domain::Resident;
use crate::http::{HttpClient, RateLimit};
use crate::pms::provider::{BaseUrl, Config, Descriptor, PropertyIds};
use crate::pms::{PmsError, PmsSource, join_url};

/// Conservative default: Entrata limits per web service and credential per minute, hour and day.
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(60);
pub const DESCRIPTOR: Descriptor = Descriptor {
    provider: crate::api::PmsProvider::Entrata,
    secret_keys: &[&["apiKey"], &["username", "password"]],
    base_url: BaseUrl::Required("the organisation's API base"),
    default_limit: DEFAULT_LIMIT,
    property_ids: PropertyIds::Digits,
    property_ids_are: "Entrata property IDs",
};
const PER_PAGE: usize = 500;
const MAX_PAGES: usize = 400;
/// Every lease status (Cancelled, Applicant, Future, Current, Notice, Past): without it Entrata
/// omits cancelled leases, and a status must be seen to be acted on.
const ALL_LEASE_STATUSES: &str = "1,2,3,4,5,6";
/// The `getLeases` version whose response shape the captures show (see the module docs).
pub const METHOD_VERSION: &str = "r2";

enum Auth {
    ApiKey(String),
    Basic { username: String, password: String },
}

pub struct Entrata {
    http: HttpClient,
    base_url: String,
    auth: Auth,
    request_id: AtomicU64,
}

impl Entrata {
    /// A connector for a checked configuration ([`DESCRIPTOR`]): an API key, else Basic.
    pub fn new(config: Config, http: HttpClient) -> Self {
        let c = &config.credentials;
        let auth = if c.has("apiKey") {
            Auth::ApiKey(c.get("apiKey").to_string())
        } else {
            Auth::Basic { username: c.get("username").to_string(), password: c.get("password").to_string() }
        };
        Self { http, base_url: config.base_url.to_string(), auth, request_id: AtomicU64::new(1) }
    }

    async fn page(&self, property_id: &str, page_no: usize) -> Result<Page, PmsError> {
        let url = join_url(&self.base_url, "leases");
        let request_id = self.request_id.fetch_add(1, Ordering::Relaxed).to_string();
        let auth_type = match self.auth {
            Auth::ApiKey(_) => "apikey",
            Auth::Basic { .. } => "basic",
        };
        let body = json!({
            "auth": {"type": auth_type},
            "requestId": request_id,
            "method": {"name": "getLeases", "version": METHOD_VERSION, "params": {
                "propertyId": property_id, "leaseStatusTypeIds": ALL_LEASE_STATUSES, "includeOtherIncomeLeases": "0",
                "residentFriendlyMode": "0", "includeLeaseHistory": "0", "includeArTransactions": "0"}}
        });
        let page = page_no.to_string();
        let per_page = PER_PAGE.to_string();
        let response = self
            .http
            .send(|c| {
                let request = c.post(&url).query(&[("page_no", &page), ("per_page", &per_page)]).json(&body);
                match &self.auth {
                    Auth::ApiKey(key) => request.header("X-Api-Key", key),
                    Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
                }
            })
            .await?;
        if let Some(error) = PmsError::from_status(response.status()) {
            return Err(error);
        }
        let document: Value = super::read_json(&self.http, response, "getLeases").await?;
        leases(document)
    }
}

/// One `getLeases` answer.
#[derive(Debug)]
pub(crate) enum Page {
    Leases(Vec<Value>),
    /// An error saying there is nothing (more) to list: the end past page 1, a failure on page 1.
    NothingFound(PmsError),
}

/// The leases of a `getLeases` response document, or the error it carries in its 200 body.
pub(crate) fn leases(document: Value) -> Result<Page, PmsError> {
    let reply = &document["response"];
    if !reply["error"].is_null() {
        let error = body_error(&reply["error"]);
        let message = map::text(&reply["error"]["message"]).unwrap_or_default().to_ascii_lowercase();
        let nothing = ["no lease", "no record", "not found", "no data", "no result"];
        let says_nothing_found = nothing.iter().any(|w| message.contains(w));
        return if says_nothing_found && !matches!(error, PmsError::Unauthorized { .. }) {
            Ok(Page::NothingFound(error))
        } else {
            Err(error)
        };
    }
    let result = &reply["result"];
    if result.is_null() {
        return Err(PmsError::InvalidResponse("getLeases returned neither a result nor an error".into()));
    }
    Ok(Page::Leases(map::list(result, "leases", "lease").into_iter().cloned().collect()))
}

/// An error in a 200 body. The message may echo request data, so only its code is kept, and the
/// message is only looked at to recognise rejected credentials.
fn body_error(error: &Value) -> PmsError {
    let code = map::text(&error["code"]).as_deref().and_then(crate::http::vendor_code);
    let message = map::text(&error["message"]).unwrap_or_default().to_ascii_lowercase();
    let auth = ["auth", "api key", "apikey", "credential", "password", "unauthori", "forbidden"];
    if auth.iter().any(|w| message.contains(w)) {
        return PmsError::Unauthorized { status: code.as_deref().and_then(|c| c.parse().ok()).unwrap_or(401) };
    }
    PmsError::Rejected {
        status: 200,
        code: Some(format!("Entrata error {}", code.unwrap_or_else(|| "without code".into()))),
    }
}

impl PmsSource for Entrata {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut residents = super::People::default();
        let mut pages = super::paging::Pages::new("getLeases", MAX_PAGES);
        let mut page_no = 0;
        loop {
            page_no += 1;
            pages.next(page_no)?;
            let leases = match self.page(property_id, page_no).await? {
                Page::Leases(leases) => leases,
                Page::NothingFound(error) if page_no == 1 => return Err(error),
                Page::NothingFound(_) => return residents.finish("getLeases"),
            };
            let received = leases.len();
            let mut new = 0;
            for lease in &leases {
                // A gateway that ignores paging sends the same leases again: stop there.
                match map::text(&lease["id"]) {
                    Some(id) => {
                        if seen.insert(id) {
                            new += 1;
                            for row in map::lease_residents(property_id, lease) {
                                residents.push(row);
                            }
                        }
                    }
                    // A lease without an ID cannot be told from the next page's: its people count
                    // as unidentified.
                    None => residents.push(Some(Err(super::MissingId))),
                }
            }
            super::check_rows(residents.len(), "getLeases")?;
            // A gateway may return fewer than `per_page` (its own cap) without it being the last
            // page: only an empty page, or one with nothing new, ends the listing.
            if received == 0 || new == 0 {
                return residents.finish("getLeases");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::SecretData;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use wiremock::matchers::{body_partial_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn connector(server: &MockServer) -> Entrata {
        let secret = SecretData::new("s", BTreeMap::from([("apiKey".to_string(), "k".to_string())]));
        let http = HttpClient::new("entrata", Default::default(), Metrics::default());
        let uri = server.uri();
        Entrata::new(DESCRIPTOR.check(Some(&uri), &[], &secret).unwrap(), http)
    }

    fn leases(ids: &[u32]) -> serde_json::Value {
        let lease = |id: &u32| {
            json!({"id": id.to_string(), "leaseIntervalStatus": "Current",
            "customers": {"customer": [{"id": id * 10, "firstName": "A", "leaseCustomerStatus": "Current"}]}})
        };
        json!({"response": {"code": 200, "result": {"leases": {"lease": ids.iter().map(lease).collect::<Vec<_>>()}}}})
    }

    #[tokio::test]
    async fn a_gateway_that_ignores_paging_is_read_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/leases"))
            .and(header("x-api-key", "k"))
            .respond_with(ResponseTemplate::new(200).set_body_json(leases(&[1, 2, 3])))
            .mount(&server)
            .await;
        let residents = connector(&server).list_residents("1").await.unwrap();
        assert_eq!(residents.len(), 3);
        assert_eq!(server.received_requests().await.unwrap().len(), 2, "one page, then one that brings nothing new");
    }

    #[tokio::test]
    async fn errors_in_200_bodies_are_told_apart() {
        let server = MockServer::start().await;
        let error = |code: u32, message: &str| json!({"response": {"error": {"code": code, "message": message}}});
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(error(113, "Authorization failed")))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(error(500, "Internal error for Jane Doe")))
            .mount(&server)
            .await;
        let c = connector(&server);
        assert!(matches!(c.list_residents("1").await, Err(PmsError::Unauthorized { .. })));
        let other = c.list_residents("1").await.unwrap_err();
        assert!(
            matches!(&other, PmsError::Rejected { code: Some(code), .. } if code == "Entrata error 500"),
            "{other}"
        );
        assert!(!other.to_string().contains("Jane"), "vendor messages may carry personal data");
    }

    #[tokio::test]
    async fn asks_for_r2_and_ends_on_any_plausible_answer_past_the_last_page() {
        let past_the_end = [
            json!({"response": {"code": 200, "result": {"leases": {"lease": []}}}}),
            json!({"response": {"code": 200, "result": {}}}),
            json!({"response": {"code": 200, "result": {"leases": []}}}),
            json!({"response": {"error": {"code": 301, "message": "No leases found."}}}),
        ];
        for answer in past_the_end {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(query_param("page_no", "2"))
                .respond_with(ResponseTemplate::new(200).set_body_json(answer.clone()))
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(query_param("page_no", "1"))
                .and(body_partial_json(json!({"method": {"name": "getLeases", "version": "r2"}})))
                .respond_with(ResponseTemplate::new(200).set_body_json(leases(&[1, 2])))
                .mount(&server)
                .await;
            let residents = connector(&server).list_residents("1").await;
            assert_eq!(residents.map(|r| r.len()).ok(), Some(2), "{answer}");
        }
        // The same "nothing found" on page 1 is no empty building.
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"response": {"error": {"code": 301, "message": "No leases found."}}})),
            )
            .mount(&server)
            .await;
        assert!(matches!(connector(&server).list_residents("1").await, Err(PmsError::Rejected { .. })));
    }
}

//! AppFolio connector (docs/connectors.md#appfolio): Reports API v2, `POST <baseUrl>/api/v2/reports/
//! tenant_directory.json` with HTTP Basic (`clientId`:`clientSecret`), then `POST` each
//! `next_page_url` with the JSON body `{}` until it is null. About 7 requests per 15 s, page links
//! not counted. `baseUrl` is the customer's `https://<database>.appfolio.com`.
//!
//! Evidence (`../shared/vendor-samples/appfolio/`): integrators POST page links with `{}` and
//! `Content-Type: application/json` (an empty POST gets 406 on some stacks); every body is JSON.
//! No `tenant_directory` row was ever captured: the columns read are those the 14 captured reports
//! share (`tenant_id`, `tenant_name` as "Last , First M.", labelled `phone_numbers`, ISO dates,
//! `property_id` as number or string), plus the directory's own names where they differ (see
//! `map.rs`); a column that is absent is tolerated, a person without an ID fails the property.

pub mod map;

use serde_json::{Value, json};

use crate::domain::Resident;
use crate::http::{HttpClient, RateLimit};
use crate::pms::provider::{BaseUrl, Config, Descriptor, PropertyIds};
use crate::pms::{PmsError, PmsSource, join_url};

pub const SECRET_KEYS: [&str; 2] = ["clientId", "clientSecret"];
pub const DEFAULT_LIMIT: RateLimit = RateLimit { calls: 7, per: std::time::Duration::from_secs(15) };
const MAX_PAGES: usize = 1000;
pub const DESCRIPTOR: Descriptor = Descriptor {
    provider: crate::api::PmsProvider::Appfolio,
    secret_keys: &[&SECRET_KEYS],
    base_url: BaseUrl::Required("https://<database>.appfolio.com"),
    default_limit: DEFAULT_LIMIT,
    property_ids: PropertyIds::Any,
    property_ids_are: "AppFolio property IDs",
};

pub struct Appfolio {
    http: HttpClient,
    base_url: reqwest::Url,
    client_id: String,
    client_secret: String,
}

impl Appfolio {
    /// A connector for a checked configuration ([`DESCRIPTOR`]).
    pub fn new(config: Config, http: HttpClient) -> Self {
        let Config { base_url, credentials } = config;
        let (client_id, client_secret) = (credentials.get("clientId").into(), credentials.get("clientSecret").into());
        Self { http, base_url, client_id, client_secret }
    }

    /// POSTs `body` as JSON (`Content-Type: application/json`); page links get `{}`.
    async fn post(&self, url: &str, body: &Value, counted: bool) -> Result<Value, PmsError> {
        let build = |c: &reqwest::Client| c.post(url).basic_auth(&self.client_id, Some(&self.client_secret)).json(body);
        let response = if counted { self.http.send(build).await? } else { self.http.send_uncounted(build).await? };
        if let Some(error) = PmsError::from_status(response.status()) {
            return Err(error);
        }
        super::read_json(&self.http, response, "the tenant directory").await
    }
}

/// The rows of one page of the tenant directory.
pub(crate) fn rows(page: &Value) -> Result<&Vec<Value>, PmsError> {
    page["results"]
        .as_array()
        .ok_or_else(|| PmsError::InvalidResponse("the tenant directory has no results list".into()))
}

impl PmsSource for Appfolio {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        let body = json!({
            "property_visibility": "all",
            "tenant_visibility": "all",
            "tenant_types": ["all"],
            // Current, Past, Future, Evict, Notice: every status, so that each can be acted on.
            "tenant_statuses": ["0", "1", "2", "3", "4"],
            "properties": {"properties_ids": [property_id]},
            "paginate_results": true,
        });
        let url = join_url(self.base_url.as_str(), "api/v2/reports/tenant_directory.json");
        // A link seen before would loop: the listing cannot be read to its end.
        let mut pages = super::paging::Pages::new("the tenant directory", MAX_PAGES);
        pages.next(url.clone())?;
        let mut page = self.post(&url, &body, true).await?;
        let mut residents = super::People::default();
        loop {
            for row in rows(&page)? {
                residents.push(map::resident(property_id, row));
            }
            super::check_rows(residents.len(), "the tenant directory")?;
            let Some(link) = page["next_page_url"].as_str().filter(|l| !l.is_empty()) else {
                return residents.finish("the tenant directory");
            };
            let url = super::same_origin(&self.base_url, link, "next_page_url")?.to_string();
            pages.next(url.clone())?;
            page = self.post(&url, &json!({}), false).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::SecretData;
    use crate::http::RateLimiter;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use wiremock::matchers::{body_string, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn connector(server: &MockServer, limit: RateLimit) -> Appfolio {
        let secret = SecretData::new(
            "s",
            BTreeMap::from([
                ("clientId".to_string(), "id".to_string()),
                ("clientSecret".to_string(), "secret".to_string()),
            ]),
        );
        let http = HttpClient::new("appfolio", Default::default(), Metrics::default())
            .with_limiter(Arc::new(RateLimiter::new(limit)));
        let uri = server.uri();
        Appfolio::new(DESCRIPTOR.check(Some(&uri), &[], &secret).unwrap(), http)
    }

    #[tokio::test]
    async fn follows_next_page_urls_outside_the_rate_limit() {
        let server = MockServer::start().await;
        let row = |id: u32| json!({"selected_tenant_id": id, "property_id": 17, "status": "Current"});
        let report = "/api/v2/reports/tenant_directory.json";
        Mock::given(method("POST"))
            .and(path(report))
            .and(query_param("page", "2"))
            .and(body_string("{}"))
            .and(header("content-type", "application/json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [row(2)], "next_page_url": null})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(report))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"results": [row(1)], "next_page_url": format!("{report}?page=2")})),
            )
            .mount(&server)
            .await;
        // One counted call per hour: the page link must not wait for the budget.
        let c = connector(&server, RateLimit { calls: 1, per: std::time::Duration::from_secs(3600) });
        let residents = tokio::time::timeout(std::time::Duration::from_secs(10), c.list_residents("17"))
            .await
            .expect("no wait")
            .unwrap();
        assert_eq!(residents.iter().map(|r| r.person_id.as_str()).collect::<Vec<_>>(), ["1", "2"]);
    }

    #[tokio::test]
    async fn a_page_link_that_repeats_makes_the_property_incomplete() {
        let server = MockServer::start().await;
        let report = "/api/v2/reports/tenant_directory.json";
        // Page 2 links back to page 2: the listing never ends, and is not taken as complete.
        Mock::given(method("POST"))
            .and(path(report))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "results": [{"selected_tenant_id": 1, "property_id": 17, "status": "Current"}],
                "next_page_url": format!("{report}?page=2"),
            })))
            .mount(&server)
            .await;
        let c = connector(&server, RateLimit::per_minute(1000));
        let err = c.list_residents("17").await.unwrap_err();
        assert!(matches!(&err, PmsError::Incomplete(m) if m.contains("repeated")), "{err}");
        assert_eq!(server.received_requests().await.unwrap().len(), 2, "stopped at the first repeat");
    }

    #[tokio::test]
    async fn refuses_page_links_to_another_host() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"results": [], "next_page_url": "https://attacker.example/steal"})),
            )
            .mount(&server)
            .await;
        let c = connector(&server, DEFAULT_LIMIT);
        assert!(matches!(c.list_residents("17").await, Err(PmsError::InvalidResponse(_))));
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

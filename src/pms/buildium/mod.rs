//! Buildium Open API v1 connector (docs/connectors.md#buildium; `../shared/vendor-specs/buildium-openapi.json`).
//!
//! Auth: headers `x-buildium-client-id` / `x-buildium-client-secret` from Secret keys `clientId` /
//! `clientSecret`. Per property: `GET /v1/leases` and `GET /v1/leases/tenants` with
//! `propertyids`, `offset` and `limit` (≤ 1000), paged until `X-Total-Count` is reached.
//!
//! Incremental reads add `lastupdatedfrom` (UTC, `YYYY-MM-DDTHH:MM:SSZ`, "updated on or after")
//! to both listings. A changed lease names tenants whose own records did not change: those the
//! lease's `CurrentTenants` do not carry are read one by one (`GET /v1/leases/tenants/{id}`), up
//! to [`MAX_SINGLE_READS`]; past that the property is read in full. The properties of one
//! incremental run are read together (`propertyids` repeated, as the spec's `explode: true` says):
//! a quiet run costs two requests whatever the number of properties.

pub mod api;
pub mod map;

use serde::de::DeserializeOwned;

use crate::domain::Resident;
use crate::http::{HttpClient, RateLimit};
use crate::pms::provider::{BaseUrl, Config, Descriptor, PropertyIds};
use crate::pms::{Listing, PmsError, PmsSource, join_url};

pub const DEFAULT_BASE_URL: &str = "https://api.buildium.com";
/// Integrators throttle Buildium to 10 requests/s; stay well below.
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(300);
pub const SECRET_KEYS: [&str; 2] = ["clientId", "clientSecret"];
pub const DESCRIPTOR: Descriptor = Descriptor {
    provider: crate::api::PmsProvider::Buildium,
    secret_keys: &[&SECRET_KEYS],
    base_url: BaseUrl::Default(DEFAULT_BASE_URL),
    default_limit: DEFAULT_LIMIT,
    property_ids: PropertyIds::PositiveInt,
    property_ids_are: "Buildium property IDs",
};
/// The API's maximum page size.
const PAGE_SIZE: usize = 1000;
/// A property with more pages than this is treated as a misbehaving server, not read forever.
const MAX_PAGES: usize = 1000;
/// Tenants an incremental read fetches one by one before reading the property in full instead.
pub const MAX_SINGLE_READS: usize = 100;

pub struct Buildium {
    http: HttpClient,
    base_url: String,
    client_id: String,
    client_secret: String,
}

impl Buildium {
    /// A connector for a checked configuration ([`DESCRIPTOR`]).
    pub fn new(config: Config, http: HttpClient) -> Self {
        Self {
            http,
            base_url: config.base_url.to_string(),
            client_id: config.credentials.get("clientId").to_string(),
            client_secret: config.credentials.get("clientSecret").to_string(),
        }
    }

    /// `GET path` with the credentials and `query`, its error statuses mapped.
    async fn get(&self, url: &str, query: &[(&str, &str)]) -> Result<reqwest::Response, PmsError> {
        let response = self
            .http
            .send(|c| {
                c.get(url)
                    .header("x-buildium-client-id", &self.client_id)
                    .header("x-buildium-client-secret", &self.client_secret)
                    .query(query)
            })
            .await?;
        match PmsError::from_status(response.status()) {
            None => Ok(response),
            // Buildium names the rejection in its body: the code is kept (never the message).
            Some(PmsError::Rejected { status, .. }) => {
                let error = self.http.json::<api::ApiErrorResponse>(response).await.ok();
                let code = error.and_then(|e| e.error_code);
                Err(PmsError::Rejected { status, code: code.as_deref().and_then(crate::http::vendor_code) })
            }
            Some(error) => Err(error),
        }
    }

    /// Reads every page of a property listing (`since`: only records updated at or after it),
    /// with the vendor's clock at the first page.
    async fn list_all<T: DeserializeOwned + api::Identified>(
        &self,
        path: &'static str,
        property_ids: &[&str],
        since: Option<&str>,
    ) -> Result<(Vec<T>, Option<jiff::Timestamp>), PmsError> {
        let url = join_url(&self.base_url, path);
        let mut items: Vec<T> = Vec::new();
        let mut clock = None;
        let mut seen = std::collections::HashSet::new();
        let mut pages = super::paging::Pages::new(path, MAX_PAGES);
        loop {
            pages.next(items.len())?;
            let offset = items.len().to_string();
            let limit = PAGE_SIZE.to_string();
            let mut query: Vec<(&str, &str)> = property_ids.iter().map(|id| ("propertyids", *id)).collect();
            query.extend([("offset", offset.as_str()), ("limit", limit.as_str())]);
            query.extend(since.map(|since| ("lastupdatedfrom", since)));
            let response = self.get(&url, &query).await?;
            if items.is_empty() {
                clock = clock.or(super::vendor_clock(&response));
            }
            let total = response
                .headers()
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            let page: Vec<T> = super::read_json(&self.http, response, path).await?;
            let received = page.len();
            // A record seen on an earlier page means the pages shifted or repeated: some other
            // record was skipped, so the listing cannot be trusted to be complete.
            if let Some(id) = page.iter().filter_map(|r| r.record_id()).find(|id| !seen.insert(*id)) {
                return Err(PmsError::Incomplete(format!(
                    "{path} returned record {id} twice (paging is inconsistent)"
                )));
            }
            items.extend(page);
            super::check_rows(items.len(), path)?;
            match total {
                // Never assume a full page: keep going until the advertised total is reached.
                Some(total) if items.len() >= total => return Ok((items, clock)),
                Some(total) if received == 0 => {
                    return Err(PmsError::Incomplete(format!(
                        "{path} advertised {total} records but returned {}",
                        items.len()
                    )));
                }
                Some(_) => {}
                None if received < PAGE_SIZE => return Ok((items, clock)),
                None => {}
            }
        }
    }
}

impl Buildium {
    /// Leases and tenants of properties, all of them or those updated since `since`.
    async fn read_listings(
        &self,
        property_ids: &[&str],
        since: Option<&str>,
    ) -> Result<(Vec<api::LeaseMessage>, Vec<api::TenantMessage>, Option<jiff::Timestamp>), PmsError> {
        let (leases, clock) = self.list_all("/v1/leases", property_ids, since).await?;
        let (tenants, _) = self.list_all("/v1/leases/tenants", property_ids, since).await?;
        Ok((leases, tenants, clock))
    }

    /// Adds the tenants that `property_ids`' changed leases name with access but neither the
    /// listings nor the leases carry, read one by one; `false` (nothing read) past
    /// [`MAX_SINGLE_READS`].
    async fn complete(
        &self,
        property_ids: &[&str],
        leases: &[api::LeaseMessage],
        tenants: &mut Vec<api::TenantMessage>,
    ) -> Result<bool, PmsError> {
        let missing: std::collections::BTreeSet<i64> =
            property_ids.iter().flat_map(|id| map::missing_tenants(id, leases, tenants)).collect();
        if missing.len() > MAX_SINGLE_READS {
            return Ok(false);
        }
        for tenant_id in missing {
            tenants.push(self.tenant(tenant_id).await?);
        }
        Ok(true)
    }

    /// `GET /v1/leases/tenants/{tenantId}`.
    async fn tenant(&self, tenant_id: i64) -> Result<api::TenantMessage, PmsError> {
        let url = join_url(&self.base_url, &format!("/v1/leases/tenants/{tenant_id}"));
        let response = self.get(&url, &[]).await?;
        super::read_json(&self.http, response, "/v1/leases/tenants/{tenantId}").await
    }
}

impl PmsSource for Buildium {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        Ok(self.read(property_id, None).await?.residents)
    }

    fn reads_changes(&self) -> bool {
        true
    }

    async fn read(&self, property_id: &str, since: Option<jiff::Timestamp>) -> Result<Listing, PmsError> {
        let since = since.map(filter_time);
        let (leases, mut tenants, clock) = self.read_listings(&[property_id], since.as_deref()).await?;
        if since.is_some() && !self.complete(&[property_id], &leases, &mut tenants).await? {
            let (leases, tenants, _) = self.read_listings(&[property_id], None).await?;
            return Ok(Listing { residents: map::residents(property_id, &leases, &tenants)?, clock });
        }
        Ok(Listing { residents: map::residents(property_id, &leases, &tenants)?, clock })
    }

    async fn read_together(
        &self,
        property_ids: &[String],
        since: jiff::Timestamp,
    ) -> Option<Result<Vec<Listing>, PmsError>> {
        let ids: Vec<&str> = property_ids.iter().map(String::as_str).collect();
        let read = async {
            let (leases, mut tenants, clock) = self.read_listings(&ids, Some(&filter_time(since))).await?;
            // A lease without its property cannot be told apart in a read of several properties.
            let embedded = tenants.iter().flat_map(|t| t.leases.iter().flatten());
            if leases.iter().chain(embedded).any(|l| l.property_id.is_none()) {
                return Err(PmsError::Incomplete("a lease without PropertyId".into()));
            }
            if !self.complete(&ids, &leases, &mut tenants).await? {
                return Err(PmsError::Incomplete("too many changed leases to read their tenants one by one".into()));
            }
            ids.iter().map(|id| Ok(Listing { residents: map::residents(id, &leases, &tenants)?, clock })).collect()
        };
        Some(read.await)
    }
}

/// A time as Buildium's filters take it: UTC, `YYYY-MM-DDTHH:MM:SSZ` (the second, rounded down:
/// "on or after" then includes the whole second).
fn filter_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::SecretData;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn a_page_that_repeats_a_record_makes_the_property_incomplete() {
        let server = MockServer::start().await;
        let page = |body: &str| ResponseTemplate::new(200).insert_header("X-Total-Count", "2").set_body_string(body);
        // A server that ignores the offset: the second page repeats the first, and lease 2 is
        // never seen. Taking the listing as complete would deprovision lease 2's residents.
        Mock::given(method("GET"))
            .and(path("/v1/leases"))
            .respond_with(page(r#"[{"Id": 1, "PropertyId": 7, "LeaseStatus": "Active"}]"#))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/leases/tenants"))
            .and(query_param("offset", "0"))
            .respond_with(page("[]"))
            .mount(&server)
            .await;
        let secret = SecretData::new(
            "b",
            BTreeMap::from([("clientId".into(), "id".into()), ("clientSecret".into(), "secret".into())]),
        );
        let http = HttpClient::new("buildium", Default::default(), Metrics::default());
        let uri = server.uri();
        let buildium = Buildium::new(DESCRIPTOR.check(Some(&uri), &[], &secret).unwrap(), http);
        let err = buildium.list_residents("7").await.unwrap_err();
        assert!(matches!(&err, PmsError::Incomplete(m) if m.contains("returned record 1 twice")), "{err}");
    }
}

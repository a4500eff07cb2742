//! The Buildium connector and the Buildium fake held to Buildium's own OpenAPI spec
//! (`../shared/vendor-specs/buildium-openapi.json`) in both directions: the connector reads every
//! property through a Prism proxy in front of the fake, which validates each request the connector
//! sends (paths, query parameters, the `x-buildium-client-*` headers) and each response the fake
//! answers (schemas, required fields, formats). A violation fails the call and is logged.

mod support;

use std::collections::BTreeMap;

use pms_sync::api::PmsProvider;
use pms_sync::credentials::SecretData;
use pms_sync::http::{HttpClient, RateLimiter};
use pms_sync::metrics::Metrics;
use pms_sync::pms::{Connector, ConnectorOptions, PmsSource};
use support::buildium_fake::{BuildiumFake, ControlledFake};
use support::prism::{self, Prism};
use support::{BUILDIUM_ID, BUILDIUM_SECRET, dataset};

fn connector(base_url: &str) -> Connector {
    let secret = SecretData::new(
        "buildium",
        BTreeMap::from([
            ("clientId".to_string(), BUILDIUM_ID.to_string()),
            ("clientSecret".to_string(), BUILDIUM_SECRET.to_string()),
        ]),
    );
    let http = HttpClient::new("buildium", Default::default(), Metrics::default());
    let ids = ["101".to_string(), "102".to_string()];
    let options = ConnectorOptions {
        provider: PmsProvider::Buildium,
        base_url: Some(base_url),
        property_ids: &ids,
        max_requests_per_minute: Some(6000),
    };
    let config = pms_sync::pms::check(&options, &secret).unwrap();
    Connector::new(config, http, &|limit| std::sync::Arc::new(RateLimiter::new(limit)))
}

/// The standard dataset's Buildium fake (pages of at most `max_page`) behind a Prism proxy of the
/// spec, logging to `<temp>/<name>-<pid>/prism.log`: (directory, log, fake, proxy).
async fn behind_prism(name: &str, max_page: usize) -> (std::path::PathBuf, std::path::PathBuf, BuildiumFake, Prism) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("prism.log");
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    fake.set_max_page(max_page);
    let proxy = Prism::proxy(&prism::spec("buildium-openapi.json"), &fake.url(), &log).await;
    (dir, log, fake, proxy)
}

#[tokio::test]
async fn the_connector_asks_and_the_fake_answers_as_buildiums_spec_says() {
    // Several pages, so paging parameters are checked too.
    let (dir, log, fake, proxy) = behind_prism("buildium-contract", 2).await;

    let (direct, through) = (connector(&fake.url()), connector(&proxy.url));
    for property in ["101", "102"] {
        let expected = direct.list_residents(property).await.unwrap();
        let got = match through.list_residents(property).await {
            Ok(got) => got,
            Err(e) => {
                let last = fake.requests().last().cloned().unwrap_or_default();
                let why = reqwest::Client::new()
                    .get(format!("{}{last}", proxy.url))
                    .header("x-buildium-client-id", BUILDIUM_ID)
                    .header("x-buildium-client-secret", BUILDIUM_SECRET)
                    .send()
                    .await
                    .ok()
                    .and_then(|r| r.headers().get("sl-violations").map(|v| v.to_str().unwrap_or("?").to_string()));
                panic!("property {property} through Prism: {e}\n{last}: {why:?}")
            }
        };
        assert!(!got.is_empty());
        assert_eq!(got, expected, "property {property}");
    }
    drop(proxy);
    let violations = prism::violations(&log);
    assert!(violations.is_empty(), "Prism found violations:\n{}", violations.join("\n"));
    let forwarded = std::fs::read_to_string(&log).unwrap().matches("Forwarding").count();
    assert!(forwarded >= 4, "leases and tenants of both properties went through Prism ({forwarded})");
    assert!(fake.requests().iter().any(|r| r.contains("offset=")), "{:?}", fake.requests());
    let _ = std::fs::remove_dir_all(&dir);
}

/// An incremental read (`lastupdatedfrom`) through Prism: the filter is sent as the spec formats
/// it, the fake answers only records updated since, and the connector reads one by one only the
/// tenants a changed lease names with access whose records did not change (`GET
/// /v1/leases/tenants/{tenantId}`, its answer validated too).
#[tokio::test]
async fn an_incremental_read_asks_for_and_gets_only_what_changed() {
    let (dir, log, fake, proxy) = behind_prism("buildium-incremental", 1000).await;
    let through = connector(&proxy.url);
    let full = through.read("101", None).await.unwrap();
    assert_eq!(full.residents.len(), 6);
    let clock = full.clock.expect("the fake's Date header is the vendor's clock");
    assert!(clock.duration_since(jiff::Timestamp::now()).abs() < jiff::SignedDuration::from_secs(60));

    // The filter has one-second resolution: changes stamped after this second are "since".
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let since = jiff::Timestamp::now();
    fake.update(|d| {
        // José moves out (lease 1 changes; Zoë, on it too, is in its CurrentTenants);
        d.tenant_mut(2).for_each(|t| t.status = "MovedOut".into());
        // Mei's future lease is extended (lease 2 changes; her own record does not);
        d.lease_mut(2).unwrap().to = Some("2027-06-30".into());
        // Ørjan has a new phone (his record changes; lease 4, embedded, names Rémi, moved out).
        d.tenant_mut(6).for_each(|t| t.phones = vec![("555-0666".into(), "Cell".into())]);
    });
    let before = fake.requests().len();
    let changed = through.read("101", Some(since)).await.unwrap();
    let mut people: Vec<&str> = changed.residents.iter().map(|r| r.person_id.as_str()).collect();
    people.sort();
    assert_eq!(people, ["1", "2", "3", "5", "6"], "lease 1's two, lease 2's Mei, lease 4's two");
    let mei = changed.residents.iter().find(|r| r.person_id == "3").unwrap();
    assert_eq!(mei.emails, ["mei@example.org"], "read one by one, with her contact details");
    let requests = &fake.requests()[before..];
    let stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().replace(':', "%3A");
    let listings: Vec<&String> = requests.iter().filter(|r| r.contains("propertyids=")).collect();
    assert_eq!(listings.len(), 2, "{requests:?}");
    assert!(listings.iter().all(|r| r.contains(&format!("lastupdatedfrom={stamp}"))), "{requests:?}");
    let singles: Vec<&String> = requests.iter().filter(|r| !r.contains("propertyids=")).collect();
    assert_eq!(singles, ["/v1/leases/tenants/3?"], "{requests:?}");

    // Both properties at once (`propertyids` repeated): the same changes, none at 102.
    let before = fake.requests().len();
    let both = ["101".to_string(), "102".to_string()];
    let together = through.read_together(&both, since).await.expect("buildium reads together").unwrap();
    let people = |l: &pms_sync::pms::Listing| {
        let mut ids: Vec<String> = l.residents.iter().map(|r| r.person_id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        (people(&together[0]), people(&together[1]).len()),
        (vec!["1", "2", "3", "5", "6"].into_iter().map(String::from).collect(), 0)
    );
    assert_eq!(fake.requests().len() - before, 3, "two listings and Mei: {:?}", &fake.requests()[before..]);

    // Nothing changed since: one request per listing, nobody.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let quiet = through.read("101", Some(jiff::Timestamp::now())).await.unwrap();
    assert!(quiet.residents.is_empty());

    drop(proxy);
    let violations = prism::violations(&log);
    assert!(violations.is_empty(), "Prism found violations:\n{}", violations.join("\n"));
    // The fake refuses a filter in any other format, as the spec requires.
    let refused = reqwest::Client::new()
        .get(format!("{}/v1/leases?propertyids=101&lastupdatedfrom=2026-11-30", fake.url()))
        .header("x-buildium-client-id", BUILDIUM_ID)
        .header("x-buildium-client-secret", BUILDIUM_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let _ = std::fs::remove_dir_all(&dir);
}

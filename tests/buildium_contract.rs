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

#[tokio::test]
async fn the_connector_asks_and_the_fake_answers_as_buildiums_spec_says() {
    let dir = std::env::temp_dir().join(format!("buildium-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("prism.log");
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    fake.set_max_page(2); // several pages, so paging parameters are checked too
    let proxy = Prism::proxy(&prism::spec("buildium-openapi.json"), &fake.url(), &log).await;

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

//! What a run costs in requests for a 10,000-resident, 10-property Buildium building synced to
//! scim2-server: a first full run, a full run with nothing to do, an incremental run with no
//! change, and one with 10 changed residents. The Buildium fake counts PMS requests; the
//! controller's own metrics count SCIM requests. Runs the library's sync (no apiserver: requests
//! do not depend on it) against the real test environment's scim2-server
//! (`scripts/bench-incremental.sh`); figures in BENCHMARKS.md.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pms_sync::api::PmsProvider;
use pms_sync::credentials::SecretData;
use pms_sync::destination::Target;
use pms_sync::destination::scim::Scim;
use pms_sync::domain::{DeprovisionMode, Policy, Scope};
use pms_sync::http::{HttpClient, RateLimiter};
use pms_sync::metrics::Metrics;
use pms_sync::pms::{Connector, ConnectorOptions};
use pms_sync::sync::{self, Incremental, SyncConfig};
use support::buildium_fake::{BuildiumFake, ControlledFake, Dataset};
use support::*;

const PROPERTIES: i64 = 10;
const PER_PROPERTY: i64 = 1000;

fn building() -> Dataset {
    Dataset { properties: (1..=PROPERTIES).map(|p| support::load_bed::building(p, PER_PROPERTY as usize)).collect() }
}

fn config(ids: &[String], incremental: Option<Incremental>) -> SyncConfig {
    SyncConfig {
        scope: Scope::new("bench", "building"),
        property_ids: ids.to_vec(),
        policy: Policy::default(),
        mode: DeprovisionMode::Deactivate,
        max_percent: 100,
        approval: None,
        dry_run: false,
        fetch_concurrency: 4,
        write_concurrency: 8,
        deadline: None,
        retention: None,
        only_properties: None,
        incremental,
        watermark_overlap: sync::DEFAULT_WATERMARK_OVERLAP,
        time_zone: None,
        now: jiff::Timestamp::now(),
    }
}

/// The bed: the fake, the connector, the destination and the metrics that count its requests.
struct Bed {
    fake: BuildiumFake,
    scim: ScimServer,
    metrics: Metrics,
    connector: Connector,
    credentials: pms_sync::credentials::Credentials,
}

impl Bed {
    /// One run with `config`, printed as a line of the table.
    async fn measure(&self, name: &str, config: SyncConfig) -> sync::SyncReport {
        let http = HttpClient::new("scim", Default::default(), self.metrics.clone());
        // A destination client per run, as the controller builds one per reconcile.
        let target = Target::Scim(Box::new(Scim::new(&self.scim.url(), &self.credentials, http)));
        let (pms_before, scim_before) = (self.fake.requests().len(), api_calls(&self.metrics, "scim"));
        let started = Instant::now();
        let report = sync::run(&self.connector, &target, &config).await;
        let c = report.counts;
        assert!(report.fatal.is_none() && report.write_errors.is_empty(), "{name}: {report:?}");
        println!(
            "{name:<36} {:>12} {:>13} {:>7} {:>8.1}",
            self.fake.requests().len() - pms_before,
            api_calls(&self.metrics, "scim") - scim_before,
            c.created + c.updated + c.deprovisioned,
            started.elapsed().as_secs_f64()
        );
        report
    }
}

#[tokio::main]
async fn main() {
    let fake = BuildiumFake::start(building(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let metrics = Metrics::default();
    let ids: Vec<String> = (1..=PROPERTIES).map(|p| p.to_string()).collect();
    let pms_secret = SecretData::new(
        "buildium",
        BTreeMap::from([("clientId".into(), BUILDIUM_ID.into()), ("clientSecret".into(), BUILDIUM_SECRET.into())]),
    );
    let url = fake.url();
    let options = ConnectorOptions {
        provider: PmsProvider::Buildium,
        base_url: Some(&url),
        property_ids: &ids,
        max_requests_per_minute: Some(1_000_000),
    };
    let http = HttpClient::new("buildium", Default::default(), metrics.clone());
    let limiter = |limit| std::sync::Arc::new(RateLimiter::new(limit));
    let connector = Connector::new(pms_sync::pms::check(&options, &pms_secret).unwrap(), http, &limiter);
    let scim_secret = SecretData::new("scim", BTreeMap::from([("token".into(), SCIM_TOKEN.into())]));
    let credentials = scim_secret.take(&pms_sync::destination::scim::SECRET_KEYS).unwrap();
    let bed = Bed { fake, scim: ScimServer::full().await, metrics, connector, credentials };

    let residents = PROPERTIES * PER_PROPERTY;
    println!("{residents} residents in {PROPERTIES} properties; Buildium fake and scim2-server on loopback");
    println!("{:<36} {:>12} {:>13} {:>7} {:>8}", "run", "PMS requests", "SCIM requests", "writes", "seconds");
    let first = bed.measure("full, first (creates everyone)", config(&ids, None)).await;
    assert_eq!(first.counts.created, residents as u64);
    bed.measure("full, nothing changed", config(&ids, None)).await;

    // Watermarks after the last change: the fake's stamps from the runs above fall before them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = jiff::Timestamp::now();
    let since = || Incremental { since: ids.iter().map(|id| (id.clone(), now)).collect(), building: residents as u64 };
    let quiet = bed.measure("incremental, nothing changed", config(&ids, Some(since()))).await;
    assert_eq!(quiet.counts.fetched, 0);

    // 10 residents change, one per property: 5 move out, 5 get a new last name.
    bed.fake.update(|d| {
        for p in 1..=PROPERTIES {
            let id = p * 100_000 + 7;
            d.tenant_mut(id).for_each(|t| {
                if p % 2 == 0 {
                    t.status = "MovedOut".into();
                } else {
                    t.last_name = format!("N{id}");
                }
            });
        }
    });
    let changed = bed.measure("incremental, 10 residents changed", config(&ids, Some(since()))).await;
    assert_eq!((changed.counts.updated, changed.counts.deprovisioned), (5, 5));
}

//! A small load bed in CI (issue 17): 50 integrations in 5 namespaces, two vendor hosts (Buildium
//! fakes, one account each, enforcing 10 requests a second), scim2-server, the controller binary
//! as its own process on the real apiserver. The full-size figures are `benches/load.rs`
//! (`scripts/load-bed.sh`, BENCHMARKS.md "Scale").

mod support;

use std::time::Duration;

use support::buildium_fake::{ControlledFake, Fault};
use support::load_bed::{Bed, Shape, parse_request_totals, status_writes};

const INTEGRATIONS: usize = 50;
const RESIDENTS: usize = 20;

#[tokio::test]
async fn fifty_integrations_share_their_vendors_budgets_and_a_slow_vendor_holds_only_its_share() {
    let client = support::client().await;
    let shape = Shape {
        integrations: INTEGRATIONS,
        namespaces: 5,
        residents: RESIDENTS,
        hosts: 2,
        host_budget_per_second: 10,
        // 80% of the vendor's budget: the margin for requests that leave on time and arrive
        // bunched on a machine busy with the rest of the suite.
        max_requests_per_minute: 480,
        fast_scim: false,
    };
    let mut bed = Bed::build(client, shape).await;
    let binary = env!("CARGO_BIN_EXE_pms-sync");
    bed.start_controller(binary, &["--concurrency", "8", "--host-concurrency", "2"]);

    // Every integration syncs. Each account's 25 integrations share its one budget: without
    // that, 25 limiters of 8 requests a second each would burst far past the vendor's 10.
    let took = bed.wait_all_ready(1, Duration::from_secs(240)).await;
    eprintln!("all {INTEGRATIONS} Ready in {took:?}; PMS traffic {:?}", bed.pms());
    for (host, counts) in bed.pms().iter().enumerate() {
        assert_eq!(counts.throttled, 0, "host {host} answered 429s: {counts:?}");
        // Two syncs at a time per host, each with at most two reads in flight.
        assert!(counts.peak_in_flight <= 4, "host {host}: {counts:?}");
    }
    assert_eq!(bed.scim_users().await, INTEGRATIONS * RESIDENTS);
    let runs = bed.runs().await;
    assert_eq!(runs, INTEGRATIONS, "one run each");
    // Counted by a watch of the bed's integrations: the apiserver's own totals count every test's.
    let writes = bed.writes();
    assert!(writes > 0 && writes <= runs as u64, "{writes} status writes for {runs} runs");

    // One vendor host turns slow (2 s an answer). Restarted with every integration due at once,
    // the controller gives it two of its eight workers: the other host's integrations all sync
    // while the slow one's are still under way.
    bed.stop_controller();
    let slow = &bed.hosts[0];
    for k in (0..INTEGRATIONS).filter(|k| k % 2 == 0) {
        slow.set_fault(k as i64 + 1, Some(Fault::Slow(Duration::from_secs(2))));
    }
    bed.make_all_due().await;
    bed.reset_peaks();
    bed.start_controller(binary, &["--concurrency", "8", "--host-concurrency", "2", "--startup-spread-seconds", "0"]);
    let fast_done = |integrations: &[pms_sync::api::PmsIntegration], host: usize| {
        integrations
            .iter()
            .filter(|i| {
                let k: usize = i.metadata.name.as_deref().unwrap().trim_start_matches("building-").parse().unwrap();
                k % 2 == host && i.status.as_ref().is_some_and(|s| s.history.len() >= 2)
            })
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let integrations = bed.integrations().await;
        if fast_done(&integrations, 1) == INTEGRATIONS / 2 {
            let slow_done = fast_done(&integrations, 0);
            eprintln!("the fast host's integrations all synced again; the slow host's: {slow_done}");
            assert!(slow_done < INTEGRATIONS / 2, "the slow host finished first ({slow_done})");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the fast host's integrations did not all sync");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let slow_peak = bed.pms()[0].peak_in_flight;
    assert!(slow_peak <= 4, "the slow host held more than its two workers: {slow_peak} requests in flight");
    let took = bed.wait_all_ready(2, Duration::from_secs(240)).await;
    eprintln!("all synced again {took:?} after the fast host's; PMS traffic {:?}", bed.pms());
    let (writes, runs) = (bed.writes(), bed.runs().await);
    assert!(writes <= runs as u64, "{writes} status writes for {runs} runs");
    bed.stop_controller();
    bed.delete().await;
}

#[test]
fn apiserver_request_totals_are_summed_by_verb_and_resource() {
    let text = r#"
apiserver_request_total{code="200",component="apiserver",dry_run="",group="pmssync.io",resource="pmsintegrations",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 5
apiserver_request_total{code="409",component="apiserver",dry_run="",group="pmssync.io",resource="pmsintegrations",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="pmssync.io",resource="pmsintegrations",scope="resource",subresource="status",verb="APPLY",version="v1alpha1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 7
"#;
    let counts = parse_request_totals(text);
    assert_eq!(counts["PATCH pmsintegrations/status"], 6);
    assert_eq!(status_writes(&counts), 9);
    assert_eq!(counts["GET secrets"], 7);
}

//! The load bed at full size (issue 17, BENCHMARKS.md "Scale"), run by `scripts/load-bed.sh`:
//!
//! - `fleet` (default): N integrations × R residents in M namespaces on H vendor hosts: the time
//!   until all are Ready, memory, idle CPU, apiserver and PMS requests per minute, the peak
//!   requests in flight per host and 429s; then a restart with every integration due.
//! - `building`: one integration of R residents: first and no-op sync time against the fakes'
//!   own time to answer the same requests, and memory per resident.
//!
//! The controller is the release binary, a process of its own on the test apiserver; the fakes
//! live in this process. Options: `--integrations N --namespaces M --residents R --hosts H
//! --idle-seconds S --scim fast|scim2-server --mode fleet|building`, and controller flags after
//! `--controller`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams};
use pms_sync::api::{PmsIntegration, REQUESTED_AT_ANNOTATION};
use support::load_bed::{Bed, Shape, since, status_writes};

struct Options {
    mode: String,
    shape: Shape,
    idle: Duration,
    controller: Vec<String>,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut o = Options {
        mode: "fleet".into(),
        shape: Shape {
            integrations: 1000,
            namespaces: 10,
            residents: 100,
            hosts: 4,
            host_budget_per_second: 10,
            max_requests_per_minute: 540,
            fast_scim: true,
        },
        idle: Duration::from_secs(120),
        controller: Vec::new(),
    };
    while let Some(flag) = args.next() {
        if flag == "--controller" {
            o.controller = args.by_ref().collect();
            break;
        }
        let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || value.parse::<usize>().unwrap_or_else(|_| panic!("{flag} {value}: not a number"));
        match flag.as_str() {
            "--mode" => o.mode = value.clone(),
            "--integrations" => o.shape.integrations = number(),
            "--namespaces" => o.shape.namespaces = number(),
            "--residents" => o.shape.residents = number(),
            "--hosts" => o.shape.hosts = number(),
            "--idle-seconds" => o.idle = Duration::from_secs(number() as u64),
            "--scim" => o.shape.fast_scim = value != "scim2-server",
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn per_minute(count: u64, over: Duration) -> f64 {
    count as f64 * 60.0 / over.as_secs_f64().max(1e-3)
}

fn print_requests(title: &str, requests: &BTreeMap<String, u64>, over: Duration) {
    let total: u64 = requests.values().sum();
    println!("{title}: {total} in {:.0} s ({:.0}/min)", over.as_secs_f64(), per_minute(total, over));
    for (what, n) in requests {
        println!("    {what:<40} {n:>7}  ({:.1}/min)", per_minute(*n, over));
    }
}

/// PMS requests sampled every second (time, count so far) while `bed` works towards its runs: the
/// busiest minute, and requests per 10-second bucket.
struct Pace {
    samples: Vec<(Duration, u64)>,
}

impl Pace {
    /// The most requests in any 60 s between samples.
    fn busiest_minute(&self) -> u64 {
        let minute = Duration::from_secs(60);
        let mut busiest = 0;
        for (i, (start, at_start)) in self.samples.iter().enumerate() {
            let end = self.samples[i..].iter().take_while(|(t, _)| *t <= *start + minute).last();
            busiest = busiest.max(end.map_or(0, |(_, n)| n - at_start));
        }
        busiest
    }

    /// Requests in each `width` from the start (each sample's increase counted in its bucket).
    fn buckets(&self, width: Duration) -> Vec<u64> {
        let mut buckets: Vec<u64> = Vec::new();
        for pair in self.samples.windows(2) {
            let ((_, before), (t, n)) = (pair[0], pair[1]);
            let index = (t.as_secs_f64() / width.as_secs_f64()) as usize;
            if buckets.len() <= index {
                buckets.resize(index + 1, 0);
            }
            buckets[index] += n - before;
        }
        buckets
    }
}

async fn until_ready(bed: &Bed, runs: usize) -> (Duration, Pace, u64) {
    let started = std::time::Instant::now();
    let mut samples = vec![(Duration::ZERO, bed.pms_requests())];
    let mut peak_rss = 0;
    let waiting = bed.wait_all_ready(runs, Duration::from_secs(3600));
    tokio::pin!(waiting);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let took = loop {
        tokio::select! {
            took = &mut waiting => break took,
            _ = ticker.tick() => {
                samples.push((started.elapsed(), bed.pms_requests()));
                peak_rss = peak_rss.max(bed.usage().rss_kib);
            }
        }
    };
    samples.push((started.elapsed(), bed.pms_requests()));
    (took, Pace { samples }, peak_rss)
}

/// Each host's requests and 429s since `before`, and its peak in flight since the last reset.
fn print_hosts(bed: &Bed, before: &[pms_sync_fakes::traffic::Counts]) {
    for (host, (counts, earlier)) in bed.pms().iter().zip(before).enumerate() {
        println!(
            "    host {host}: {} requests, peak {} in flight, {} answered 429",
            counts.requests - earlier.requests,
            counts.peak_in_flight,
            counts.throttled - earlier.throttled
        );
    }
}

async fn fleet(mut bed: Bed, o: &Options) {
    let binary = env!("CARGO_BIN_EXE_pms-sync");
    let controller: Vec<&str> = o.controller.iter().map(String::as_str).collect();
    let s = &o.shape;
    println!(
        "{} integrations × {} residents in {} namespaces, {} vendor hosts (each one account, {} requests/s enforced), maxRequestsPerMinute {}, SCIM: {}",
        s.integrations,
        s.residents,
        s.namespaces,
        s.hosts,
        s.host_budget_per_second,
        s.max_requests_per_minute,
        if s.fast_scim { "fast fake" } else { "scim2-server" }
    );
    println!("controller: release binary, flags {controller:?}");

    let before = bed.apiserver_requests().await;
    let hosts_before = bed.pms();
    bed.start_controller(binary, &controller);
    let (took, pace, peak_rss) = until_ready(&bed, 1).await;
    let after = bed.apiserver_requests().await;
    let runs = bed.runs().await;
    let pms = bed.pms_requests();
    println!("\n== cold start: every integration Ready in {:.1} s", took.as_secs_f64());
    println!(
        "  PMS requests: {pms} ({:.0}/min on average, busiest minute {})",
        per_minute(pms, took),
        pace.busiest_minute()
    );
    print_hosts(&bed, &hosts_before);
    if let Some(scim) = bed.scim_requests() {
        println!("  SCIM requests: {scim}; users: {}", bed.scim_users().await);
    }
    let usage = bed.usage();
    println!("  controller RSS: peak {:.1} MiB (sampled {:.1} MiB)", mib(usage.peak_rss_kib), mib(peak_rss));
    let during = since(&before, &after);
    let writes = bed.writes();
    println!(
        "  status writes: {writes} for {runs} runs ({:.2} per run; the apiserver counted {} status writes)",
        writes as f64 / runs.max(1) as f64,
        status_writes(&during)
    );
    print_requests("  apiserver requests", &during, took);

    let idle_from = bed.usage();
    let idle_before = bed.apiserver_requests().await;
    let pms_before = bed.pms_requests();
    tokio::time::sleep(o.idle).await;
    let idle_to = bed.usage();
    let idle_after = bed.apiserver_requests().await;
    let cpu = idle_to.cpu_seconds - idle_from.cpu_seconds;
    println!("\n== idle for {} s (hourly interval, nothing due)", o.idle.as_secs());
    println!(
        "  CPU: {cpu:.2} s ({:.1} s per hour); RSS {:.1} MiB steady (peak so far {:.1} MiB); PMS requests {}",
        cpu * 3600.0 / o.idle.as_secs_f64(),
        mib(idle_to.rss_kib),
        mib(idle_to.peak_rss_kib),
        bed.pms_requests() - pms_before
    );
    print_requests("  apiserver requests", &since(&idle_before, &idle_after), o.idle);

    bed.stop_controller();
    bed.make_all_due().await;
    bed.reset_peaks();
    let before = bed.apiserver_requests().await;
    let pms_before = bed.pms_requests();
    let hosts_before = bed.pms();
    let writes_before = bed.writes();
    bed.start_controller(binary, &controller);
    let (took, pace, _) = until_ready(&bed, 2).await;
    let during = since(&before, &bed.apiserver_requests().await);
    let runs = bed.runs().await;
    println!("\n== restart with every integration due: all synced again in {:.1} s", took.as_secs_f64());
    println!(
        "  PMS requests: {} (busiest minute {}); per 10 s from the start: {:?}",
        bed.pms_requests() - pms_before,
        pace.busiest_minute(),
        pace.buckets(Duration::from_secs(10))
    );
    print_hosts(&bed, &hosts_before);
    let writes = bed.writes() - writes_before;
    println!("  status writes: {writes} for {} runs", runs - s.integrations);
    print_requests("  apiserver requests", &during, took);
    println!("  controller RSS: {:.1} MiB, peak {:.1} MiB", mib(bed.usage().rss_kib), mib(bed.usage().peak_rss_kib));
}

async fn building(mut bed: Bed, o: &Options) {
    let binary = env!("CARGO_BIN_EXE_pms-sync");
    let controller: Vec<&str> = o.controller.iter().map(String::as_str).collect();
    let residents = o.shape.residents;
    println!(
        "one building of {residents} residents (Buildium fake, SCIM: {}), controller flags {controller:?}",
        if o.shape.fast_scim { "fast fake" } else { "scim2-server" }
    );
    bed.start_controller(binary, &controller);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_rss = bed.usage().rss_kib;
    let busy = |bed: &Bed| bed.pms()[0].busy + bed.scim_busy();
    let requests = |bed: &Bed| (bed.pms_requests(), bed.scim_requests().unwrap_or(0));
    let mut rows = Vec::new();
    for (run, label) in [(1, "first sync (creates everyone)"), (2, "no-op sync (full read, nothing to change)")] {
        let (busy_before, (pms_before, scim_before)) = (busy(&bed), requests(&bed));
        if run == 2 {
            let integration = &bed.integrations().await[0];
            let api: Api<PmsIntegration> =
                Api::namespaced(bed.client.clone(), integration.metadata.namespace.as_deref().unwrap());
            let patch = serde_json::json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: format!("load-{}", jiff::Timestamp::now())}}});
            api.patch(integration.metadata.name.as_deref().unwrap(), &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
        let (took, _, peak) = until_ready(&bed, run).await;
        let history = bed.integrations().await[0].status.clone().unwrap().history;
        let duration = history.first().map_or(took.as_secs_f64(), |h| h.duration_ms as f64 / 1000.0);
        let fakes = (busy(&bed) - busy_before).as_secs_f64();
        let (pms, scim) = requests(&bed);
        rows.push((label, duration, fakes, pms - pms_before, scim - scim_before, peak));
    }
    println!("run                                          sync s  fakes' own s  ratio  PMS req  SCIM req");
    for (label, duration, fakes, pms, scim, _) in &rows {
        println!("{label:<44} {duration:>6.2} {fakes:>13.2} {:>6.2} {pms:>8} {scim:>9}", duration / fakes.max(1e-6));
    }
    let peak = bed.usage().peak_rss_kib;
    println!(
        "controller RSS: {:.1} MiB before the first sync, peak {:.1} MiB: {:.2} KiB per resident",
        mib(base_rss),
        mib(peak),
        peak.saturating_sub(base_rss) as f64 / residents as f64
    );
}

#[tokio::main]
async fn main() {
    let o = options();
    let client = support::client().await;
    let mut shape = o.shape.clone();
    if o.mode == "building" {
        shape.integrations = 1;
        shape.namespaces = 1;
        shape.hosts = 1;
    }
    let bed = Bed::build(client, shape).await;
    let namespaces = bed.namespaces.clone();
    match o.mode.as_str() {
        "building" => building(bed, &o).await,
        _ => fleet(bed, &o).await,
    }
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(support::client().await);
    for ns in namespaces {
        let _ = api.delete(&ns, &Default::default()).await;
    }
}

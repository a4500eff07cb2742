//! Planning benchmark: residents → desired users → plan, against as many existing users.
//!
//!     cargo bench --bench plan            # 1k, 10k, 100k (BENCHMARKS.md)
//!
//! Reports residents per second of one planning pass (single-threaded, as in the controller) and
//! the memory it allocates beyond its inputs, per resident, measured by a counting allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pms_sync::domain::{
    DeprovisionMode, ManagedUser, Phone, PhoneKind, Policy, Resident, ResidentStatus, Scope, desired_users, plan,
};

/// Counts live and peak heap bytes over mimalloc, the allocator the `pms-sync` binary uses.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { mimalloc::MiMalloc.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn resident(i: usize) -> Resident {
    let status = match i % 20 {
        0 => ResidentStatus::Future,
        1 => ResidentStatus::Past,
        2 => ResidentStatus::Notice,
        _ => ResidentStatus::Current,
    };
    let mut r = Resident::new(&format!("{}", 1000 + i % 10), &format!("{}", 700_000 + i), status.as_str(), status);
    r.unit = Some(format!("{}", 100 + i % 400));
    r.first_name = format!("Given{i}");
    r.last_name = format!("Family{i}");
    r.emails = vec![format!("resident{i}@example.org")];
    r.phones = vec![Phone { number: format!("555-{:07}", i), kind: PhoneKind::Mobile }];
    r
}

/// Existing users: the previous run's result, with 5% changed, 5% vanished from the PMS since, and
/// 5% of residents new.
fn inputs(n: usize) -> (Vec<Resident>, Vec<ManagedUser>) {
    let scope = Scope::new("acme", "harbor");
    let residents: Vec<Resident> = (0..n).map(resident).collect();
    let previous: Vec<Resident> = (0..n).map(|i| if i % 20 == 5 { resident(n + i) } else { resident(i) }).collect();
    let desired = desired_users(&scope, previous, &Policy::default());
    let managed = desired
        .users
        .into_iter()
        .enumerate()
        .map(|(k, mut record)| {
            if k % 20 == 7 {
                record.phones[0].number.push('9');
            }
            ManagedUser { id: format!("{k:032x}"), record }
        })
        .collect();
    (residents, managed)
}

struct Measure {
    n: usize,
    best: Duration,
    /// Peak heap allocated by planning beyond its inputs.
    extra_bytes: usize,
    /// Peak heap of inputs and planning together.
    total_bytes: usize,
    actions: usize,
}

fn measure(n: usize, rounds: usize) -> Measure {
    let scope = Scope::new("acme", "harbor");
    let policy = Policy::default();
    let failed = BTreeSet::new();
    let mut best = Duration::MAX;
    let mut extra_bytes = 0;
    let mut total_bytes = 0;
    let mut actions = 0;
    for _ in 0..rounds {
        let empty = LIVE.load(Ordering::Relaxed);
        let (residents, managed) = inputs(n);
        let baseline = LIVE.load(Ordering::Relaxed);
        PEAK.store(baseline, Ordering::Relaxed);
        let start = Instant::now();
        let desired = desired_users(&scope, residents, &policy);
        let plan = plan(&scope, desired, managed, &failed, DeprovisionMode::Deactivate);
        let elapsed = start.elapsed();
        extra_bytes = extra_bytes.max(PEAK.load(Ordering::Relaxed) - baseline);
        total_bytes = total_bytes.max(PEAK.load(Ordering::Relaxed) - empty);
        actions = plan.actions.len();
        black_box(&plan);
        best = best.min(elapsed);
    }
    Measure { n, best, extra_bytes, total_bytes, actions }
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a list of sizes.
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1_000, 3_000, 10_000, 30_000, 100_000] } else { sizes };
    println!("planning residents against as many existing users (best of 5, one thread)");
    println!(
        "{:>9} {:>11} {:>12} {:>15} {:>16} {:>8}",
        "residents", "time", "residents/s", "planning B/res", "with inputs B/res", "actions"
    );
    let mut previous: Option<Measure> = None;
    for n in sizes {
        let m = measure(n, 5);
        let rate = m.n as f64 / m.best.as_secs_f64();
        print!(
            "{:>9} {:>11} {:>12.0} {:>15.0} {:>16.0} {:>8}",
            m.n,
            format!("{:.2?}", m.best),
            rate,
            m.extra_bytes as f64 / m.n as f64,
            m.total_bytes as f64 / m.n as f64,
            m.actions
        );
        if let Some(p) = &previous {
            let growth = m.best.as_secs_f64() / p.best.as_secs_f64();
            print!("   ×{:.1} time for ×{:.1} residents", growth, m.n as f64 / p.n as f64);
        }
        println!();
        previous = Some(m);
    }
}

//! What a fake's callers cost it, counted at the fake (never from the caller's own metrics): the
//! requests received, how many were in flight at most, and how many were refused with 429. The
//! load bed (`benches/load.rs`) reads these to report requests per minute and peak concurrency per
//! vendor host.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;

/// Counters of one fake's traffic.
#[derive(Default, Debug)]
pub struct Traffic {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    requests: AtomicU64,
    throttled: AtomicU64,
    /// Time spent answering, summed over requests (nanoseconds).
    busy_nanos: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests received so far.
    pub requests: u64,
    /// Most requests in flight at once so far.
    pub peak_in_flight: usize,
    /// Responses with status 429 so far.
    pub throttled: u64,
    /// Time the fake spent answering, summed over requests: its own cost of serving them.
    pub busy: std::time::Duration,
}

impl Traffic {
    pub fn counts(&self) -> Counts {
        Counts {
            requests: self.requests.load(Ordering::SeqCst),
            peak_in_flight: self.peak.load(Ordering::SeqCst),
            throttled: self.throttled.load(Ordering::SeqCst),
            busy: std::time::Duration::from_nanos(self.busy_nanos.load(Ordering::SeqCst)),
        }
    }

    /// Starts counting the peak afresh (from the requests in flight now).
    pub fn reset_peak(&self) {
        self.peak.store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// `app`, with every request counted in `traffic`.
pub fn counted(app: Router, traffic: Arc<Traffic>) -> Router {
    app.layer(middleware::from_fn_with_state(traffic, count))
}

async fn count(State(traffic): State<Arc<Traffic>>, request: Request, next: Next) -> Response {
    traffic.requests.fetch_add(1, Ordering::SeqCst);
    let now = traffic.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    traffic.peak.fetch_max(now, Ordering::SeqCst);
    // Counted out even when the caller hangs up mid-request (the future is dropped).
    let _leaving = Leaving(&traffic.in_flight);
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    traffic.busy_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::SeqCst);
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        traffic.throttled.fetch_add(1, Ordering::SeqCst);
    }
    response
}

struct Leaving<'a>(&'a AtomicUsize);

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

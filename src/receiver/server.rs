//! The receiver's HTTP server: a connection loop over hyper with every resource bounded, because
//! the receiver faces the network from the process that holds every building's syncs.
//!
//! `axum::serve` sets no header-read timeout (hyper's default needs a timer it is not given), no
//! body-read timeout and no connection limit: thousands of clients trickling a header byte every
//! few seconds stayed open indefinitely, at about 28 KiB each. Here:
//! - at most [`Limits::max_connections`] connections are open at once. At the limit, a new
//!   connection evicts the oldest one still waiting for its headers (a slow or silent client:
//!   every real sender's headers arrive within milliseconds), so a flood cannot keep a signed
//!   webhook out; only when every connection is a request under way is the newcomer closed;
//! - a connection must send its headers within [`Limits::header_timeout`] and get its whole
//!   request read and answered within [`Limits::request_timeout`] (408 past it), and it is closed
//!   after one request: a connection lives at most about `request_timeout`;
//! - headers are read into at most [`MAX_HEADER_BUFFER`]: larger ones are refused.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::task::AbortHandle;

/// What one receiver may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once (see the module's eviction rule).
    pub max_connections: usize,
    /// From the connection's start to the end of its request headers.
    pub header_timeout: Duration,
    /// From the connection's start to the end of the answer (the body is read inside it).
    pub request_timeout: Duration,
}

/// The default of `--receiver-max-connections`: webhooks are small and rare (at most 60
/// accepted a minute per integration); at about 30 KiB a connection this is under 8 MiB.
pub const DEFAULT_MAX_CONNECTIONS: u16 = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: usize::from(DEFAULT_MAX_CONNECTIONS),
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// hyper's read buffer per connection (its default is ~400 KiB): request lines and headers
/// past it are refused. A webhook's headers are a few hundred bytes.
pub const MAX_HEADER_BUFFER: usize = 16 * 1024;

/// Serves `router` on `listener` within `limits` until `shutdown` resolves. Connections under way
/// then finish (each within `request_timeout`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(
        addr = %listener.local_addr()?,
        max_connections = limits.max_connections,
        "serving webhook receivers"
    );
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(false)
        .max_buf_size(MAX_HEADER_BUFFER);
    let builder = Arc::new(builder);
    let mut open = Open::new(limits.max_connections);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %error, "receiver cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !open.make_room() {
            // Every connection is a request under way: this one is closed unanswered.
            drop(stream);
            continue;
        }
        let requested = Arc::new(AtomicBool::new(false));
        let service = TowerToHyperService::new(router.clone());
        let timeout = limits.request_timeout;
        let in_request = requested.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            // Its headers are in: a real request, never evicted from here on.
            in_request.store(true, Ordering::SeqCst);
            let answer = hyper::service::Service::call(&service, request);
            async move {
                let answer = tokio::time::timeout(timeout, answer).await;
                Ok::<Response, std::convert::Infallible>(match answer {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timeout\n").into_response(),
                })
            }
        });
        let builder = builder.clone();
        let task = tokio::spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            // The request timeout answers a slow body; this ends a connection that will not
            // even take its answer.
            let _ = tokio::time::timeout(timeout + Duration::from_secs(1), connection).await;
        });
        open.push(task.abort_handle(), requested);
    }
}

/// The open connections, oldest first.
struct Open {
    max: usize,
    connections: VecDeque<(AbortHandle, Arc<AtomicBool>)>,
}

impl Open {
    fn new(max: usize) -> Self {
        Open { max: max.max(1), connections: VecDeque::new() }
    }

    /// Makes room for one more connection: forgets finished ones, then at the limit ends the
    /// oldest one still waiting for its headers. False when every open connection is a request
    /// under way.
    fn make_room(&mut self) -> bool {
        self.connections.retain(|(task, _)| !task.is_finished());
        if self.connections.len() < self.max {
            return true;
        }
        match self.connections.iter().position(|(_, requested)| !requested.load(Ordering::SeqCst)) {
            Some(oldest) => {
                if let Some((task, _)) = self.connections.remove(oldest) {
                    task.abort();
                }
                true
            }
            None => false,
        }
    }

    fn push(&mut self, task: AbortHandle, requested: Arc<AtomicBool>) {
        self.connections.push_back((task, requested));
    }
}

//! The one outbound HTTP client every connector and destination uses.
//!
//! - every call has a connect and a total timeout;
//! - transient failures (timeouts, connection errors, 429, 500/502/503/504) are retried with
//!   exponential backoff and full jitter, and `Retry-After` (seconds or HTTP date) is honoured;
//! - other statuses are returned to the caller, which knows the vendor's error body;
//! - redirects are never followed: reqwest would carry custom credential headers and re-post
//!   bodies holding passwords to the next host; a 3xx is an error naming the status only;
//! - no body is read whole without a cap ([`HttpSettings::max_body_bytes`]): a vendor streaming
//!   hundreds of megabytes fails its call, not the pod;
//! - nothing about a request is logged but its method, host, path and status: queries, headers
//!   and bodies can hold credentials or personal data.
//!
//! reqwest has no retry policy of its own and the retry middlewares do not honour `Retry-After`
//! for every status we need, so the loop lives here, small and tested.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

use crate::metrics::Metrics;

/// Timeouts and retry bounds for outbound calls.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Attempts per call, including the first.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for in-process; the call fails as
    /// transient and the controller's own backoff takes over.
    pub max_retry_after: Duration,
    /// Largest response body read, in bytes; a larger one fails the call (`BodyTooLarge`).
    pub max_body_bytes: usize,
}

/// Default body cap: far above any real page (a 1,000-row page is a few MB; a Yardi property of
/// 10,000 residents in one response about 10 MB), and within the chart's memory limit (512 MiB)
/// with every worker reading one at once: 4 integrations × 2 fetches × (16 MiB + its parse).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Cap on an error body, read only for its code.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Why an outbound call produced no usable response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("request timed out after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    #[error("could not connect after {attempts} attempt(s)")]
    Connect { attempts: u32 },
    #[error("request failed: {0}")]
    Request(String),
    #[error("HTTP {status} after {attempts} attempt(s)")]
    Exhausted { status: u16, attempts: u32 },
    /// A 3xx: not followed, since the credentials of the request would travel with it.
    #[error("HTTP {status} redirect not followed (redirects would carry credentials to another address)")]
    Redirected { status: u16 },
    #[error("response body larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("response body could not be read ({0})")]
    Body(&'static str),
}

/// A reqwest client plus the retry policy and metrics, labelled by the system it talks to.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: HttpSettings,
    target: &'static str,
    metrics: Metrics,
    limiter: Option<Arc<RateLimiter>>,
}

/// A vendor's request budget: at most `calls` requests in any window of `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub calls: u32,
    pub per: Duration,
}

impl RateLimit {
    pub const fn per_minute(calls: u32) -> Self {
        Self { calls, per: Duration::from_secs(60) }
    }
}

/// A limiter shared by every run of every integration of one vendor account
/// (`controller::budgets`), so back-to-back runs and neighbouring buildings stay inside the
/// vendor's budget together.
///
/// Requests are spaced evenly, one every `per / calls`, never in bursts: a budget of 540 a minute
/// is 9 a second, so it also keeps within a vendor that counts per second (the load bed showed a
/// per-minute window letting a minute's budget out in the first second, and 429s following).
/// Each caller reserves the next free moment and waits for it: first come, first served.
#[derive(Debug)]
pub struct RateLimiter {
    limit: std::sync::Mutex<RateLimit>,
    /// The earliest moment of the next request.
    next: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Set when the vendor said its budget is spent (`X-RateLimit-Remaining: 0`).
    paused_until: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// The account's limiter, when this one is one integration's share of it: a request waits
    /// for its share first, then for the account.
    parent: Option<Arc<RateLimiter>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit: std::sync::Mutex::new(limit),
            next: Default::default(),
            paused_until: Default::default(),
            parent: None,
        }
    }

    /// One integration's share (`limit`) of the account limiter `parent`.
    pub fn share_of(parent: Arc<RateLimiter>, limit: RateLimit) -> Self {
        Self { parent: Some(parent), ..Self::new(limit) }
    }

    /// Changes the budget from the next reservation on.
    pub fn set_limit(&self, limit: RateLimit) {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner()) = limit;
    }

    /// No request before `until` (the vendor's own reset time): the vendor counts the account,
    /// so the account's limiter pauses too.
    pub fn pause_until(&self, until: tokio::time::Instant) {
        {
            let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            *paused = Some(paused.map_or(until, |p| p.max(until)));
        }
        if let Some(parent) = &self.parent {
            parent.pause_until(until);
        }
    }

    /// Whether no request was reserved within the last window (dropping the limiter loses
    /// nothing).
    pub fn idle(&self) -> bool {
        let per = self.limit().per;
        let next = *self.next.lock().unwrap_or_else(|e| e.into_inner());
        next.is_none_or(|next| tokio::time::Instant::now() >= next + per)
    }

    pub fn limit(&self) -> RateLimit {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the next free moment of the budget, reserving it.
    pub async fn acquire(&self) {
        let paused = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = paused {
            tokio::time::sleep_until(until).await;
        }
        let limit = self.limit();
        let spacing = limit.per / limit.calls.max(1);
        let slot = {
            let now = tokio::time::Instant::now();
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + spacing);
            slot
        };
        tokio::time::sleep_until(slot).await;
        if let Some(parent) = &self.parent {
            Box::pin(parent.acquire()).await;
        }
    }
}

impl HttpClient {
    pub fn new(target: &'static str, settings: HttpSettings, metrics: Metrics) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("pms-sync/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client with static settings always builds");
        Self { client, settings, target, metrics, limiter: None }
    }

    /// Every attempt of [`send`](Self::send) first waits for `limiter`.
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Sends the request built by `build` (called once per attempt), retrying transient failures.
    /// Returns the first non-retryable response, whatever its status.
    pub async fn send(&self, build: impl Fn(&reqwest::Client) -> RequestBuilder) -> Result<Response, HttpError> {
        self.send_inner(build, true, is_retryable, true).await
    }

    /// For a request that must not run twice (a create without idempotency key): retries only
    /// what the server cannot have acted on (429, a refused connection). A timeout or a 5xx is
    /// returned, so the caller can look before it tries again.
    pub async fn send_once(&self, build: impl Fn(&reqwest::Client) -> RequestBuilder) -> Result<Response, HttpError> {
        self.send_inner(build, true, |s| s == StatusCode::TOO_MANY_REQUESTS, false).await
    }

    /// Like [`send`](Self::send) for SOAP: a 500 carries a SOAP fault the caller must read, so
    /// only 429, 502, 503 and 504 are retried.
    pub async fn send_soap(&self, build: impl Fn(&reqwest::Client) -> RequestBuilder) -> Result<Response, HttpError> {
        self.send_inner(build, true, |s| is_retryable(s) && s != StatusCode::INTERNAL_SERVER_ERROR, true).await
    }

    /// Like [`send`](Self::send), outside the rate limit (for calls a vendor does not count, such
    /// as AppFolio's `next_page_url`).
    pub async fn send_uncounted(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, HttpError> {
        self.send_inner(build, false, is_retryable, true).await
    }

    async fn send_inner(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        counted: bool,
        retryable: impl Fn(StatusCode) -> bool,
        idempotent: bool,
    ) -> Result<Response, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let (true, Some(limiter)) = (counted, &self.limiter) {
                limiter.acquire().await;
            }
            let request = build(&self.client).build().map_err(|e| HttpError::Request(redact(&e)))?;
            let (method, host, path) = (
                request.method().clone(),
                request.url().host_str().unwrap_or_default().to_string(),
                request.url().path().to_string(),
            );
            let result = self.client.execute(request).await;
            let last = attempt >= self.settings.max_attempts;
            let delay = match result {
                Ok(response) => {
                    let status = response.status();
                    self.metrics.record_api_call(self.target, status_class(Some(status)));
                    tracing::debug!(target: "pms_sync::http", %method, %host, %path, status = status.as_u16(), attempt, "outbound call");
                    if status.is_redirection() {
                        return Err(HttpError::Redirected { status: status.as_u16() });
                    }
                    if !retryable(status) {
                        // A vendor announcing its budget is spent (Entrata and others send limit
                        // headers): the next call of this integration waits for the reset.
                        if let (Some(limiter), Some(wait)) =
                            (&self.limiter, budget_spent(response.headers(), jiff::Timestamp::now()))
                        {
                            limiter.pause_until(tokio::time::Instant::now() + wait.min(self.settings.max_retry_after));
                        }
                        return Ok(response);
                    }
                    let wait = retry_after(&response).unwrap_or_else(|| self.backoff(attempt));
                    if last || wait > self.settings.max_retry_after {
                        return Err(HttpError::Exhausted { status: status.as_u16(), attempts: attempt });
                    }
                    wait
                }
                Err(err) => {
                    self.metrics.record_api_call(self.target, status_class(None));
                    tracing::debug!(target: "pms_sync::http", %method, %host, %path, attempt, error = %redact(&err), "outbound call failed");
                    // A request that timed out may have been carried out: only an idempotent one is
                    // sent again. A refused connection never reached the server.
                    let resendable = err.is_connect() || (idempotent && (err.is_timeout() || err.is_request()));
                    if last || !resendable {
                        return Err(if err.is_timeout() {
                            HttpError::Timeout { attempts: attempt }
                        } else if err.is_connect() {
                            HttpError::Connect { attempts: attempt }
                        } else {
                            HttpError::Request(redact(&err))
                        });
                    }
                    self.backoff(attempt)
                }
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// The response's body, read chunk by chunk up to [`HttpSettings::max_body_bytes`]: a
    /// declared or actual larger body is refused before it is held in memory.
    pub async fn body(&self, response: Response) -> Result<Vec<u8>, HttpError> {
        read_capped(response, self.settings.max_body_bytes).await
    }

    /// [`body`](Self::body) as UTF-8 text (invalid sequences replaced).
    pub async fn text(&self, response: Response) -> Result<String, HttpError> {
        let bytes = self.body(response).await?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// [`body`](Self::body) parsed as JSON; `Err(None)` when it is not the expected JSON (serde's
    /// message is dropped: it quotes values, which may be personal data).
    pub async fn json<T: serde::de::DeserializeOwned>(&self, response: Response) -> Result<T, Option<HttpError>> {
        let bytes = self.body(response).await.map_err(Some)?;
        serde_json::from_slice(&bytes).map_err(|_| None)
    }

    /// Exponential backoff with full jitter: uniform in `[0, min(max, base * 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.settings.base_delay.saturating_mul(1u32 << (attempt - 1).min(16));
        let cap = exp.min(self.settings.max_delay);
        cap.mul_f64(fastrand::f64())
    }
}

/// Reads at most `limit` bytes of body; more (declared or sent) is `BodyTooLarge`.
pub async fn read_capped(mut response: Response, limit: usize) -> Result<Vec<u8>, HttpError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(HttpError::BodyTooLarge { limit });
    }
    let mut out = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > limit {
                    return Err(HttpError::BodyTooLarge { limit });
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) if e.is_timeout() => return Err(HttpError::Body("timed out")),
            Err(_) => return Err(HttpError::Body("connection broke")),
        }
    }
}

/// A vendor's error code fit for status, events and logs: codes are short identifiers, while
/// anything else could be free text naming a resident. Keeps a code of at most 64 letters,
/// digits and `_ . : -`; anything else is `None`.
pub fn vendor_code(code: &str) -> Option<String> {
    let code = code.trim();
    let ok = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    ok.then(|| code.to_string())
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// Status class label for metrics: `2xx`, `4xx`, `5xx`, … or `error` when no response came.
pub fn status_class(status: Option<StatusCode>) -> &'static str {
    match status.map(|s| s.as_u16() / 100) {
        Some(1) => "1xx",
        Some(2) => "2xx",
        Some(3) => "3xx",
        Some(4) => "4xx",
        Some(5) => "5xx",
        _ => "error",
    }
}

/// How long until the vendor's budget resets, when its rate-limit headers say none is left
/// (`X-RateLimit-Remaining` / `RateLimit-Remaining` at 0; reset as seconds or epoch seconds).
pub fn budget_spent(headers: &reqwest::header::HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| headers.get(*n))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let remaining = get(&["x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining"])?;
    if remaining > 0 {
        return None;
    }
    let reset = get(&["x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset"]).unwrap_or(60);
    let now_secs = now.as_second().max(0) as u64;
    // Large values are epoch seconds, small ones a delay.
    Some(Duration::from_secs(if reset > 1_000_000_000 { reset.saturating_sub(now_secs) } else { reset }))
}

/// Parses `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, jiff::Timestamp::now())
}

fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = http_date(value)?;
    let millis = date.as_millisecond().saturating_sub(now.as_millisecond()).max(0);
    Some(Duration::from_millis(millis as u64))
}

/// The time an HTTP date (`Retry-After`, `Date`: `Sun, 06 Nov 1994 08:49:37 GMT`) names; `None`
/// for anything else (vendor bytes: never a panic).
pub(crate) fn http_date(value: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::rfc2822::parse(value.trim()).ok().map(|z| z.timestamp())
}

/// reqwest's error text includes the full URL, query and all; keep only what is safe to show.
fn redact(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_builder() {
        "invalid request"
    } else if err.is_body() || err.is_decode() {
        "invalid response body"
    } else {
        "transport error"
    };
    match err.url() {
        Some(url) => format!("{kind} ({}{})", url.host_str().unwrap_or_default(), url.path()),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn fast() -> HttpSettings {
        HttpSettings {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_attempts: 3,
            ..HttpSettings::default()
        }
    }

    #[test]
    fn an_http_date_is_read_and_anything_else_is_none() {
        assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some("1994-11-06T08:49:37Z".parse().unwrap()));
        for bad in ["", "yesterday", "Sun, 99 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z", "\u{0}"] {
            assert_eq!(http_date(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Whatever a vendor puts in a `Date` or `Retry-After` header is read without a panic.
        #[test]
        fn any_date_header_is_read_without_panicking(value in "\\PC{0,64}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = http_date(&value);
            let _ = http_date(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now: jiff::Timestamp = "2026-11-27T10:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Fri, 27 Nov 2026 10:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Fri, 27 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[tokio::test]
    async fn retries_429_and_5xx_then_returns_success() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/x"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/x"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET")).and(path("/x")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        let client = HttpClient::new("test", fast(), Metrics::default());
        let url = format!("{}/x", server.uri());
        let response = client.send(|c| c.get(&url)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(server.received_requests().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_request_sent_once_retries_429_but_returns_5xx_and_timeouts() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/create"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST")).and(path("/create")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
        Mock::given(method("POST"))
            .and(path("/slow"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
            .mount(&server)
            .await;
        let client = HttpClient::new("test", fast(), Metrics::default());
        let url = format!("{}/create", server.uri());
        assert_eq!(client.send_once(|c| c.post(&url)).await.unwrap().status(), 503);
        assert_eq!(server.received_requests().await.unwrap().len(), 2, "the 429, then the 503 once");

        let slow = HttpClient::new(
            "test",
            HttpSettings { request_timeout: Duration::from_millis(100), ..fast() },
            Metrics::default(),
        );
        let url = format!("{}/slow", server.uri());
        assert!(matches!(slow.send_once(|c| c.post(&url)).await, Err(HttpError::Timeout { attempts: 1 })));
        assert_eq!(server.received_requests().await.unwrap().len(), 3, "a timed-out create is not sent again");
    }

    #[tokio::test]
    async fn does_not_retry_client_errors() {
        let server = MockServer::start().await;
        Mock::given(method("GET")).respond_with(ResponseTemplate::new(401)).mount(&server).await;
        let client = HttpClient::new("test", fast(), Metrics::default());
        let url = format!("{}/x", server.uri());
        assert_eq!(client.send(|c| c.get(&url)).await.unwrap().status(), 401);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_and_on_long_retry_after() {
        let server = MockServer::start().await;
        Mock::given(method("GET")).and(path("/busy")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
        Mock::given(method("GET"))
            .and(path("/later"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
            .mount(&server)
            .await;
        let client = HttpClient::new("test", fast(), Metrics::default());
        let busy = format!("{}/busy", server.uri());
        assert!(matches!(client.send(|c| c.get(&busy)).await, Err(HttpError::Exhausted { status: 500, attempts: 3 })));
        let later = format!("{}/later", server.uri());
        assert!(matches!(client.send(|c| c.get(&later)).await, Err(HttpError::Exhausted { status: 429, attempts: 1 })));
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_requests_evenly() {
        let limiter = RateLimiter::new(RateLimit { calls: 2, per: Duration::from_secs(10) });
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            limiter.acquire().await;
            at.push(start.elapsed().as_secs());
        }
        // Evenly spaced, never a burst: two a window of 10 s is one every 5 s.
        assert_eq!(at, [0, 5, 10, 15, 20]);
        // A lower budget spaces the next requests further apart.
        limiter.set_limit(RateLimit { calls: 1, per: Duration::from_secs(10) });
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 35);
        assert!(!limiter.idle());
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(limiter.idle());
    }

    #[test]
    fn a_spent_budget_is_read_from_rate_limit_headers() {
        let now: jiff::Timestamp = "2026-11-27T10:00:00Z".parse().unwrap();
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = reqwest::header::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert_eq!(budget_spent(&headers(&[("x-ratelimit-remaining", "3")]), now), None);
        assert_eq!(
            budget_spent(&headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "12")]), now),
            Some(Duration::from_secs(12))
        );
        let epoch = (now.as_second() + 30).to_string();
        assert_eq!(
            budget_spent(&headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", &epoch)]), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(budget_spent(&headers(&[]), now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_limiter_waits_for_the_vendors_reset() {
        let limiter = RateLimiter::new(RateLimit::per_minute(100));
        let start = tokio::time::Instant::now();
        limiter.pause_until(start + Duration::from_secs(12));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(12));
    }

    #[tokio::test]
    async fn redirects_are_reported_not_followed() {
        let second = MockServer::start().await;
        Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&second).await;
        let first = MockServer::start().await;
        for status in [301, 302, 307, 308] {
            Mock::given(method("GET"))
                .and(path(format!("/{status}")))
                .respond_with(ResponseTemplate::new(status).insert_header("Location", format!("{}/x", second.uri())))
                .mount(&first)
                .await;
        }
        let client = HttpClient::new("test", fast(), Metrics::default());
        for status in [301, 302, 307, 308] {
            let url = format!("{}/{status}", first.uri());
            let result = client.send(|c| c.get(&url).header("x-secret", "hunter2")).await;
            assert!(matches!(result, Err(HttpError::Redirected { status: s }) if s == status), "{result:?}");
        }
        assert!(second.received_requests().await.unwrap().is_empty(), "nothing reached the second host");
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused_declared_or_streamed() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/big"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 2048]))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/small"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 1024]))
            .mount(&server)
            .await;
        let client = HttpClient::new("test", HttpSettings { max_body_bytes: 1024, ..fast() }, Metrics::default());
        let big = client.send(|c| c.get(format!("{}/big", server.uri()))).await.unwrap();
        assert!(matches!(client.body(big).await, Err(HttpError::BodyTooLarge { limit: 1024 })));
        let small = client.send(|c| c.get(format!("{}/small", server.uri()))).await.unwrap();
        assert_eq!(client.body(small).await.unwrap().len(), 1024);

        // Chunked, without Content-Length: the cap holds while reading.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
            for _ in 0..10_000 {
                if socket.write_all(b"100\r\n").await.is_err() {
                    return;
                }
                let _ = socket.write_all(&[b'y'; 256]).await;
                let _ = socket.write_all(b"\r\n").await;
            }
        });
        let streamed = client.send(|c| c.get(format!("http://{addr}/"))).await.unwrap();
        assert!(matches!(client.body(streamed).await, Err(HttpError::BodyTooLarge { limit: 1024 })));
    }

    #[test]
    fn vendor_codes_are_short_identifiers_or_nothing() {
        assert_eq!(vendor_code(" E_AUTH-1.x:y ").as_deref(), Some("E_AUTH-1.x:y"));
        assert_eq!(vendor_code("Resident Zoë Ångström not found"), None);
        assert_eq!(vendor_code(&"A".repeat(65)), None);
        assert_eq!(vendor_code(""), None);
    }

    #[tokio::test]
    async fn connection_errors_do_not_leak_the_query() {
        let client = HttpClient::new("test", fast(), Metrics::default());
        let err = client.send(|c| c.get("http://127.0.0.1:1/p?secret=hunter2")).await.unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

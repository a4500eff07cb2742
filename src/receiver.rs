//! The webhook receiver (`--receiver-addr`): `POST /hook/<id>` signed with the integration's token
//! queues a sync of that integration, which starts within a second.
//!
//! Safety, in the order a request meets it:
//! - the connection: at most `--receiver-max-connections` at once (a new one evicts the oldest
//!   still waiting for its headers), headers within 5 s, the whole request within 10 s, one
//!   request per connection ([`server`]): slow or silent clients cannot hold memory or slots;
//! - the path is `/hook/` + hex SHA-256 of token, namespace and name: unknown → 404, and a path is
//!   known only while its integration is enabled, valid and watched by this controller;
//! - a standby replica (leader election) has no running controller: 503, for the sender to retry;
//! - bodies over 64 KiB → 413, before any work;
//! - `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." and the raw body>` keyed with
//!   the token, verified in constant time: missing, wrong, or a time more than 5 minutes from
//!   ours → 401; a signature accepted before → 409 (a replay); the first release's untimed
//!   `sha256=<hex HMAC of the body>` only with `--receiver-legacy-signatures`;
//! - at most [`RATE_PER_MINUTE`] accepted requests per integration and minute → 429 with
//!   `Retry-After` (forged requests never use up an integration's budget: they fail before);
//! - an optional JSON body `{"propertyIds": [...]}` narrows the sync to those attached properties;
//!   naming none of them → 400. Any other body (a middleware's own event) means "sync everything".
//!
//! With hash shards (`--shard i/K`) a webhook may reach a shard that does not serve its
//! integration: its path is unknown here, and a [`Relay`] (`controller::relay`) hands it over.
//!
//! Nothing of a request body is logged. Requests that arrive while a sync runs coalesce: the
//! integration is marked pending (the union of the narrowings, or everything), and kube-runtime
//! runs at most one follow-up reconcile after the running one.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use kube::runtime::reflector::ObjectRef;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::api::PmsIntegration;

/// Largest accepted body.
pub const MAX_BODY: usize = 64 * 1024;
/// Accepted requests per integration and minute.
pub const RATE_PER_MINUTE: usize = 60;
/// Default `--receiver-addr`.
pub const DEFAULT_ADDR: &str = "0.0.0.0:9292";
const SIGNATURE_HEADER: &str = "x-signature";
const PREFIX: &str = "/hook/";

/// What a pending webhook asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    /// Every attached property.
    All,
    /// Only these attached properties.
    Only(BTreeSet<String>),
}

impl Pending {
    fn merge(self, other: Pending) -> Pending {
        match (self, other) {
            (Pending::Only(mut a), Pending::Only(b)) => {
                a.extend(b);
                Pending::Only(a)
            }
            _ => Pending::All,
        }
    }
}

/// One integration's receiver.
struct Hook {
    key: String,
    token: Vec<u8>,
    properties: BTreeSet<String>,
    accepted: VecDeque<Instant>,
    /// The signatures of requests accepted lately, with when: the same request sent again is a
    /// replay. Bounded by the rate: at most [`RATE_PER_MINUTE`] a minute, kept for [`REMEMBERED`].
    signatures: VecDeque<(Instant, Vec<u8>)>,
}

/// How long an accepted signature is remembered: beyond the tolerance on either side, so that a
/// timed signature cannot be replayed at all.
const REMEMBERED: Duration = Duration::from_secs(2 * 5 * 60 + 60);

#[derive(Default)]
struct Inner {
    /// Path → hook.
    hooks: HashMap<String, Hook>,
    /// `namespace/name` → path.
    paths: HashMap<String, String>,
    /// `namespace/name` → what is pending.
    pending: HashMap<String, Pending>,
    /// Where reconciles are queued: one channel per watch scope (a namespace, or all of them).
    queues: Vec<(Option<String>, mpsc::Sender<ObjectRef<PmsIntegration>>)>,
}

/// The receivers of every integration this controller serves, and their pending syncs. Shared by
/// the receiver's HTTP server and the controller.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
    /// Whether a controller runs (false on a standby replica).
    active: AtomicBool,
    /// Whether the first release's untimed `sha256=` signatures are still accepted.
    legacy_signatures: AtomicBool,
    /// Where webhooks for paths unknown here go (a sharded controller's hand-over).
    relay: Mutex<Option<std::sync::Arc<dyn Relay>>>,
}

/// Takes a webhook whose path this controller does not serve (another shard's integration):
/// verifies it as [`Registry::accept`] would and hands it to the shard serving it. Returns the
/// integration (`namespace/name`).
pub trait Relay: Send + Sync {
    fn relay<'a>(
        &'a self,
        path: &'a str,
        signature: Option<&'a str>,
        body: &'a [u8],
        check: Verification,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<String, Refusal>> + Send + 'a>>;
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("hooks", &self.lock().hooks.len()).finish_non_exhaustive()
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    UnknownPath,
    Standby,
    BadSignature,
    /// A signature accepted before: the same request, sent again.
    Replayed,
    RateLimited {
        retry_after: Duration,
    },
    NoAttachedProperty,
    Busy,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::UnknownPath => StatusCode::NOT_FOUND,
            Refusal::Standby | Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::BadSignature => StatusCode::UNAUTHORIZED,
            Refusal::Replayed => StatusCode::CONFLICT,
            Refusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::NoAttachedProperty => StatusCode::BAD_REQUEST,
        }
    }
}

/// The path of an integration's receiver: `/hook/` + hex SHA-256 of the token, the namespace and
/// the name (newline-separated: no two triples give the same input).
pub fn path(token: &str, namespace: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{token}\n{namespace}\n{name}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// How far a signed timestamp may be from our clock, either way: a captured request replays
/// only inside this window (and not at all once accepted: [`Registry::accept`] remembers it).
pub const SIGNATURE_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The signature a sender puts in `X-Signature` for `body`, signed now.
pub fn signature(token: &str, body: &[u8]) -> String {
    signature_at(token, jiff::Timestamp::now().as_second(), body)
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." followed by the raw body>`, keyed with the
/// token: the timestamp is part of what is signed (as Stripe's and Slack's signatures are), so a
/// captured request cannot be sent again later with a fresh time.
pub fn signature_at(token: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = keyed(token.as_bytes());
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex(&mac.finalize().into_bytes()))
}

/// The signature of the first release: `sha256=<hex HMAC-SHA256 of the raw body>`, with no time
/// in it (replayable forever). Accepted only with `--receiver-legacy-signatures`.
pub fn legacy_signature(token: &str, body: &[u8]) -> String {
    let mut mac = keyed(token.as_bytes());
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// HMAC-SHA256 keyed with a webhook token.
fn keyed(token: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(token).expect("HMAC takes keys of any length")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How signatures are checked.
#[derive(Clone, Copy, Debug)]
pub struct Verification {
    /// Our clock.
    pub now: jiff::Timestamp,
    /// Also accept the first release's untimed `sha256=` form.
    pub legacy: bool,
}

/// Whether `header` signs `body` with `token` (compared in constant time) at a time within
/// [`SIGNATURE_TOLERANCE`] of `check.now`. Returns the signature's bytes, by which an accepted
/// request is remembered.
pub fn verify(token: &[u8], header: Option<&str>, body: &[u8], check: Verification) -> Option<Vec<u8>> {
    let header = header?.trim();
    let mut mac = keyed(token);
    let expected = if let Some(hex) = header.strip_prefix("sha256=") {
        if !check.legacy {
            return None;
        }
        decode_hex(hex)?
    } else {
        let (mut timestamp, mut hex) = (None, None);
        for part in header.split(',').map(str::trim) {
            match part.split_once('=') {
                Some(("t", t)) => timestamp = Some(t),
                Some(("v1", v)) => hex = Some(v),
                _ => {}
            }
        }
        let (timestamp, expected) = (timestamp?, decode_hex(hex?)?);
        let at = jiff::Timestamp::from_second(timestamp.parse::<i64>().ok()?).ok()?;
        let tolerance = jiff::SignedDuration::try_from(SIGNATURE_TOLERANCE).ok()?;
        if at.duration_since(check.now).abs() > tolerance {
            return None;
        }
        mac.update(format!("{timestamp}.").as_bytes());
        expected
    };
    mac.update(body);
    // Constant time.
    mac.verify_slice(&expected).ok()?;
    Some(expected)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// What a verified body asks for: `{"propertyIds": [...]}` narrows; anything else is everything.
fn narrowing(body: &[u8]) -> Option<BTreeSet<String>> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "propertyIds")]
        property_ids: Vec<String>,
    }
    serde_json::from_slice::<Body>(body).ok().map(|b| b.property_ids.into_iter().collect())
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves `namespace/name` at the path its `token` derives (replacing an earlier path), for
    /// its attached `properties`. Returns the path.
    pub fn register(&self, namespace: &str, name: &str, token: &str, properties: &[String]) -> String {
        let key = format!("{namespace}/{name}");
        let path = path(token, namespace, name);
        let mut inner = self.lock();
        if let Some(old) = inner.paths.insert(key.clone(), path.clone())
            && old != path
        {
            inner.hooks.remove(&old);
        }
        let properties = properties.iter().cloned().collect();
        match inner.hooks.get_mut(&path) {
            Some(hook) => hook.properties = properties,
            None => {
                let hook = Hook {
                    key,
                    token: token.as_bytes().to_vec(),
                    properties,
                    accepted: VecDeque::new(),
                    signatures: VecDeque::new(),
                };
                inner.hooks.insert(path.clone(), hook);
            }
        }
        path
    }

    /// Stops serving `namespace/name` (no webhook, disabled, invalid or deleted) and drops what
    /// was pending for it.
    pub fn unregister(&self, key: &str) {
        let mut inner = self.lock();
        if let Some(path) = inner.paths.remove(key) {
            inner.hooks.remove(&path);
        }
        inner.pending.remove(key);
    }

    /// Unregisters every integration `gone` names (the controller's pruning of deleted ones).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self.lock().paths.keys().filter(|k| !keep(k)).cloned().collect();
        for key in gone {
            self.unregister(&key);
        }
    }

    /// Hands webhooks for unknown paths to `relay` from now on.
    pub fn set_relay(&self, relay: std::sync::Arc<dyn Relay>) {
        *self.relay.lock().unwrap_or_else(|e| e.into_inner()) = Some(relay);
    }

    /// [`accept`](Self::accept), then for a path unknown here the relay, if there is one.
    pub async fn accept_or_relay(&self, path: &str, signature: Option<&str>, body: &[u8]) -> Result<String, Refusal> {
        match self.accept(path, signature, body) {
            Err(Refusal::UnknownPath) => {
                let relay = self.relay.lock().unwrap_or_else(|e| e.into_inner()).clone();
                match relay {
                    Some(relay) => relay.relay(path, signature, body, self.verification()).await,
                    None => Err(Refusal::UnknownPath),
                }
            }
            other => other,
        }
    }

    /// Accepts the first release's untimed `sha256=` signatures too (`--receiver-legacy-signatures`).
    pub fn set_legacy_signatures(&self, accept: bool) {
        self.legacy_signatures.store(accept, Ordering::SeqCst);
    }

    fn verification(&self) -> Verification {
        Verification { now: jiff::Timestamp::now(), legacy: self.legacy_signatures.load(Ordering::SeqCst) }
    }

    /// Whether a controller runs here (see [`Refusal::Standby`]).
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::SeqCst);
    }

    /// The queue of reconciles for integrations of `scope` (one namespace, or all).
    pub fn subscribe(&self, scope: Option<String>) -> mpsc::Receiver<ObjectRef<PmsIntegration>> {
        let (tx, rx) = mpsc::channel(1024);
        let mut inner = self.lock();
        // A controller that stopped (a lost Lease) left its queue behind.
        inner.queues.retain(|(_, tx)| !tx.is_closed());
        inner.queues.push((scope, tx));
        rx
    }

    /// Whether a webhook is pending for `namespace/name`.
    pub fn is_pending(&self, key: &str) -> bool {
        self.lock().pending.contains_key(key)
    }

    /// Takes what is pending for `namespace/name`: a sync that starts now serves it.
    pub fn take_pending(&self, key: &str) -> Option<Pending> {
        self.lock().pending.remove(key)
    }

    /// Checks one request and, if it passes, marks its integration pending and queues a reconcile.
    /// Returns the integration (`namespace/name`) it was for.
    pub fn accept(&self, path: &str, signature: Option<&str>, body: &[u8]) -> Result<String, Refusal> {
        if !self.active.load(Ordering::SeqCst) {
            return Err(Refusal::Standby);
        }
        let check = self.verification();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let hook = inner.hooks.get_mut(path).ok_or(Refusal::UnknownPath)?;
        let signed = verify(&hook.token, signature, body, check).ok_or(Refusal::BadSignature)?;
        let now = Instant::now();
        while hook.signatures.front().is_some_and(|(at, _)| now.duration_since(*at) >= REMEMBERED) {
            hook.signatures.pop_front();
        }
        if hook.signatures.iter().any(|(_, seen)| *seen == signed) {
            return Err(Refusal::Replayed);
        }
        within_rate(&mut hook.accepted, now)?;
        let wanted = match narrowing(body) {
            Some(listed) => {
                let attached: BTreeSet<String> = listed.intersection(&hook.properties).cloned().collect();
                if attached.is_empty() {
                    return Err(Refusal::NoAttachedProperty);
                }
                Pending::Only(attached)
            }
            None => Pending::All,
        };
        hook.accepted.push_back(now);
        hook.signatures.push_back((now, signed));
        let key = hook.key.clone();
        let merged = match inner.pending.remove(&key) {
            Some(earlier) => earlier.merge(wanted),
            None => wanted,
        };
        inner.pending.insert(key.clone(), merged);
        let (namespace, name) = key.split_once('/').unwrap_or_default();
        let queue = inner.queues.iter().find(|(scope, _)| scope.as_deref().is_none_or(|s| s == namespace));
        let queued = queue.is_some_and(|(_, tx)| tx.try_send(ObjectRef::new(name).within(namespace)).is_ok());
        // Not queued (the controller is overwhelmed): still pending, served by the next reconcile
        // of this integration; the sender is asked to retry.
        if !queued {
            return Err(Refusal::Busy);
        }
        Ok(key)
    }
}

/// Forgets the acceptances in `accepted` older than a minute, then refuses when
/// [`RATE_PER_MINUTE`] remain, with the wait until the oldest ages out. The caller records the
/// request (`push_back(now)`) once it accepts it.
pub(crate) fn within_rate(accepted: &mut VecDeque<Instant>, now: Instant) -> Result<(), Refusal> {
    const MINUTE: Duration = Duration::from_secs(60);
    while accepted.front().is_some_and(|t| now.duration_since(*t) >= MINUTE) {
        accepted.pop_front();
    }
    if accepted.len() >= RATE_PER_MINUTE {
        let oldest = accepted.front().copied().unwrap_or(now);
        return Err(Refusal::RateLimited { retry_after: MINUTE.saturating_sub(now.duration_since(oldest)) });
    }
    Ok(())
}

/// The receiver's routes: `POST /hook/<id>`; anything else is 404.
pub fn router(registry: std::sync::Arc<Registry>) -> Router {
    Router::new().route("/hook/{id}", post(receive)).layer(DefaultBodyLimit::max(MAX_BODY)).with_state(registry)
}

async fn receive(
    State(registry): State<std::sync::Arc<Registry>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match registry.accept_or_relay(&format!("{PREFIX}{id}"), signature, &body).await {
        Ok(key) => {
            tracing::info!(integration = %key, "webhook accepted; sync queued");
            (StatusCode::ACCEPTED, "queued\n").into_response()
        }
        Err(refusal) => {
            tracing::debug!(refusal = ?refusal, "webhook refused");
            let mut response = (refusal.status(), format!("{refusal:?}\n")).into_response();
            if let Refusal::RateLimited { retry_after } = refusal {
                let seconds = retry_after.as_secs().max(1).to_string();
                if let Ok(value) = HeaderValue::from_str(&seconds) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            response
        }
    }
}

/// Serves the receiver on an already bound listener until `shutdown` resolves, with the default
/// [`server::Limits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: std::sync::Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router(registry), server::Limits::default(), shutdown).await
}

pub mod server;

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn registry() -> (Registry, mpsc::Receiver<ObjectRef<PmsIntegration>>, String) {
        let registry = Registry::default();
        registry.set_active(true);
        let rx = registry.subscribe(Some("acme".into()));
        let path = registry.register("acme", "harbor", TOKEN, &["1001".into(), "1002".into()]);
        (registry, rx, path)
    }

    #[test]
    fn a_signed_request_queues_its_integration_and_narrows_to_attached_properties() {
        let (registry, mut rx, path) = registry();
        assert!(path.starts_with("/hook/") && path.len() == 6 + 64);
        let body = br#"{"propertyIds": ["1002", "9999"]}"#;
        assert_eq!(registry.accept(&path, Some(&signature(TOKEN, body)), body), Ok("acme/harbor".into()));
        assert_eq!(rx.try_recv().unwrap(), ObjectRef::new("harbor").within("acme"));
        // A second one before the sync: coalesced into the same pending entry.
        let body2 = br#"{"propertyIds": ["1001"]}"#;
        registry.accept(&path, Some(&signature(TOKEN, body2)), body2).unwrap();
        let both = BTreeSet::from(["1001".to_string(), "1002".to_string()]);
        assert_eq!(registry.take_pending("acme/harbor"), Some(Pending::Only(both)));
        assert_eq!(registry.take_pending("acme/harbor"), None);
        // Any other body means everything.
        registry.accept(&path, Some(&signature(TOKEN, b"event=lease")), b"event=lease").unwrap();
        assert_eq!(registry.take_pending("acme/harbor"), Some(Pending::All));
    }

    #[test]
    fn forged_altered_unsigned_unknown_and_unattached_requests_are_refused_and_queue_nothing() {
        let (registry, mut rx, path) = registry();
        let body = br#"{"propertyIds": ["1001"]}"#;
        let signed = signature(TOKEN, body);
        let cases: [(&str, Option<&str>, &[u8], Refusal); 6] = [
            (&path, None, body, Refusal::BadSignature),
            (&path, Some(&signature("another-token-another-token-0000", body)), body, Refusal::BadSignature),
            (&path, Some(&signed), br#"{"propertyIds": ["1002"]}"#, Refusal::BadSignature),
            (&path, Some("sha256=zz"), body, Refusal::BadSignature),
            ("/hook/0000", Some(&signed), body, Refusal::UnknownPath),
            (
                &path,
                Some(&signature(TOKEN, br#"{"propertyIds": ["7"]}"#)),
                br#"{"propertyIds": ["7"]}"#,
                Refusal::NoAttachedProperty,
            ),
        ];
        for (p, sig, b, refusal) in cases {
            assert_eq!(registry.accept(p, sig, b), Err(refusal));
        }
        assert!(rx.try_recv().is_err(), "nothing queued");
        assert!(!registry.is_pending("acme/harbor"));
        registry.set_active(false);
        assert_eq!(registry.accept(&path, Some(&signed), body), Err(Refusal::Standby));
    }

    #[test]
    fn the_rate_is_bounded_per_integration_and_unregistering_forgets() {
        let (registry, _rx, path) = registry();
        // Distinct requests (the same one twice is a replay, refused before the rate counts).
        for i in 0..RATE_PER_MINUTE {
            let body = i.to_string();
            registry.accept(&path, Some(&signature(TOKEN, body.as_bytes())), body.as_bytes()).unwrap();
        }
        let refused = registry.accept(&path, Some(&signature(TOKEN, b"")), b"");
        assert!(matches!(refused, Err(Refusal::RateLimited { retry_after }) if retry_after <= Duration::from_secs(60)));
        // A rotated token: a new path, the old one gone.
        let rotated = registry.register("acme", "harbor", "a-rotated-token-of-32-characters", &["1001".into()]);
        assert_ne!(rotated, path);
        assert_eq!(registry.accept(&path, Some(&signature(TOKEN, b"")), b""), Err(Refusal::UnknownPath));
        registry.unregister("acme/harbor");
        assert!(!registry.is_pending("acme/harbor"));
        assert_eq!(registry.accept(&rotated, None, b""), Err(Refusal::UnknownPath));
    }

    /// The time is signed: within five minutes either way it is accepted, past them refused, and
    /// a time altered after signing fails the HMAC. The untimed first-release form only with the
    /// legacy flag. An accepted request sent again is a replay.
    #[test]
    fn signatures_carry_a_signed_time_and_a_replay_is_refused() {
        let now = jiff::Timestamp::now();
        let check = Verification { now, legacy: false };
        let at = |minutes: i64| now.as_second() + minutes * 60;
        let body = b"{}";
        for minutes in [-4, 0, 4] {
            assert!(verify(TOKEN.as_bytes(), Some(&signature_at(TOKEN, at(minutes), body)), body, check).is_some());
        }
        for minutes in [-6, 6, -525_600] {
            let stale = signature_at(TOKEN, at(minutes), body);
            assert!(verify(TOKEN.as_bytes(), Some(&stale), body, check).is_none(), "{minutes} min");
        }
        let signed = signature_at(TOKEN, at(-1), body);
        let moved = signed.replacen(&format!("t={}", at(-1)), &format!("t={}", at(0)), 1);
        assert!(verify(TOKEN.as_bytes(), Some(&moved), body, check).is_none(), "the time is signed");
        let legacy = legacy_signature(TOKEN, body);
        assert!(verify(TOKEN.as_bytes(), Some(&legacy), body, check).is_none());
        assert!(verify(TOKEN.as_bytes(), Some(&legacy), body, Verification { legacy: true, ..check }).is_some());
        for junk in ["", "t=,v1=", "v1=00", "t=abc,v1=00", "t=99999999999999999999,v1=00", "sha256=zz"] {
            assert!(verify(TOKEN.as_bytes(), Some(junk), body, Verification { legacy: true, ..check }).is_none());
        }

        let (registry, _rx, path) = registry();
        let signed = signature(TOKEN, body);
        assert_eq!(registry.accept(&path, Some(&signed), body), Ok("acme/harbor".into()));
        assert_eq!(registry.accept(&path, Some(&signed), body), Err(Refusal::Replayed));
        assert_eq!(registry.accept(&path, Some(&legacy), body), Err(Refusal::BadSignature));
        registry.set_legacy_signatures(true);
        assert_eq!(registry.accept(&path, Some(&legacy), body), Ok("acme/harbor".into()));
    }
}

//! The DOOR partner REST API (`door-partner-openapi.json`) and its OAuth2 client-credentials token
//! (`door-authentication-openapi.json`): wire types, paging, error enums, the token cache.
//!
//! DOOR answers errors as `{"message": "ENUM"}`; the enum name is what we report.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::destination::DestinationError;
use crate::domain::REDACTED;
use crate::http::{HttpClient, HttpError};
use crate::pms::join_url;

pub const DEFAULT_BASE_URL: &str = "https://rest.latchaccess.com/access/sdk";
pub const DEFAULT_TOKEN_URL: &str = "https://auth.prod.latch.com/v1/oauth/token";
/// The audience DOOR documents for partner tokens.
pub const AUDIENCE: &str = "https://rest.latchaccess.com/access/sdk";
const PAGE_SIZE: &str = "100";
/// Bound on pages read in one listing, so a listing that never ends cannot hang a run.
const MAX_PAGES: usize = 5_000;
/// A token is replaced this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(120);
/// Lifetime assumed when the token response does not say (Auth0 issues 24 h by default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest a token is reused, whatever the token endpoint says (Auth0's longest is 30 days; a day
/// bounds how long a revoked credential's token could keep working here).
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Building {
    pub uuid: String,
    #[serde(default)]
    pub timezone: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Door {
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub accessibility_type: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    pub uuid: String,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Granter {
    #[serde(rename = "type")]
    pub kind: String,
    pub uuid: String,
}

/// One grant of a door or key to a user (`UserAccess`, `KeyAccess`).
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// `doorUuid` in `UserAccess`; key accesses carry `keyUuid` instead.
    #[serde(alias = "keyUuid")]
    pub door_uuid: String,
    #[serde(default)]
    pub user_uuid: Option<String>,
    pub start_time: jiff::Timestamp,
    /// `None` for open-ended access, however DOOR says it: absent, `null`, or a far-future
    /// sentinel (the spec makes `endTime` a required string, so open grants may come back as
    /// `9999-12-31T23:59:59Z`, which is beyond what a timestamp type holds). See [`open_end`].
    #[serde(default, deserialize_with = "open_end")]
    pub end_time: Option<jiff::Timestamp>,
    pub granter: Granter,
}

/// First year taken as "no end": no lease runs that long, and sentinels (`9999-12-31…`,
/// `2999-…`) sit beyond it. Reading one as a real end would revoke and re-grant every open grant
/// on every run (issue 11: 21 writes per idle run, each resident briefly without access).
pub const OPEN_END_YEAR: i16 = 2200;

/// An `endTime`: a timestamp, or `None` when absent, `null`, or at or beyond [`OPEN_END_YEAR`]
/// (parsable or not: `9999-12-31T23:59:59Z` is past the last instant `jiff` represents).
fn open_end<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<jiff::Timestamp>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    let year: Option<i16> = text.trim().get(..4).and_then(|y| y.parse().ok());
    if year.is_some_and(|y| y >= OPEN_END_YEAR) {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| serde::de::Error::custom("endTime is not a timestamp"))
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_uuid: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub accesses: Vec<Access>,
}

impl User {
    /// DOOR's `User` requires `email`: a user known by phone only comes with an empty one. Empty
    /// contacts are no contacts (sending `"email": ""` is `EMAIL_CAN_NOT_BE_EMPTY`).
    fn normalized(mut self) -> Self {
        for field in [&mut self.email, &mut self.phone] {
            if field.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *field = None;
            }
        }
        self
    }
}

/// `PostUserRequest`: creates a user, or grants more to the user with that email or phone.
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PostUser<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    pub passcode_type: &'a str,
    pub shareable: bool,
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub role: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub door_uuids: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_uuids: Vec<&'a str>,
    pub should_notify: bool,
}

/// One page of a listing. The collection is required (as in the spec): a body without it is an
/// unreadable response, never an empty building.
#[derive(Deserialize)]
struct Page<T> {
    #[serde(alias = "doors", alias = "keys", alias = "users", alias = "buildings")]
    items: Vec<T>,
    #[serde(default, rename = "nextPageToken")]
    next: Option<String>,
}

#[derive(Deserialize)]
struct KeyAccesses {
    accesses: Vec<Access>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// How long a token is reused: what the token endpoint says, within sane bounds (an absurd
/// `expires_in` must neither overflow a clock nor keep a token for years), or a default.
fn token_lifetime(expires_in: Option<u64>) -> Duration {
    expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_TOKEN_LIFETIME).min(MAX_TOKEN_LIFETIME)
}

/// Reads every DOOR response shape the client reads, and a token response, from raw bytes (for
/// the fuzz targets: arbitrary bytes must give values or errors, never a panic).
pub(crate) fn parse_for_fuzzing(bytes: &[u8]) -> usize {
    let users =
        serde_json::from_slice::<Page<User>>(bytes).map_or(0, |p| p.items.into_iter().map(User::normalized).count());
    let doors = serde_json::from_slice::<Page<Door>>(bytes).map_or(0, |p| p.items.len());
    let accesses = serde_json::from_slice::<KeyAccesses>(bytes).map_or(0, |a| a.accesses.len());
    let created = serde_json::from_slice::<User>(bytes).map_or(0, |u| u.normalized().accesses.len());
    let token = serde_json::from_slice::<TokenResponse>(bytes).map_or(0, |t| {
        let cache = TokenCache::default();
        cache.put(1, t.access_token, token_lifetime(t.expires_in));
        usize::from(cache.get(1).is_some())
    });
    users + doors + accesses + created + token
}

/// DOOR's instant format: RFC 3339 in UTC, whole seconds (truncated: "now" never becomes a
/// moment in the future).
pub fn timestamp(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second()).map(|t| t.to_string()).unwrap_or_else(|_| t.to_string())
}

/// The partner's bearer token, reused until shortly before it expires. Shared by the runs of one
/// integration; a change of credentials (or token URL) fetches a new one. `Debug` never shows it.
#[derive(Default)]
pub struct TokenCache {
    current: Mutex<Option<(u64, String, Instant)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.current.lock().map(|c| c.is_some()).unwrap_or(false);
        f.debug_struct("TokenCache").field("token", &if held { Some(REDACTED) } else { None }).finish()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("user_uuid", &self.user_uuid)
            .field("accesses", &self.accesses)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PostUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostUser")
            .field("door_uuids", &self.door_uuids)
            .field("key_uuids", &self.key_uuids)
            .field("start_time", &self.start_time)
            .field("end_time", &self.end_time)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    fn get(&self, fingerprint: u64) -> Option<String> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some((f, token, expires))
                if *f == fingerprint && Instant::now().checked_add(TOKEN_MARGIN) < Some(*expires) =>
            {
                Some(token.clone())
            }
            _ => None,
        }
    }

    fn put(&self, fingerprint: u64, token: String, lifetime: Duration) {
        let now = Instant::now();
        let expires = now.checked_add(lifetime).unwrap_or(now);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((fingerprint, token, expires));
    }

    fn forget(&self) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// An authenticated DOOR API client.
pub struct Client {
    pub(super) http: HttpClient,
    /// The token endpoint is Auth0's, outside DOOR's request budget.
    pub(super) auth_http: HttpClient,
    pub(super) base_url: String,
    pub(super) token_url: String,
    pub(super) client_id: String,
    pub(super) client_secret: String,
    pub(super) tokens: std::sync::Arc<TokenCache>,
}

impl Client {
    fn fingerprint(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        // A fixed-key hash: equal credentials give equal fingerprints across runs.
        let mut h = foldhash::quality::FixedState::with_seed(7).build_hasher();
        // The API a token is for is part of its identity: a token fetched for one base URL or
        // token URL is never sent to another (a spec edit pointing elsewhere fetches anew).
        h.write(self.base_url.as_bytes());
        h.write(&[0]);
        h.write(self.token_url.as_bytes());
        h.write(&[0]);
        h.write(self.client_id.as_bytes());
        h.write(&[0]);
        h.write(self.client_secret.as_bytes());
        h.finish()
    }

    async fn token(&self) -> Result<String, DestinationError> {
        let fingerprint = self.fingerprint();
        if let Some(token) = self.tokens.get(fingerprint) {
            return Ok(token);
        }
        let body = serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "audience": AUDIENCE,
        });
        let response = self.auth_http.send(|c| c.post(&self.token_url).json(&body)).await?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(DestinationError::Unauthorized { status });
        }
        if !response.status().is_success() {
            return Err(DestinationError::Rejected { status, detail: error_enum(response).await });
        }
        let token: TokenResponse = read_json(&self.auth_http, response, "the token endpoint").await?;
        self.tokens.put(fingerprint, token.access_token.clone(), token_lifetime(token.expires_in));
        Ok(token.access_token)
    }

    /// Sends with the bearer token; on 401 fetches a new token once and sends again.
    /// `once` sends a request that must not run twice (see [`HttpClient::send_once`]).
    async fn call(
        &self,
        once: bool,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, DestinationError> {
        for fresh in [false, true] {
            let token = self.token().await?;
            let authed = |c: &reqwest::Client| build(c).bearer_auth(&token);
            let response = if once { self.http.send_once(authed).await? } else { self.http.send(authed).await? };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !fresh {
                self.tokens.forget();
                continue;
            }
            return match status.as_u16() {
                200..=299 => Ok(response),
                401 | 403 => Err(DestinationError::Unauthorized { status: status.as_u16() }),
                code => Err(DestinationError::Rejected { status: code, detail: error_enum(response).await }),
            };
        }
        unreachable!("the loop returns on its second pass")
    }

    fn url(&self, path: &str) -> String {
        join_url(&self.base_url, path)
    }

    /// Reads every page of a `pageSize`/`pageToken` listing.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, DestinationError> {
        let url = self.url(path);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let response = self
                .call(false, |c| {
                    let mut q: Vec<(&str, &str)> = query.to_vec();
                    q.push(("pageSize", PAGE_SIZE));
                    if let Some(t) = &token {
                        q.push(("pageToken", t));
                    }
                    c.get(&url).query(&q)
                })
                .await?;
            let page: Page<T> = read_json(&self.http, response, path).await?;
            out.extend(page.items);
            match page.next.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => return Ok(out),
            }
        }
        Err(DestinationError::InvalidResponse(format!("{path} listing exceeded {MAX_PAGES} pages")))
    }

    pub async fn buildings(&self) -> Result<Vec<Building>, DestinationError> {
        let response = self.call(false, |c| c.get(self.url("v1/buildings"))).await?;
        let page: Page<Building> = read_json(&self.http, response, "v1/buildings").await?;
        Ok(page.items)
    }

    pub async fn doors(&self, building: &str) -> Result<Vec<Door>, DestinationError> {
        self.list("v1/doors", &[("buildingUuid", building)]).await
    }

    pub async fn keys(&self, building: &str) -> Result<Vec<Key>, DestinationError> {
        self.list("v1/keys", &[("buildingUuid", building)]).await
    }

    pub async fn users(&self) -> Result<Vec<User>, DestinationError> {
        let users: Vec<User> = self.list("v1/users", &[]).await?;
        Ok(users.into_iter().map(User::normalized).collect())
    }

    /// `GET /v1/users/{userUuid}`; `None` when DOOR has no such user (deleted there).
    pub async fn user(&self, uuid: &str) -> Result<Option<User>, DestinationError> {
        let path = format!("v1/users/{}", encode(uuid));
        match self.call(false, |c| c.get(self.url(&path))).await {
            Ok(response) => {
                let user: User = read_json(&self.http, response, "v1/users/{userUuid}").await?;
                Ok(Some(user.normalized()))
            }
            Err(DestinationError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn key_accesses(&self, key: &str) -> Result<Vec<Access>, DestinationError> {
        let path = format!("v1/keys/{}/accesses", encode(key));
        let response = self.call(false, |c| c.get(self.url(&path))).await?;
        let body: KeyAccesses = read_json(&self.http, response, "v1/keys/{key}/accesses").await?;
        Ok(body.accesses)
    }

    /// `POST /v2/users`. Not retried after a timeout or 5xx: the caller looks before it tries
    /// again (DOOR has no idempotency key). `None` when DOOR answered without a body (a 201 may
    /// come empty): the caller finds the user by listing.
    pub async fn post_user(&self, body: &PostUser<'_>) -> Result<Option<User>, DestinationError> {
        let url = self.url("v2/users");
        let response = self.call(true, |c| c.post(&url).json(body)).await?;
        let bytes =
            self.http.body(response).await.map_err(|e| DestinationError::InvalidResponse(format!("v2/users: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice::<User>(&bytes).map(|u| Some(u.normalized())).map_err(|e| {
            DestinationError::InvalidResponse(format!("v2/users: unexpected body ({})", json_error_kind(&e)))
        })
    }

    pub async fn patch_end(&self, user: &str, door: &str, end: jiff::Timestamp) -> Result<(), DestinationError> {
        let url = self.url(&format!("v1/users/{}/doors/{}", encode(user), encode(door)));
        let body = serde_json::json!({ "endTime": timestamp(end) });
        self.call(false, |c| c.request(Method::PATCH, &url).json(&body)).await.map(|_| ())
    }

    /// Revokes one grant; one already gone (404) is what we wanted.
    pub async fn revoke(&self, user: &str, door: &str) -> Result<(), DestinationError> {
        let url = self.url(&format!("v1/users/{}/doors/{}", encode(user), encode(door)));
        match self.call(false, |c| c.delete(&url)).await {
            Ok(_) | Err(DestinationError::Rejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Whether a failed create may have been carried out (the caller must look before retrying).
pub fn ambiguous(error: &DestinationError) -> bool {
    match error {
        DestinationError::Unavailable(HttpError::Timeout { .. } | HttpError::Request(_)) => true,
        DestinationError::Unavailable(HttpError::Exhausted { status, .. }) => *status >= 500,
        DestinationError::Rejected { status, .. } => *status >= 500,
        _ => false,
    }
}

fn encode(segment: &str) -> String {
    segment.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

async fn read_json<T: serde::de::DeserializeOwned>(
    http: &HttpClient,
    response: Response,
    what: &str,
) -> Result<T, DestinationError> {
    let bytes = http.body(response).await.map_err(|e| DestinationError::InvalidResponse(format!("{what}: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| DestinationError::InvalidResponse(format!("{what}: unexpected body ({})", json_error_kind(&e))))
}

/// The error enum of a DOOR error body (`{"message": "EMAIL_REQUIRED_FOR_PERMANENT"}`), kept only
/// when it looks like one: free text could carry personal data.
async fn error_enum(response: Response) -> Option<String> {
    let bytes = crate::http::read_capped(response, crate::http::ERROR_BODY_LIMIT).await.ok()?;
    let body: ErrorBody = serde_json::from_slice(&bytes).ok()?;
    body.message.filter(|m| !m.is_empty() && m.len() <= 64 && m.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
}

/// What kind of JSON error `e` is, without its text: serde's messages quote the offending value,
/// which could be personal data.
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "missing or mistyped fields",
        serde_json::error::Category::Eof => "truncated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_read_every_collection_name() {
        let p: Page<Door> = serde_json::from_str(
            r#"{"doors":[{"uuid":"d","name":"4B","type":"DOOR","buildingUuid":"b"}],"nextPageToken":"2"}"#,
        )
        .unwrap();
        assert_eq!((p.items.len(), p.next.as_deref()), (1, Some("2")));
        let k: KeyAccesses = serde_json::from_str(
            r#"{"accesses":[{"userUuid":"u","keyUuid":"k","passcodeType":"PERMANENT","shareable":false,
                "startTime":"2026-01-01T00:00:00Z","granter":{"type":"PARTNER","uuid":"p"},"doors":[]}]}"#,
        )
        .unwrap();
        assert_eq!(k.accesses[0].door_uuid, "k");
        assert_eq!(k.accesses[0].end_time, None);
    }

    #[test]
    fn a_listing_without_its_collection_is_refused() {
        assert!(serde_json::from_str::<Page<User>>(r#"{"nextPageToken":"2"}"#).is_err());
        assert!(serde_json::from_str::<Page<User>>(r#"{"users":[]}"#).is_ok());
    }

    #[test]
    fn token_lifetimes_are_bounded_whatever_the_endpoint_says() {
        assert_eq!(token_lifetime(Some(600)), Duration::from_secs(600));
        assert_eq!(token_lifetime(None), DEFAULT_TOKEN_LIFETIME);
        assert_eq!(token_lifetime(Some(u64::MAX)), MAX_TOKEN_LIFETIME);
        assert_eq!(token_lifetime(Some(9_223_372_036_854_775_807)), MAX_TOKEN_LIFETIME);
        // Even an unbounded lifetime is stored without overflowing the clock.
        let cache = TokenCache::default();
        cache.put(1, "secret-token-Xy".into(), Duration::from_secs(60));
        assert!(!format!("{cache:?}").contains("secret-token-Xy"), "Debug never shows the token");
        cache.put(1, "t".into(), Duration::MAX);
        assert_eq!(cache.get(1), None, "an unrepresentable expiry is treated as expired");
        cache.put(1, "t".into(), Duration::from_secs(3600));
        assert_eq!(cache.get(1).as_deref(), Some("t"));
        assert_eq!(cache.get(2), None, "a token is only handed out for its own fingerprint");
    }

    #[test]
    fn a_token_is_bound_to_its_base_url_and_token_url() {
        let client = |base: &str, token: &str| {
            let http = HttpClient::new("door", Default::default(), crate::metrics::Metrics::default());
            Client {
                http: http.clone(),
                auth_http: http,
                base_url: base.into(),
                token_url: token.into(),
                client_id: "id".into(),
                client_secret: "secret".into(),
                tokens: Default::default(),
            }
        };
        let a = client("https://rest.latchaccess.com/access/sdk", DEFAULT_TOKEN_URL).fingerprint();
        assert_eq!(a, client("https://rest.latchaccess.com/access/sdk", DEFAULT_TOKEN_URL).fingerprint());
        assert_ne!(a, client("https://elsewhere.example/access/sdk", DEFAULT_TOKEN_URL).fingerprint());
        assert_ne!(a, client("https://rest.latchaccess.com/access/sdk", "https://auth.example/t").fingerprint());
    }

    #[test]
    fn timestamps_are_whole_seconds_in_utc() {
        let t: jiff::Timestamp = "2026-12-15T05:00:00.7+00:00".parse().unwrap();
        assert_eq!(timestamp(t), "2026-12-15T05:00:00Z");
    }

    #[test]
    fn path_segments_keep_only_uuid_characters() {
        assert_eq!(encode("3fa85f64-5717-4562-b3fc-2c963f66afa6"), "3fa85f64-5717-4562-b3fc-2c963f66afa6");
        assert_eq!(encode("../x?y"), "xy");
    }
}

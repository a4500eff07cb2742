//! PMS connectors: one folder per vendor behind [`PmsSource`] — `mod.rs` (the wire: requests,
//! paging, errors) and `map.rs` (vendor records → residents, pure, tested from the captured
//! samples) — and one line per vendor in [`connectors!`]'s table below.
//!
//! Adding a PMS: its folder, its fake in `fakes/src/`, and one line in the table
//! (docs/connectors.md#adding-a-pms).

pub mod appfolio;
pub mod buildium;
pub mod entrata;
mod mits;
pub mod mri;
mod paging;
pub mod provider;
pub mod realpage;
pub mod rentmanager;
pub mod resman;
pub mod soap;
pub mod yardi;

use std::future::Future;
use std::sync::Arc;

use crate::api::PmsProvider;
use crate::credentials::{Credentials, MissingKey, SecretData};
use crate::domain::Resident;
use crate::http::{HttpClient, HttpError, RateLimit, RateLimiter};
pub use provider::{Config, Descriptor};

/// Reads the residents of one property.
pub trait PmsSource: Send + Sync {
    /// Every resident (person on a lease) of `property_id`. An error means the property's data is
    /// unusable this run: the caller leaves its users untouched.
    fn list_residents(&self, property_id: &str) -> impl Future<Output = Result<Vec<Resident>, PmsError>> + Send;

    /// Whether [`read`](Self::read) can return only what changed since a moment (the vendor
    /// filters by modification time). Others are always read in full.
    fn reads_changes(&self) -> bool {
        false
    }

    /// A read of `property_id`: with `since`, at least every resident whose records changed at or
    /// after it (a vendor that cannot filter ignores it and returns everyone); without, everyone.
    /// The listing carries the vendor's clock when it reported one, for the next watermark.
    fn read(
        &self,
        property_id: &str,
        since: Option<jiff::Timestamp>,
    ) -> impl Future<Output = Result<Listing, PmsError>> + Send {
        let _ = since;
        async move { Ok(Listing { residents: self.list_residents(property_id).await?, clock: None }) }
    }

    /// What changed at several properties since one moment, in as few requests as the vendor
    /// allows (Buildium's listings take a list of properties), one listing per property in the
    /// order asked. `None`: this vendor reads each property alone (so does the caller after an
    /// error, keeping one property's trouble to that property).
    fn read_together(
        &self,
        property_ids: &[String],
        since: jiff::Timestamp,
    ) -> impl Future<Output = Option<Result<Vec<Listing>, PmsError>>> + Send {
        let _ = (property_ids, since);
        async { None }
    }
}

/// What one read of a property returned.
#[derive(Debug, Default)]
pub struct Listing {
    pub residents: Vec<Resident>,
    /// The vendor's clock at the first answer (its `Date` header), when it sent one.
    pub clock: Option<jiff::Timestamp>,
}

/// The time in an HTTP `Date` header (RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
/// Anything else, or none, is `None`: the caller falls back to its own clock.
pub(crate) fn vendor_clock(response: &reqwest::Response) -> Option<jiff::Timestamp> {
    crate::http::http_date(response.headers().get(reqwest::header::DATE)?.to_str().ok()?)
}

/// Why a property could not be read. Messages carry statuses and vendor error codes only.
#[derive(Debug, thiserror::Error)]
pub enum PmsError {
    #[error("the PMS rejected the credentials (HTTP {status})")]
    Unauthorized { status: u16 },
    #[error("the PMS rejected the request (HTTP {status}{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Rejected { status: u16, code: Option<String> },
    #[error("the PMS is unavailable: {0}")]
    Unavailable(#[from] HttpError),
    #[error("the PMS sent an unreadable response: {0}")]
    InvalidResponse(String),
    #[error("the PMS data is incomplete: {0}")]
    Incomplete(String),
    #[error("the PMS license does not allow this call: {0}")]
    NotLicensed(String),
}

impl PmsError {
    /// Retrying cannot fix rejected credentials; everything else may pass.
    pub fn is_permanent(&self) -> bool {
        matches!(self, PmsError::Unauthorized { .. } | PmsError::NotLicensed(_))
    }

    /// The error for a non-success HTTP status, or `None` for a success: 401/403 are rejected
    /// credentials, anything else a rejected request (429 and 5xx never get here: the HTTP client
    /// retries them and reports [`HttpError::Exhausted`]).
    pub fn from_status(status: reqwest::StatusCode) -> Option<PmsError> {
        let code = status.as_u16();
        match code {
            _ if status.is_success() => None,
            401 | 403 => Some(PmsError::Unauthorized { status: code }),
            _ => Some(PmsError::Rejected { status: code, code: None }),
        }
    }
}

/// A provider in the spec that this build has no connector for.
#[derive(Debug, thiserror::Error)]
#[error("provider {0:?} is not supported by this version of pms-sync (supported: {list})", list = supported().join(", "))]
pub struct UnsupportedProvider(pub &'static str);

/// Everything wrong with a connector's configuration, found before any call.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorConfigError {
    #[error(transparent)]
    Unsupported(#[from] UnsupportedProvider),
    #[error(transparent)]
    MissingKey(#[from] MissingKey),
    #[error("{0}")]
    Invalid(String),
}

/// How to reach one integration's PMS, as the spec says.
pub struct ConnectorOptions<'a> {
    pub provider: PmsProvider,
    pub base_url: Option<&'a str>,
    pub property_ids: &'a [String],
    /// Overrides the vendor's default budget (`spec.pms.maxRequestsPerMinute`).
    pub max_requests_per_minute: Option<u32>,
}

/// How to reach one integration's PMS, checked against its provider's [`Descriptor`]: building a
/// [`Connector`] from it cannot fail.
#[derive(Clone, Debug)]
pub struct ConnectorConfig {
    build: fn(Config, HttpClient) -> Connector,
    config: Config,
    limit: RateLimit,
}

/// Checks provider support, base URL, property IDs and Secret keys without calling anyone.
pub fn check(options: &ConnectorOptions<'_>, secret: &SecretData) -> Result<ConnectorConfig, ConnectorConfigError> {
    let (descriptor, build) = entry(options.provider).ok_or(UnsupportedProvider(options.provider.as_str()))?;
    let config = descriptor.check(options.base_url, options.property_ids, secret)?;
    let limit = options.max_requests_per_minute.map_or(descriptor.default_limit, RateLimit::per_minute);
    Ok(ConnectorConfig { build, config, limit })
}

impl ConnectorConfig {
    /// The API's base URL.
    pub fn base_url(&self) -> &reqwest::Url {
        &self.config.base_url
    }

    /// The vendor host called (`host:port`): what fair scheduling shares out.
    pub fn host(&self) -> String {
        let url = &self.config.base_url;
        format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or(0))
    }

    /// The checked credentials (to name the vendor account they belong to).
    pub fn credentials(&self) -> &Credentials {
        &self.config.credentials
    }
}

/// The connector table: one line per supported provider (`Variant => module::Type`). It makes the
/// [`Connector`] enum, its dispatch, and [`DESCRIPTORS`] (each module's `DESCRIPTOR`); a module
/// provides `DESCRIPTOR`, `Type::new(Config, HttpClient) -> Type` and `impl PmsSource for Type`.
macro_rules! connectors {
    ($($variant:ident => $module:ident :: $kind:ident),+ $(,)?) => {
        /// The configured connector of one integration.
        pub enum Connector {
            $($variant($module::$kind),)+
        }

        /// Every supported provider's facts, in table order.
        pub const DESCRIPTORS: &[Descriptor] = &[$($module::DESCRIPTOR,)+];

        /// The descriptor and constructor of `provider`, if this build has a connector for it.
        fn entry(provider: PmsProvider) -> Option<(&'static Descriptor, fn(Config, HttpClient) -> Connector)> {
            match provider {
                $(PmsProvider::$variant => Some((&$module::DESCRIPTOR, |c, h| Connector::$variant($module::$kind::new(c, h)))),)+
                #[allow(unreachable_patterns)]
                _ => None,
            }
        }

        impl PmsSource for Connector {
            async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
                match self {
                    $(Connector::$variant(c) => c.list_residents(property_id).await,)+
                }
            }

            fn reads_changes(&self) -> bool {
                match self {
                    $(Connector::$variant(c) => c.reads_changes(),)+
                }
            }

            async fn read(&self, property_id: &str, since: Option<jiff::Timestamp>) -> Result<Listing, PmsError> {
                match self {
                    $(Connector::$variant(c) => c.read(property_id, since).await,)+
                }
            }

            async fn read_together(
                &self,
                property_ids: &[String],
                since: jiff::Timestamp,
            ) -> Option<Result<Vec<Listing>, PmsError>> {
                match self {
                    $(Connector::$variant(c) => c.read_together(property_ids, since).await,)+
                }
            }
        }
    };
}

connectors! {
    Buildium => buildium::Buildium,
    Entrata => entrata::Entrata,
    Appfolio => appfolio::Appfolio,
    Yardi => yardi::Yardi,
    Realpage => realpage::Realpage,
    Resman => resman::Resman,
    Mri => mri::Mri,
    Rentmanager => rentmanager::Rentmanager,
}

/// The names of the supported providers, in table order.
pub fn supported() -> Vec<&'static str> {
    DESCRIPTORS.iter().map(|d| d.provider.as_str()).collect()
}

impl Connector {
    /// The connector of a checked configuration. `limiter` hands out the integration's rate
    /// limiter for the budget in force.
    pub fn new(config: ConnectorConfig, http: HttpClient, limiter: &dyn Fn(RateLimit) -> Arc<RateLimiter>) -> Self {
        (config.build)(config.config, http.with_limiter(limiter(config.limit)))
    }
}

/// Parses a vendor date: ISO `YYYY-MM-DD` (a timestamp's date part) or US `MM/DD/YYYY` (Yardi,
/// Entrata), with or without a time after it.
pub(crate) fn parse_date(value: Option<&str>) -> Option<crate::domain::Date> {
    let v = value?.trim();
    if let Some((month, rest)) = v.split_once('/') {
        let (day, year) = rest.split_once('/')?;
        let year: i16 = year.get(..4)?.parse().ok()?;
        return crate::domain::Date::new(year, month.trim().parse().ok()?, day.trim().parse().ok()?).ok();
    }
    v.get(..10).unwrap_or(v).parse().ok()
}

/// A vendor's status word matched loosely: "notice" and "evict" first, whatever the vendor (a
/// "Current - Notice" resident is on notice), then the status of the first row of the vendor's
/// `table` with a word the lowercased text contains, else `unknown` (never access; reported and
/// mappable).
pub(crate) fn loose_status(
    raw: &str,
    table: &[(&[&str], crate::domain::ResidentStatus)],
) -> crate::domain::ResidentStatus {
    use crate::domain::ResidentStatus::{Evicted, Notice, Unknown};
    let text = raw.trim().to_ascii_lowercase();
    let first: [(&[&str], crate::domain::ResidentStatus); 2] = [(&["notice"], Notice), (&["evict"], Evicted)];
    first
        .iter()
        .chain(table)
        .find(|(words, _)| words.iter().any(|w| text.contains(w)))
        .map_or(Unknown, |(_, status)| *status)
}

/// A vendor row that names a person but carries no ID for them.
#[derive(Debug)]
pub(crate) struct MissingId;

/// What one vendor row is: a resident, a person without an ID, or `None` for a row that is no
/// person here (another property's, a vacant unit).
pub(crate) type Row = Option<Result<Resident, MissingId>>;

/// Gathers a listing's residents. A person without an ID cannot be told apart from anyone else,
/// and dropping them silently would deprovision them: such rows are counted and fail the property.
#[derive(Default)]
pub(crate) struct People {
    residents: Vec<Resident>,
    missing_ids: usize,
}

impl People {
    pub fn push(&mut self, row: Row) {
        match row {
            Some(Ok(resident)) => self.residents.push(resident),
            Some(Err(MissingId)) => self.missing_ids += 1,
            None => {}
        }
    }

    pub fn len(&self) -> usize {
        self.residents.len() + self.missing_ids
    }

    /// The residents, or an incomplete property when anyone came without an ID. A person listed
    /// twice (on several leases) stays twice: the core picks the listing that decides
    /// (`domain::desired_users`).
    pub fn finish(self, what: &str) -> Result<Vec<Resident>, PmsError> {
        match self.missing_ids {
            0 => Ok(self.residents),
            n => Err(PmsError::Incomplete(format!("{what}: {n} people without an ID"))),
        }
    }
}

/// Most rows (leases, tenants, directory rows) one property's listing may hold. A 10,000-unit
/// building has some 25,000 people; far more is a vendor paging without end, which must not
/// grow the controller's memory with every page.
pub const MAX_ROWS_PER_PROPERTY: usize = 100_000;

/// Fails a listing that passed [`MAX_ROWS_PER_PROPERTY`].
pub(crate) fn check_rows(rows: usize, what: &str) -> Result<(), PmsError> {
    if rows > MAX_ROWS_PER_PROPERTY {
        return Err(PmsError::Incomplete(format!("{what} returned more than {MAX_ROWS_PER_PROPERTY} rows")));
    }
    Ok(())
}

/// Reads a vendor's JSON body within the client's body cap. `what` names the call in the error;
/// serde's message is not kept (it quotes values, which may be personal data).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    http: &HttpClient,
    response: reqwest::Response,
    what: &str,
) -> Result<T, PmsError> {
    http.json(response).await.map_err(|e| match e {
        Some(e) => PmsError::InvalidResponse(format!("{what}: {e}")),
        None => PmsError::InvalidResponse(format!("{what} did not return the expected JSON")),
    })
}

/// The first of `names` present in a JSON record (keys matched without regard to case), as
/// trimmed text: a string, or a number written out. `None` for null, empty or anything else.
pub(crate) fn json_text(record: &serde_json::Map<String, serde_json::Value>, names: &[&str]) -> Option<String> {
    use serde_json::Value;
    names.iter().find_map(|name| {
        let value = record.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)?;
        let text = match value {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        (!text.is_empty()).then_some(text)
    })
}

/// A vendor's page link, resolved against `base`, when it stays on `base`'s scheme, host and
/// port: credentials go with the next request and must never go anywhere else.
pub(crate) fn same_origin(base: &reqwest::Url, link: &str, what: &str) -> Result<reqwest::Url, PmsError> {
    let url = base.join(link).map_err(|_| PmsError::InvalidResponse(format!("{what} is not a URL")))?;
    if url.origin() != base.origin() {
        return Err(PmsError::InvalidResponse(format!("{what} points to another host")));
    }
    Ok(url)
}

/// Joins a base URL and an absolute API path without doubling or dropping slashes.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod table_tests {
    use super::*;

    /// The README's credentials table is checked against the provider table: a row per supported
    /// provider naming every Secret key and the default base URL, and no row for another PMS.
    #[test]
    fn the_readme_credentials_table_follows_the_provider_table() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
        for d in DESCRIPTORS {
            let name = d.provider.as_str();
            let row = rows
                .iter()
                .find(|r| r.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("README has no credentials row for {name}"));
            for key in d.all_secret_keys() {
                assert!(row.contains(&format!("`{key}`")), "README's {name} row does not name the key {key}");
            }
            match d.base_url {
                provider::BaseUrl::Default(url) => {
                    assert!(row.contains(url) || row.contains("default"), "README's {name} row: default {url}")
                }
                provider::BaseUrl::Required(_) => assert!(row.contains("required"), "README's {name} row: required"),
            }
        }
    }

    /// Every provider the schema accepts has a connector: nothing is refused as unsupported.
    #[test]
    fn every_provider_in_the_schema_is_supported() {
        use PmsProvider::*;
        let all = [Buildium, Entrata, Appfolio, Yardi, Realpage, Rentmanager, Resman, Mri];
        // Adding a variant breaks this match: the list above must grow with it.
        for provider in all {
            match provider {
                Buildium | Entrata | Appfolio | Yardi | Realpage | Rentmanager | Resman | Mri => {}
            }
            assert!(entry(provider).is_some(), "{provider:?}");
        }
        assert_eq!(supported().len(), all.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_without_an_id_fail_the_listing_and_rows_naming_nobody_are_skipped() {
        let resident = || Resident::new("1", "7", "Current", crate::domain::ResidentStatus::Current);
        let mut people = People::default();
        people.push(Some(Ok(resident())));
        people.push(None);
        assert_eq!(people.len(), 1);
        assert_eq!(people.finish("x").unwrap().len(), 1);
        let mut people = People::default();
        people.push(Some(Ok(resident())));
        people.push(Some(Err(MissingId)));
        let err = people.finish("GetResidents").unwrap_err();
        assert!(matches!(&err, PmsError::Incomplete(m) if m == "GetResidents: 1 people without an ID"), "{err}");
    }

    #[test]
    fn dates_parse_in_iso_and_us_forms() {
        let d = |s| parse_date(Some(s)).map(|d| d.to_string());
        assert_eq!(d("2025-01-31"), Some("2025-01-31".into()));
        assert_eq!(d("2025-01-31T00:00:00"), Some("2025-01-31".into()));
        assert_eq!(d("01/31/2025"), Some("2025-01-31".into()));
        assert_eq!(d("1/5/2025 12:00:00 AM"), Some("2025-01-05".into()));
        assert_eq!(d("13/45/2025"), None);
        assert_eq!(d(""), None);
    }
}

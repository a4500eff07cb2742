//! PMS connectors: one module per vendor behind [`PmsSource`].
//!
//! Adding a PMS is one new module, its fake in `tests/support/`, and one arm in [`Connector`]'s
//! matches (the compiler lists every place).

pub mod buildium;

use std::future::Future;

use crate::api::PmsProvider;
use crate::credentials::{MissingKey, SecretData};
use crate::http::{HttpClient, HttpError};
use crate::sync::Resident;

/// Reads the residents of one property.
pub trait PmsSource: Send + Sync {
    /// Every resident (person on a lease) of `property_id`. An error means the property's data is
    /// unusable this run: the caller leaves its users untouched.
    fn list_residents(&self, property_id: &str) -> impl Future<Output = Result<Vec<Resident>, PmsError>> + Send;
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
}

impl PmsError {
    /// Retrying cannot fix rejected credentials; everything else may pass.
    pub fn is_permanent(&self) -> bool {
        matches!(self, PmsError::Unauthorized { .. })
    }
}

/// A provider in the spec that this build has no connector for.
#[derive(Debug, thiserror::Error)]
#[error("provider {0:?} is not supported by this version of pms-sync (supported: buildium)")]
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

/// Whether this build has a connector for `provider`; checked before any Secret is read.
pub fn check_supported(provider: PmsProvider) -> Result<(), UnsupportedProvider> {
    match provider {
        PmsProvider::Buildium => Ok(()),
        other => Err(UnsupportedProvider(other.as_str())),
    }
}

/// The configured connector of one integration.
pub enum Connector {
    Buildium(buildium::Buildium),
}

impl Connector {
    /// Checks provider support, Secret keys, base URL and property IDs without calling anyone.
    pub fn new(
        provider: PmsProvider,
        base_url: Option<&str>,
        property_ids: &[String],
        secret: &SecretData,
        http: HttpClient,
    ) -> Result<Self, ConnectorConfigError> {
        match provider {
            PmsProvider::Buildium => Ok(Self::Buildium(buildium::Buildium::new(base_url, property_ids, secret, http)?)),
            other => Err(UnsupportedProvider(other.as_str()).into()),
        }
    }
}

impl PmsSource for Connector {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        match self {
            Connector::Buildium(c) => c.list_residents(property_id).await,
        }
    }
}

/// Parses a vendor date, accepting a full timestamp by taking its date part.
pub(crate) fn parse_date(value: Option<&str>) -> Option<crate::sync::Date> {
    let v = value?.trim();
    v.get(..10).unwrap_or(v).parse().ok()
}

/// Joins a base URL and an absolute API path without doubling or dropping slashes.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

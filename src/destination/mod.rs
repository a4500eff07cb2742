//! Destinations: one module per access-control target behind [`Destination`].

pub mod scim;

use std::future::Future;

use crate::credentials::MissingKey;
use crate::http::HttpError;
use crate::sync::{Action, ManagedUser};

/// Where residents are provisioned.
pub trait Destination: Send + Sync {
    /// Every user carrying an identity that starts with `prefix` (ours); nobody else's.
    fn list_managed(&self, prefix: &str) -> impl Future<Output = Result<Vec<ManagedUser>, DestinationError>> + Send;

    /// Users whose `userName` or any email equals one of `emails` (case-insensitive), ours or not;
    /// a user without `externalId` has an empty one. Used before creating, to adopt or report.
    fn find_by_emails(
        &self,
        emails: &[String],
    ) -> impl Future<Output = Result<Vec<ManagedUser>, DestinationError>> + Send;

    /// Carries out one planned write.
    fn apply(&self, action: &Action) -> impl Future<Output = Result<(), DestinationError>> + Send;
}

/// Why a destination call failed. Messages carry statuses and protocol error types only.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("the destination rejected the credentials (HTTP {status})")]
    Unauthorized { status: u16 },
    #[error("the destination reported a conflict (HTTP 409{})", scim_type.as_deref().map(|t| format!(", {t}")).unwrap_or_default())]
    Conflict { scim_type: Option<String> },
    #[error("the destination rejected the request (HTTP {status}{})", detail.as_deref().map(|t| format!(", {t}")).unwrap_or_default())]
    Rejected { status: u16, detail: Option<String> },
    #[error("the destination is unavailable: {0}")]
    Unavailable(#[from] HttpError),
    #[error("the destination sent an unreadable response: {0}")]
    InvalidResponse(String),
}

impl DestinationError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, DestinationError::Unauthorized { .. })
    }
}

/// Everything wrong with a destination's configuration, found before any call.
#[derive(Debug, thiserror::Error)]
pub enum DestinationConfigError {
    #[error(transparent)]
    MissingKey(#[from] MissingKey),
    #[error("{0}")]
    Invalid(String),
}

/// The configured destination of one integration.
pub enum Target {
    Scim(scim::Scim),
}

impl Destination for Target {
    async fn list_managed(&self, prefix: &str) -> Result<Vec<ManagedUser>, DestinationError> {
        match self {
            Target::Scim(d) => d.list_managed(prefix).await,
        }
    }

    async fn find_by_emails(&self, emails: &[String]) -> Result<Vec<ManagedUser>, DestinationError> {
        match self {
            Target::Scim(d) => d.find_by_emails(emails).await,
        }
    }

    async fn apply(&self, action: &Action) -> Result<(), DestinationError> {
        match self {
            Target::Scim(d) => d.apply(action).await,
        }
    }
}

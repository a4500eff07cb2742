//! Destinations: one module per access-control target behind [`Destination`].

pub mod door;
pub mod scim;

use std::future::Future;

use crate::credentials::MissingKey;
use crate::domain::{Action, ManagedUser, UserRecord};
use crate::http::HttpError;

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

    /// Whether `existing` must be rewritten to become `desired`. By default the profile fields we
    /// own; a destination that stores access (DOOR: doors, keys, start and end) compares that.
    fn differs(&self, existing: &ManagedUser, desired: &UserRecord) -> bool {
        existing.record.differs_from(desired)
    }

    /// Whether this destination keeps a user for `desired` at all (DOOR has no user without a
    /// grant). A user it does not hold is planned like a resident without access.
    fn holds(&self, _desired: &UserRecord) -> bool {
        true
    }

    /// Called once after the writes of a run, whatever their outcome, to save the destination's
    /// own bookkeeping.
    fn finish(&self) -> impl Future<Output = Result<(), DestinationError>> + Send {
        async { Ok(()) }
    }
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
    #[error("the destination has no {0}")]
    NotFound(String),
    /// A write the destination's rules forbid, found before sending; named like the
    /// destination's own error enum (DOOR's `EMAIL_OR_PHONE_REQUIRED`, …).
    #[error("not sent: {0}")]
    Unsendable(&'static str),
    /// The destination's bookkeeping in the cluster (DOOR's identity map).
    #[error("identity map: {0}")]
    Store(String),
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
    Scim(Box<scim::Scim>),
    Door(Box<door::DoorDestination>),
}

impl Destination for Target {
    async fn list_managed(&self, prefix: &str) -> Result<Vec<ManagedUser>, DestinationError> {
        match self {
            Target::Scim(d) => d.list_managed(prefix).await,
            Target::Door(d) => d.list_managed(prefix).await,
        }
    }

    async fn find_by_emails(&self, emails: &[String]) -> Result<Vec<ManagedUser>, DestinationError> {
        match self {
            Target::Scim(d) => d.find_by_emails(emails).await,
            Target::Door(d) => d.find_by_emails(emails).await,
        }
    }

    async fn apply(&self, action: &Action) -> Result<(), DestinationError> {
        match self {
            Target::Scim(d) => d.apply(action).await,
            Target::Door(d) => d.apply(action).await,
        }
    }

    fn differs(&self, existing: &ManagedUser, desired: &UserRecord) -> bool {
        match self {
            Target::Scim(d) => d.differs(existing, desired),
            Target::Door(d) => d.differs(existing, desired),
        }
    }

    fn holds(&self, desired: &UserRecord) -> bool {
        match self {
            Target::Scim(d) => d.holds(desired),
            Target::Door(d) => d.holds(desired),
        }
    }

    async fn finish(&self) -> Result<(), DestinationError> {
        match self {
            Target::Scim(d) => d.finish().await,
            Target::Door(d) => d.finish().await,
        }
    }
}

//! Destinations: one module per access-control target behind [`Destination`].

pub mod door;
pub mod scim;

use std::future::Future;

use std::collections::BTreeSet;

use crate::domain::groups::GroupPlan;
use crate::domain::{Action, ManagedUser, Scope, UserRecord};
use crate::http::HttpError;

/// Where residents are provisioned. A run starts with [`begin`](Destination::begin), which
/// lists this integration's users and loads whatever else the destination needs (DOOR: the
/// building, its users, the identity map); every other call is on the run it returns, which ends
/// with [`DestinationRun::finish`]. The order is the compiler's to keep, not the caller's.
pub trait Destination: Send + Sync {
    /// One run's view of the destination.
    type Run<'a>: DestinationRun + 'a
    where
        Self: 'a;

    /// Starts a run: every user carrying an identity that starts with `prefix` (ours; nobody
    /// else's), and the run to plan and write with.
    fn begin<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Future<Output = Result<Begun<Self::Run<'a>>, DestinationError>> + Send + 'a;

    /// Starts a run that needs only the users carrying one of `identities` (an incremental run),
    /// looking them up rather than listing everyone where the destination can. By default, a full
    /// [`begin`](Self::begin) kept to them.
    fn begin_for<'a>(
        &'a self,
        prefix: &'a str,
        identities: &BTreeSet<String>,
    ) -> impl Future<Output = Result<Begun<Self::Run<'a>>, DestinationError>> + Send {
        async move {
            let Begun { run, mut managed } = self.begin(prefix).await?;
            managed.retain(|u| identities.contains(&u.record.external_id));
            Ok(Begun { run, managed })
        }
    }
}

/// A run that has begun, with the users it found.
pub struct Begun<R> {
    pub run: R,
    pub managed: Vec<ManagedUser>,
}

/// The calls of one run, after [`Destination::begin`].
pub trait DestinationRun: Send + Sync {
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

    /// Whether this destination starts and ends access at the given dates by itself (DOOR's
    /// grants carry start and end times): then no run is needed at a move-in or move-out.
    fn schedules(&self) -> bool {
        false
    }

    /// The group changes that bring this destination's groups (SCIM groups) in line with `users`
    /// (the desired users), leaving the memberships of `frozen` identities as they are. Reads
    /// only; a destination without groups plans none.
    fn plan_groups(
        &self,
        _scope: &Scope,
        _users: &[UserRecord],
        _frozen: &BTreeSet<String>,
    ) -> impl Future<Output = Result<GroupPlan, DestinationError>> + Send {
        async { Ok(GroupPlan::default()) }
    }

    /// Carries out a group plan, after the user writes (new users have IDs by then).
    fn apply_groups(&self, _plan: &GroupPlan) -> impl Future<Output = GroupOutcome> + Send {
        async { GroupOutcome::default() }
    }

    /// Ends the run once, after its writes, whatever their outcome: the destination saves its own
    /// bookkeeping (DOOR's identity map).
    fn finish(self) -> impl Future<Output = Result<(), DestinationError>> + Send
    where
        Self: Sized,
    {
        async { Ok(()) }
    }
}

/// What carrying out a group plan did.
#[derive(Debug, Default)]
pub struct GroupOutcome {
    pub created: u64,
    pub added: u64,
    pub removed: u64,
    pub errors: Vec<DestinationError>,
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
    /// The controller's bookkeeping in the cluster (DOOR's identity map, the record of
    /// deactivations); the message names the ConfigMap.
    #[error("controller state: {0}")]
    Store(String),
    /// The controller's record of what is ours is gone though the integration synced before:
    /// nothing is written (starting afresh would keep every grant it no longer knows of).
    #[error("controller state lost: {0}")]
    StateLost(String),
}

impl DestinationError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, DestinationError::Unauthorized { .. } | DestinationError::StateLost(_))
    }
}

/// The configured destination of one integration.
pub enum Target {
    Scim(Box<scim::Scim>),
    Door(Box<door::DoorDestination>),
}

impl Destination for Target {
    type Run<'a> = TargetRun<'a>;

    async fn begin_for<'a>(
        &'a self,
        prefix: &'a str,
        identities: &BTreeSet<String>,
    ) -> Result<Begun<TargetRun<'a>>, DestinationError> {
        Ok(match self {
            Target::Scim(d) => {
                let Begun { run, managed } = d.begin_for(prefix, identities).await?;
                Begun { run: TargetRun::Scim(run), managed }
            }
            Target::Door(d) => {
                let Begun { run, managed } = d.begin_for(prefix, identities).await?;
                Begun { run: TargetRun::Door(run), managed }
            }
        })
    }

    async fn begin<'a>(&'a self, prefix: &'a str) -> Result<Begun<TargetRun<'a>>, DestinationError> {
        Ok(match self {
            Target::Scim(d) => {
                let Begun { run, managed } = d.begin(prefix).await?;
                Begun { run: TargetRun::Scim(run), managed }
            }
            Target::Door(d) => {
                let Begun { run, managed } = d.begin(prefix).await?;
                Begun { run: TargetRun::Door(run), managed }
            }
        })
    }
}

/// A run of the configured destination.
pub enum TargetRun<'a> {
    Scim(&'a scim::Scim),
    Door(&'a door::DoorDestination),
}

impl DestinationRun for TargetRun<'_> {
    async fn find_by_emails(&self, emails: &[String]) -> Result<Vec<ManagedUser>, DestinationError> {
        match self {
            TargetRun::Scim(d) => d.find_by_emails(emails).await,
            TargetRun::Door(d) => d.find_by_emails(emails).await,
        }
    }

    async fn apply(&self, action: &Action) -> Result<(), DestinationError> {
        match self {
            TargetRun::Scim(d) => d.apply(action).await,
            TargetRun::Door(d) => d.apply(action).await,
        }
    }

    fn differs(&self, existing: &ManagedUser, desired: &UserRecord) -> bool {
        match self {
            TargetRun::Scim(d) => d.differs(existing, desired),
            TargetRun::Door(d) => d.differs(existing, desired),
        }
    }

    fn holds(&self, desired: &UserRecord) -> bool {
        match self {
            TargetRun::Scim(d) => d.holds(desired),
            TargetRun::Door(d) => d.holds(desired),
        }
    }

    fn schedules(&self) -> bool {
        match self {
            TargetRun::Scim(d) => d.schedules(),
            TargetRun::Door(d) => d.schedules(),
        }
    }

    async fn plan_groups(
        &self,
        scope: &Scope,
        users: &[UserRecord],
        frozen: &BTreeSet<String>,
    ) -> Result<GroupPlan, DestinationError> {
        match self {
            TargetRun::Scim(d) => d.plan_groups(scope, users, frozen).await,
            TargetRun::Door(d) => d.plan_groups(scope, users, frozen).await,
        }
    }

    async fn apply_groups(&self, plan: &GroupPlan) -> GroupOutcome {
        match self {
            TargetRun::Scim(d) => d.apply_groups(plan).await,
            TargetRun::Door(d) => d.apply_groups(plan).await,
        }
    }

    async fn finish(self) -> Result<(), DestinationError> {
        match self {
            TargetRun::Scim(d) => d.finish().await,
            TargetRun::Door(d) => d.finish().await,
        }
    }
}

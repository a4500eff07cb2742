//! The domain core: residents, statuses, identity, desired users and the plan.
//!
//! Nothing here knows about Kubernetes or HTTP, so every rule that decides who can open a door is
//! unit- and property-tested in isolation (docs/decisions.md).

pub mod adopt;
pub mod boundary;
pub mod breaker;
pub mod desired;
pub mod groups;
pub mod model;
pub mod placeholder;
pub mod plan;
pub mod retention;
pub mod user;

pub use adopt::Conflict;
pub use breaker::{Guard, HoldReason};
pub use desired::{DesiredSet, Exclusions, Policy, desired_users};
pub use model::{Date, Entitlement, Phone, PhoneKind, REDACTED, Resident, ResidentRole, ResidentStatus};
pub use plan::{Action, DeprovisionMode, Plan, plan, plan_with};
pub use retention::Deactivations;
pub use user::{ManagedUser, Scope, UserRecord};

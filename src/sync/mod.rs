//! The domain core: residents, statuses, identity, desired users and the plan.
//!
//! Nothing here knows about Kubernetes or HTTP, so every rule that decides who can open a door is
//! unit- and property-tested in isolation (linkerd's policy-controller keeps `core` apart likewise).

pub mod desired;
pub mod model;
pub mod plan;
pub mod user;

pub use desired::{DesiredSet, Exclusions, desired_users};
pub use model::{Access, Date, Phone, PhoneKind, Resident, ResidentStatus};
pub use plan::{Action, DeprovisionMode, Plan, plan};
pub use user::{ManagedUser, Scope, UserRecord};

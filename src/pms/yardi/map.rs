//! Yardi statuses → normalized statuses (docs/connectors.md#yardi-voyager). The households
//! themselves are MITS ResidentTransactions 2.0 (`crate::pms::mits`, shared with ResMan).

use crate::domain::ResidentStatus;

/// Yardi statuses (exact list unpublished, docs/connectors.md#statuses): `Customer@Type` values seen are
/// "current resident", "future resident", "applicant" and "customer" (a roommate, whose status is
/// the household's); GetCovered's sync also expects Past, Notice, Eviction, Canceled, Wait List and
/// Denied. Matched loosely; anything else is `unknown` (overridable).
const STATUSES: &[(&[&str], ResidentStatus)] = &[
    (&["current"], ResidentStatus::Current),
    (&["future"], ResidentStatus::Future),
    (&["past", "former"], ResidentStatus::Past),
    (&["cancel", "denied"], ResidentStatus::Cancelled),
    (&["applicant", "waitlist", "wait list"], ResidentStatus::Applicant),
];

/// A status word normalized by [`STATUSES`], after "notice" and "evict" (`pms::loose_status`).
pub fn normalize(raw: &str) -> ResidentStatus {
    crate::pms::loose_status(raw, STATUSES)
}

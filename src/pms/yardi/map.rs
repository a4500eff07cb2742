//! Yardi statuses → normalized statuses (docs/connectors.md#yardi-voyager). The households
//! themselves are MITS ResidentTransactions 2.0 (`crate::pms::mits`, shared with ResMan).

use crate::domain::ResidentStatus;

/// Yardi statuses (exact list unpublished, docs/connectors.md#statuses): `Customer@Type` values seen are
/// "current resident", "future resident", "applicant" and "customer" (a roommate, whose status is
/// the household's); GetCovered's sync also expects Past, Notice, Eviction, Canceled, Wait List and
/// Denied. Matched loosely; anything else is `unknown` (overridable).
pub fn normalize(raw: &str) -> ResidentStatus {
    use ResidentStatus::*;
    crate::pms::loose_status(
        raw,
        &[
            (&["notice"], Notice),
            (&["evict"], Evicted),
            (&["current"], Current),
            (&["future"], Future),
            (&["past", "former"], Past),
            (&["cancel", "denied"], Cancelled),
            (&["applicant", "waitlist", "wait list"], Applicant),
        ],
    )
}

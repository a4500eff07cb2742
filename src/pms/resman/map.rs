//! ResMan statuses → normalized statuses (docs/connectors.md#resman). The households themselves
//! are MITS (`crate::pms::mits`).

use crate::domain::ResidentStatus;

/// `Customer@Type` in the captures: "current resident", "former resident", "future resident".
/// ResMan's own lease words (its partners API lists Pending, Pending Renewal, Pending Transfer,
/// Denied, Cancelled, Current, Notice to Vacate, Month to Month, Under Eviction, Former, Evicted,
/// Renewed) are read too, should a type carry them. Anything else is `unknown` (overridable).
const STATUSES: &[(&[&str], ResidentStatus)] = &[
    (&["current", "month to month", "renewed", "pending renewal", "pending transfer"], ResidentStatus::Current),
    (&["future"], ResidentStatus::Future),
    (&["former", "past"], ResidentStatus::Past),
    (&["cancel", "denied"], ResidentStatus::Cancelled),
    (&["pending", "applicant"], ResidentStatus::Applicant),
];

/// A status word normalized by [`STATUSES`], after "notice" and "evict" (`pms::loose_status`).
pub fn normalize(raw: &str) -> ResidentStatus {
    crate::pms::loose_status(raw, STATUSES)
}

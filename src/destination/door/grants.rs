//! Pure grant arithmetic for DOOR: which doors and keys a resident should hold, over which
//! window, and the fewest calls that turn the grants we made into those.
//!
//! DOOR's `PATCH /v1/users/{u}/doors/{d}` changes only `endTime` (and role, shareable); a new start,
//! or an end that must be cleared, takes a revoke and a new grant.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::UserRecord;

/// A grant we hold on one door or key of one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// What one resident should hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Door and key UUIDs.
    pub targets: BTreeSet<String>,
    /// `Some` for access that starts in the future (scheduled); `None` means "already started".
    pub start: Option<Timestamp>,
    /// Exclusive end: the start of the day after move-out, in the building's time zone.
    pub end: Option<Timestamp>,
    /// Set when the resident's unit has no door: the rest is still granted, and this is reported.
    pub missing_unit_door: bool,
}

/// The calls that bring held grants to the wanted ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantChanges {
    /// `DELETE /v1/users/{u}/doors/{d}`.
    pub revoke: Vec<String>,
    /// Granted anew (after the revoke, for a moved start or a cleared end).
    pub grant: Vec<String>,
    /// `PATCH … {endTime}`.
    pub patch_end: Vec<String>,
}

impl GrantChanges {
    pub fn is_empty(&self) -> bool {
        self.revoke.is_empty() && self.grant.is_empty() && self.patch_end.is_empty()
    }
}

/// A grant starting less than this after the run's "now" counts as started: it was granted "now"
/// by a clock a little ahead of ours (DOOR's, or a previous run's).
const CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(300);

/// Grant times are compared to the second: DOOR may echo them with another precision or offset.
fn same_instant(a: Timestamp, b: Timestamp) -> bool {
    a.as_second() == b.as_second()
}

pub use crate::domain::boundary::start_of_day;

/// How far beyond the run's "now" an end still is one. Past it an end means "no end": no lease
/// runs that long, and servers that must answer an end for an open grant (the spec requires
/// `endTime`) choose their own sentinel (`2099-12-31T23:59:59Z`, `2999-…`, `9999-…`). Read as a
/// real end, each would revoke and re-grant every open grant on every run.
pub const OPEN_END_HORIZON: jiff::SignedDuration = jiff::SignedDuration::from_hours(25 * 8766);

/// `end`, or `None` when it lies beyond [`OPEN_END_HORIZON`] from `now`: one rule for the ends
/// DOOR reports and the ends we want, so that the two always compare alike.
pub fn open_end(end: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    end.filter(|end| end.duration_since(now) <= OPEN_END_HORIZON)
}

/// What `desired` should hold in a building in `tz`, `now` being the time of the run.
/// `unit_door` is the door of the resident's unit, if one is known; `keys` every resident gets.
pub fn wanted(desired: &UserRecord, unit_door: Option<&str>, keys: &[String], tz: &TimeZone, now: Timestamp) -> Wanted {
    let mut targets: BTreeSet<String> = keys.iter().cloned().collect();
    if let Some(door) = unit_door {
        targets.insert(door.to_string());
    }
    let start = desired.access_from.map(|d| start_of_day(d, tz)).filter(|s| *s > now);
    let end = open_end(desired.access_until.and_then(|d| d.tomorrow().ok()).map(|d| start_of_day(d, tz)), now);
    Wanted { targets, start, end, missing_unit_door: desired.unit.is_none() || unit_door.is_none() }
}

/// Whether `held` is already what `wanted` asks for, `now` being the time of the run.
pub fn satisfied(held: &BTreeMap<String, Grant>, wanted: &Wanted, now: Timestamp) -> bool {
    changes(held, wanted, now).is_empty()
}

/// The calls from `held` (the grants we made, by door/key) to `wanted`.
pub fn changes(held: &BTreeMap<String, Grant>, wanted: &Wanted, now: Timestamp) -> GrantChanges {
    let mut out = GrantChanges::default();
    for (target, grant) in held {
        if !wanted.targets.contains(target) {
            out.revoke.push(target.clone());
            continue;
        }
        let start_ok = match wanted.start {
            Some(start) => same_instant(grant.start, start),
            // Access should have started: a grant still scheduled for later is granted anew.
            None => grant.start <= now.saturating_add(CLOCK_SKEW).unwrap_or(now),
        };
        let end_ok = match (grant.end, wanted.end) {
            (Some(a), Some(b)) => same_instant(a, b),
            (None, None) => true,
            _ => false,
        };
        if !start_ok || (grant.end.is_some() && wanted.end.is_none()) {
            out.revoke.push(target.clone());
            out.grant.push(target.clone());
        } else if !end_ok {
            out.patch_end.push(target.clone());
        }
    }
    out.grant.extend(wanted.targets.iter().filter(|t| !held.contains_key(*t)).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Date;
    use jiff::civil::date;

    fn now() -> Timestamp {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    fn record(unit: Option<&str>, from: Option<Date>, until: Option<Date>) -> UserRecord {
        UserRecord {
            unit: unit.map(str::to_string),
            access_from: from,
            access_until: until,
            active: from.is_none(),
            ..UserRecord::default()
        }
    }

    fn held(entries: &[(&str, &str, Option<&str>)]) -> BTreeMap<String, Grant> {
        entries
            .iter()
            .map(|(t, s, e)| (t.to_string(), Grant { start: s.parse().unwrap(), end: e.map(|e| e.parse().unwrap()) }))
            .collect()
    }

    /// An end more than 25 years ahead is no end, wanted or held: a server's sentinel for an open
    /// grant (2099-12-31T23:59:59Z from 2026) compares equal to the open grant we want.
    #[test]
    fn an_end_past_the_horizon_is_open_whether_wanted_or_held() {
        let sentinel: Timestamp = "2099-12-31T23:59:59Z".parse().unwrap();
        assert_eq!(open_end(Some(sentinel), now()), None);
        let in_24_years = now() + jiff::SignedDuration::from_hours(24 * 8766);
        assert_eq!(open_end(Some(in_24_years), now()), Some(in_24_years));
        assert_eq!(open_end(Some(now()), now()), Some(now()), "a past or present end stays an end");
        let tz = TimeZone::UTC;
        let open = wanted(&record(Some("4B"), None, None), Some("d4"), &[], &tz, now());
        let held = BTreeMap::from([("d4".to_string(), Grant { start: now(), end: open_end(Some(sentinel), now()) })]);
        assert!(satisfied(&held, &open, now()), "an idle run writes nothing");
        let far = wanted(&record(Some("4B"), None, Some(date(2090, 1, 1))), Some("d4"), &[], &tz, now());
        assert_eq!(far.end, None, "a move-out beyond the horizon is asked for as open, and compares alike");
    }

    #[test]
    fn future_move_in_is_scheduled_at_local_midnight_and_move_out_ends_after_that_day() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let w = wanted(
            &record(Some("4B"), Some(date(2026, 12, 15)), Some(date(2027, 6, 30))),
            Some("door-4b"),
            &["key-lobby".to_string()],
            &tz,
            now(),
        );
        assert_eq!(w.targets, ["door-4b", "key-lobby"].map(String::from).into());
        assert_eq!(w.start, Some("2026-12-15T05:00:00Z".parse().unwrap()));
        assert_eq!(w.end, Some("2027-07-01T04:00:00Z".parse().unwrap()));
        assert!(!w.missing_unit_door);
    }

    #[test]
    fn a_past_start_date_means_now_and_a_missing_unit_door_is_flagged() {
        let w = wanted(&record(Some("9Z"), Some(date(2026, 1, 1)), None), None, &[], &TimeZone::UTC, now());
        assert_eq!(w.start, None);
        assert!(w.targets.is_empty());
        assert!(w.missing_unit_door);
    }

    #[test]
    fn unchanged_grants_need_no_call() {
        let w =
            wanted(&record(Some("4B"), None, Some(date(2027, 1, 31))), Some("d"), &["k".into()], &TimeZone::UTC, now());
        let h = held(&[
            ("d", "2026-01-01T00:00:00Z", Some("2027-02-01T00:00:00+00:00")),
            ("k", "2026-01-01T00:00:00Z", Some("2027-02-01T00:00:00Z")),
        ]);
        assert!(satisfied(&h, &w, now()));
    }

    #[test]
    fn unit_change_revokes_the_old_door_and_grants_the_new_one() {
        let w = wanted(&record(Some("5C"), None, None), Some("d5"), &["k".into()], &TimeZone::UTC, now());
        let h = held(&[("d4", "2026-01-01T00:00:00Z", None), ("k", "2026-01-01T00:00:00Z", None)]);
        let c = changes(&h, &w, now());
        assert_eq!(c, GrantChanges { revoke: vec!["d4".into()], grant: vec!["d5".into()], patch_end: vec![] });
    }

    #[test]
    fn a_new_move_out_date_is_a_patch_and_a_cancelled_one_a_regrant() {
        let w = wanted(&record(Some("4B"), None, Some(date(2027, 3, 1))), Some("d"), &[], &TimeZone::UTC, now());
        let c = changes(&held(&[("d", "2026-01-01T00:00:00Z", None)]), &w, now());
        assert_eq!(c.patch_end, vec!["d".to_string()]);
        assert!(c.revoke.is_empty() && c.grant.is_empty());

        let w = wanted(&record(Some("4B"), None, None), Some("d"), &[], &TimeZone::UTC, now());
        let c = changes(&held(&[("d", "2026-01-01T00:00:00Z", Some("2027-03-02T00:00:00Z"))]), &w, now());
        assert_eq!((c.revoke, c.grant), (vec!["d".to_string()], vec!["d".to_string()]));
    }

    #[test]
    fn a_moved_future_start_is_regranted_and_an_early_move_in_starts_now() {
        let w = wanted(&record(Some("4B"), Some(date(2027, 1, 10)), None), Some("d"), &[], &TimeZone::UTC, now());
        let c = changes(&held(&[("d", "2027-01-05T00:00:00Z", None)]), &w, now());
        assert_eq!((c.revoke.len(), c.grant.len()), (1, 1));

        // Became current before the scheduled day: the scheduled grant is replaced by one from now.
        let w = wanted(&record(Some("4B"), None, None), Some("d"), &[], &TimeZone::UTC, now());
        let c = changes(&held(&[("d", "2027-01-05T00:00:00Z", None)]), &w, now());
        assert_eq!((c.revoke.len(), c.grant.len()), (1, 1));
    }

    use proptest::prelude::*;

    /// What DOOR looks like after the calls: revoked grants gone, new ones over the wanted window
    /// (from `now` when already started), patched ones with the wanted end.
    fn carry_out(held: &BTreeMap<String, Grant>, c: &GrantChanges, w: &Wanted) -> BTreeMap<String, Grant> {
        let mut after = held.clone();
        for t in &c.revoke {
            after.remove(t);
        }
        for t in &c.patch_end {
            after.get_mut(t).unwrap().end = w.end;
        }
        for t in &c.grant {
            after.insert(t.clone(), Grant { start: w.start.unwrap_or(now()), end: w.end });
        }
        after
    }

    fn arb_instant() -> impl Strategy<Value = Option<Timestamp>> {
        // Whole days around `now`, so past, present and future all occur.
        proptest::option::of((-5i64..5).prop_map(|d| now() + jiff::SignedDuration::from_hours(24 * d)))
    }

    fn arb_held() -> impl Strategy<Value = BTreeMap<String, Grant>> {
        proptest::collection::btree_map(
            "[a-e]",
            (arb_instant(), arb_instant()).prop_map(|(s, e)| Grant { start: s.unwrap_or(now()), end: e }),
            0..5,
        )
    }

    fn arb_wanted() -> impl Strategy<Value = Wanted> {
        (proptest::collection::btree_set("[a-e]", 0..5), arb_instant(), arb_instant()).prop_map(|(targets, s, e)| {
            Wanted { targets, start: s.filter(|s| *s > now()), end: e, missing_unit_door: false }
        })
    }

    proptest! {
        /// The calls always reach the wanted state, and the next run has nothing left to do.
        #[test]
        fn changes_reach_the_wanted_grants(held in arb_held(), wanted in arb_wanted()) {
            let c = changes(&held, &wanted, now());
            let after = carry_out(&held, &c, &wanted);
            prop_assert!(satisfied(&after, &wanted, now()), "{after:?}");
            prop_assert_eq!(after.keys().collect::<BTreeSet<_>>(), wanted.targets.iter().collect());
        }

        /// Only what we hold is ever revoked or patched, and nothing is granted twice.
        #[test]
        fn only_held_grants_are_touched(held in arb_held(), wanted in arb_wanted()) {
            let c = changes(&held, &wanted, now());
            prop_assert!(c.revoke.iter().chain(&c.patch_end).all(|t| held.contains_key(t)));
            prop_assert!(c.grant.iter().all(|t| wanted.targets.contains(t)));
            let regranted: Vec<_> = c.grant.iter().filter(|t| held.contains_key(*t)).collect();
            prop_assert!(regranted.iter().all(|t| c.revoke.contains(t)), "a held grant is granted only after its revoke");
        }
    }
}

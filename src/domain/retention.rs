//! Deactivate, then delete: which destination users this integration deactivated, and when.
//!
//! With `spec.deprovision.deleteAfter` set, every deactivation a run carries out is recorded here
//! (destination user ID → Unix seconds); a later run deletes the users whose deactivation is older
//! than the period and still inactive. Only users recorded here are ever deleted this way: a user
//! somebody else deactivated, or one deactivated before `deleteAfter` was set, stays as it is. A
//! resident who comes back is reactivated by the ordinary plan (the user is desired again), and
//! forgotten here.
//!
//! IDs and times only. Bounded: at most [`MAX_ENTRIES`] users with IDs of at most [`MAX_ID_LEN`]
//! bytes (what fits a ConfigMap comfortably); a deactivation past the bound is not recorded, so that
//! user is kept deactivated rather than deleted — the safe side.

use std::collections::{BTreeMap, BTreeSet};

/// Most users recorded at once.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest destination user ID recorded (SCIM IDs are UUIDs or shorter in every server we know).
pub const MAX_ID_LEN: usize = 128;

/// Destination user ID → when this integration deactivated it (Unix seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deactivations {
    at: BTreeMap<String, i64>,
}

/// What a run did to one user, as far as the record is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Deactivated,
    Deleted,
    /// Updated or adopted: the user is desired again (a returning resident was reactivated).
    Rewritten,
}

impl Deactivations {
    /// Reads the stored form (a JSON object of ID → seconds). Entries that break the bounds are
    /// dropped: what the record does not hold is never deleted.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let at: BTreeMap<String, i64> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON object of user ID to seconds: {e}"))?;
        Ok(Self { at: at.into_iter().filter(|(id, _)| id.len() <= MAX_ID_LEN).take(MAX_ENTRIES).collect() })
    }

    pub fn render(&self) -> String {
        serde_json::to_string(&self.at).expect("a map of strings to integers always serializes")
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// When `id` was deactivated by this integration, if it was.
    pub fn get(&self, id: &str) -> Option<i64> {
        self.at.get(id).copied()
    }

    /// The users deactivated at or before `cutoff` (Unix seconds): due for deletion if still
    /// inactive.
    pub fn due(&self, cutoff: i64) -> BTreeSet<String> {
        self.at.iter().filter(|(_, at)| **at <= cutoff).map(|(id, _)| id.clone()).collect()
    }

    /// Keeps only the users still inactive as a run found them (`inactive` says which): a user
    /// active again (reactivated by anyone, or whose deactivation failed) or gone from the
    /// destination is forgotten. Run before planning.
    pub fn retain_inactive(&mut self, inactive: impl Fn(&str) -> bool) {
        self.at.retain(|id, _| inactive(id));
    }

    /// Records what a run did: users it deleted or rewrote are forgotten, users it deactivated are
    /// recorded at `now`. Returns how many deactivations the bounds kept out (those users stay
    /// deactivated; they are never deleted by this record).
    pub fn record<'a>(&mut self, outcomes: impl IntoIterator<Item = (&'a str, Outcome)>, now: i64) -> usize {
        let mut unrecorded = 0;
        for (id, outcome) in outcomes {
            match outcome {
                Outcome::Deleted | Outcome::Rewritten => {
                    self.at.remove(id);
                }
                Outcome::Deactivated if id.len() > MAX_ID_LEN || self.at.len() >= MAX_ENTRIES => unrecorded += 1,
                Outcome::Deactivated => {
                    self.at.insert(id.to_string(), now);
                }
            }
        }
        unrecorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deactivation_is_recorded_then_due_after_the_period() {
        let mut record = Deactivations::default();
        record.record([("u1", Outcome::Deactivated)], 1_000);
        assert_eq!(record.get("u1"), Some(1_000));
        assert!(record.due(999).is_empty(), "not before the period");
        assert_eq!(record.due(1_000), BTreeSet::from(["u1".to_string()]));
        let again = Deactivations::parse(&record.render()).unwrap();
        assert_eq!(again, record);
    }

    #[test]
    fn deleted_rewritten_and_no_longer_inactive_users_are_forgotten() {
        let mut record = Deactivations::parse(r#"{"a":1,"b":2,"c":3,"d":4}"#).unwrap();
        // "d" is active again (reactivated by someone, or its deactivation failed): forgotten.
        record.retain_inactive(|id| id != "d");
        record.record([("a", Outcome::Deleted), ("b", Outcome::Rewritten)], 10);
        assert_eq!(record.render(), r#"{"c":3}"#);
    }

    #[test]
    fn the_record_is_bounded_and_unreadable_text_is_an_error() {
        let mut record = Deactivations::default();
        let many: Vec<String> = (0..MAX_ENTRIES + 5).map(|i| format!("u{i}")).collect();
        let long = "x".repeat(MAX_ID_LEN + 1);
        let outcomes = many.iter().map(String::as_str).chain([long.as_str()]).map(|id| (id, Outcome::Deactivated));
        let unrecorded = record.record(outcomes, 1);
        assert_eq!((record.len(), unrecorded), (MAX_ENTRIES, 6));
        assert!(Deactivations::parse("[1,2]").is_err());
        assert!(Deactivations::parse("").unwrap().is_empty());
        assert_eq!(Deactivations::parse(&format!(r#"{{"{long}":1,"ok":2}}"#)).unwrap().len(), 1);
    }
}

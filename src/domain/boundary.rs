//! Access boundaries: the moments a user's access is due to change by the calendar — a move-in
//! day starting (access starts then, even while the PMS still says future), a move-out day ending
//! (the PMS usually closes the lease then; the run that follows sees it) — in the property's time
//! zone. A destination that does not schedule access itself (SCIM) needs a run at the next one;
//! DOOR schedules its grants' start and end and needs none.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::model::Date;
use super::user::UserRecord;

/// The start of `date` in `tz`.
pub fn start_of_day(date: Date, tz: &TimeZone) -> Timestamp {
    date.to_zoned(tz.clone()).map(|z| z.timestamp()).unwrap_or_else(|_| {
        // Only dates at the edge of jiff's range fail; the UTC midnight is a safe stand-in.
        date.to_zoned(TimeZone::UTC).map(|z| z.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
    })
}

/// The earliest boundary after `now` among `users` (the desired users): the start of the first
/// day of access of a user without access yet, or the end of anyone's move-out day.
pub fn next(users: &[UserRecord], tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    users
        .iter()
        .flat_map(|u| {
            let starts = u.access_from.filter(|_| !u.active).map(|d| start_of_day(d, tz));
            let ends = u.access_until.and_then(|d| d.tomorrow().ok()).map(|d| start_of_day(d, tz));
            [starts, ends]
        })
        .flatten()
        .filter(|t| *t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn user(active: bool, from: Option<Date>, until: Option<Date>) -> UserRecord {
        UserRecord { active, access_from: from, access_until: until, ..UserRecord::default() }
    }

    #[test]
    fn the_next_boundary_is_the_earliest_move_in_midnight_or_move_out_day_end_to_come() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let now: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        let users = [
            user(false, Some(date(2026, 12, 5)), None),
            user(true, None, Some(date(2026, 12, 2))),
            // Past boundaries, and an active user's start, are not to come.
            user(false, Some(date(2026, 11, 1)), None),
            user(true, Some(date(2026, 12, 1)), Some(date(2026, 11, 20))),
        ];
        // The end of Dec 2 in New York: Dec 3, 00:00 EST = 05:00 UTC.
        assert_eq!(next(&users, &tz, now), Some("2026-12-03T05:00:00Z".parse().unwrap()));
        assert_eq!(next(&users[..1], &tz, now), Some("2026-12-05T05:00:00Z".parse().unwrap()));
        assert_eq!(next(&users[2..], &tz, now), None);
        assert_eq!(next(&[], &tz, now), None);
    }
}

//! MRI resident lease rows → normalized residents (docs/connectors.md#mri). Every value is a
//! string (or null) in the captures; numbers are read too. Field names are matched without
//! regard to case, and differ by endpoint (`Email`/`EMailAddress`, `ResidentNameID`/`NameId`).

use serde_json::{Map, Value};

use crate::domain::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};
use crate::pms::{MissingId, Row, json_text as field, parse_date};

/// `ResidentStatus` words: Current, Old, Co-Resident, Other Resident (the lease-details capture),
/// New (pending move-ins). Co-Resident and Other Resident name a role, not a status: theirs is
/// `IsCurrent` (see [`resident`]). Anything else is matched loosely, else `unknown`.
const STATUSES: &[(&[&str], ResidentStatus)] = &[
    (&["current"], ResidentStatus::Current),
    (&["old", "former", "past"], ResidentStatus::Past),
    (&["new", "future"], ResidentStatus::Future),
    (&["applicant", "prospect"], ResidentStatus::Applicant),
    (&["cancel"], ResidentStatus::Cancelled),
];

/// A status word normalized by [`STATUSES`], after "notice" and "evict" (`pms::loose_status`).
pub fn normalize(raw: &str) -> ResidentStatus {
    crate::pms::loose_status(raw, STATUSES)
}

/// One row of `ResidentLeaseDetailsByPropertyID` (or a row of the Residents calls).
pub(crate) fn resident(property_id: &str, record: &Map<String, Value>) -> Row {
    let Some(person) = field(record, &["ResidentNameID", "NameId", "ResidentID"]) else {
        return Some(Err(MissingId));
    };
    let written = field(record, &["ResidentStatus"]).unwrap_or_default();
    let current = field(record, &["IsCurrent"]).map(|v| v.eq_ignore_ascii_case("y"));
    // A co-resident or other resident has the status `IsCurrent` says, in MRI's words.
    let (role, status_raw) = match written.to_ascii_lowercase().as_str() {
        "co-resident" => (ResidentRole::CoResident, by_is_current(current, &written)),
        "other resident" => (ResidentRole::Occupant, by_is_current(current, &written)),
        _ => (ResidentRole::Primary, written.clone()),
    };
    let mut r = Resident::new(property_id, &person, &status_raw, normalize(&status_raw));
    if field(record, &["Guarantor"]).is_some_and(|g| g.eq_ignore_ascii_case("y")) {
        r.role = ResidentRole::Guarantor;
    } else {
        r.role = role;
    }
    r.lease_id = field(record, &["LeaseID", "RMLEASEID"]);
    r.unit = field(record, &["UnitID", "UNITID"]);
    r.first_name = field(record, &["FirstName"]).unwrap_or_default();
    r.last_name = field(record, &["LastName"]).unwrap_or_default();
    r.emails = field(record, &["Email", "EMailAddress"]).into_iter().collect();
    let phones: [(&[&str], PhoneKind); 4] = [
        (&["CellPhoneNumber", "Cell", "PersonalPhone"], PhoneKind::Mobile),
        (&["PhoneNumber", "Phone"], PhoneKind::Home),
        (&["WorkPhone1"], PhoneKind::Work),
        (&["WorkPhone2"], PhoneKind::Work),
    ];
    r.phones =
        phones.iter().filter_map(|(names, kind)| Some(Phone { number: field(record, names)?, kind: *kind })).collect();
    let date = |names: &[&str]| parse_date(field(record, names).as_deref());
    r.lease_start = date(&["LeaseStart"]);
    r.lease_end = date(&["LeaseEnd"]);
    r.move_in = date(&["OccupyDate", "OccupantOccupyDate", "ScheduledMoveInDate"]);
    r.move_out = date(&["ResidentVacateDate", "VacateDate", "OccupantVacateDate", "LeaseMoveOut"]);
    r.notice_given = date(&["DateNotified"]);
    Some(Ok(r))
}

/// "Current" or "Old" by `IsCurrent`; without it, the written word (reported as unknown).
fn by_is_current(current: Option<bool>, written: &str) -> String {
    match current {
        Some(true) => "Current".into(),
        Some(false) => "Old".into(),
        None => written.into(),
    }
}

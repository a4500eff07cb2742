//! Rent Manager tenants → normalized residents (docs/connectors.md#rent-manager). A tenant is
//! a household account; its people are its `Contacts` (embedded), which carry the emails and phone
//! numbers; its unit and dates are on its `Leases` (embedded, with `Unit`). No response was ever
//! captured: every key is matched without regard to case, any embed may be absent, and the
//! status mapping is overridable.

use serde_json::{Map, Value};

use crate::domain::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};
use crate::pms::{MissingId, Row, json_text as field, parse_date};

/// Tenant `Status`: "Current" is the one value every client filters on; Past and Future are
/// inferred; prospects are another resource. Matched loosely; anything else is `unknown`.
const STATUSES: &[(&[&str], ResidentStatus)] = &[
    (&["current"], ResidentStatus::Current),
    (&["past", "former"], ResidentStatus::Past),
    (&["future"], ResidentStatus::Future),
    (&["applicant", "prospect"], ResidentStatus::Applicant),
    (&["cancel"], ResidentStatus::Cancelled),
];

/// A status word normalized by [`STATUSES`], after "notice" and "evict" (`pms::loose_status`).
pub fn normalize(raw: &str) -> ResidentStatus {
    crate::pms::loose_status(raw, STATUSES)
}

/// The list under `name` (any case), or nothing.
fn list<'a>(record: &'a Map<String, Value>, name: &str) -> &'a [Value] {
    record.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_array()).map_or(&[], Vec::as_slice)
}

fn object<'a>(record: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    record.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_object())
}

fn flag(record: &Map<String, Value>, name: &str) -> bool {
    record.iter().any(|(k, v)| k.eq_ignore_ascii_case(name) && (v == &Value::Bool(true) || v.as_str() == Some("true")))
}

/// The people of one tenant. Without contacts, the tenant is one person (`tenant-<TenantID>`).
pub(crate) fn tenant_residents(property_id: &str, tenant: &Value) -> Vec<Row> {
    let Some(tenant) = tenant.as_object() else { return vec![Some(Err(MissingId))] };
    let Some(tenant_id) = field(tenant, &["TenantID"]) else { return vec![Some(Err(MissingId))] };
    let status_raw = field(tenant, &["Status"]).unwrap_or_default();
    let lease = current_lease(list(tenant, "Leases"));
    let contacts: Vec<&Map<String, Value>> = list(tenant, "Contacts").iter().filter_map(Value::as_object).collect();
    let person = |record: &Map<String, Value>, id: String| {
        let mut r = Resident::new(property_id, &id, &status_raw, normalize(&status_raw));
        r.lease_id = lease.and_then(|l| field(l, &["LeaseID"])).or_else(|| Some(tenant_id.clone()));
        r.unit =
            lease.and_then(|l| object(l, "Unit").and_then(|u| field(u, &["Name"])).or_else(|| field(l, &["UnitID"])));
        r.first_name = field(record, &["FirstName"]).unwrap_or_default();
        r.last_name = field(record, &["LastName"]).unwrap_or_default();
        r.move_in = lease.and_then(|l| parse_date(field(l, &["MoveInDate", "ArrivalDate"]).as_deref()));
        r.move_out = lease.and_then(|l| parse_date(field(l, &["MoveOutDate", "DepartureDate"]).as_deref()));
        r.lease_start = lease.and_then(|l| parse_date(field(l, &["StartDate"]).as_deref()));
        r.lease_end = lease.and_then(|l| parse_date(field(l, &["EndDate"]).as_deref()));
        r.under_eviction = r.status == ResidentStatus::Evicted;
        r
    };
    if contacts.is_empty() {
        return vec![Some(Ok(person(tenant, format!("tenant-{tenant_id}"))))];
    }
    let primary = contacts.iter().position(|c| flag(c, "IsPrimary")).unwrap_or(0);
    contacts
        .iter()
        .enumerate()
        .map(|(i, contact)| {
            let Some(id) = field(contact, &["ContactID"]) else { return Some(Err(MissingId)) };
            let mut r = person(contact, id);
            let kind = field(contact, &["ApplicantType", "ContactType"]).unwrap_or_default().to_ascii_lowercase();
            r.role = if kind.contains("guarantor") || kind.contains("cosigner") || kind.contains("co-signer") {
                ResidentRole::Guarantor
            } else if i == primary {
                ResidentRole::Primary
            } else if kind.contains("occupant") {
                ResidentRole::Occupant
            } else {
                ResidentRole::CoResident
            };
            r.emails = field(contact, &["Email"]).into_iter().collect();
            r.phones = list(contact, "PhoneNumbers").iter().filter_map(Value::as_object).filter_map(phone).collect();
            Some(Ok(r))
        })
        .collect()
}

fn phone(record: &Map<String, Value>) -> Option<Phone> {
    let number = field(record, &["PhoneNumber", "Number"])?;
    let kind =
        object(record, "PhoneNumberType").and_then(|t| field(t, &["Name"])).unwrap_or_default().to_ascii_lowercase();
    let kind = if kind.contains("cell") || kind.contains("mobile") {
        PhoneKind::Mobile
    } else if kind.contains("home") {
        PhoneKind::Home
    } else if kind.contains("work") || kind.contains("office") || kind.contains("business") {
        PhoneKind::Work
    } else {
        PhoneKind::Other
    };
    Some(Phone { number, kind })
}

/// The lease in force: one without a move-out, else the latest moved into.
fn current_lease(leases: &[Value]) -> Option<&Map<String, Value>> {
    let leases: Vec<&Map<String, Value>> = leases.iter().filter_map(Value::as_object).collect();
    let move_in = |l: &&Map<String, Value>| parse_date(field(l, &["MoveInDate"]).as_deref());
    leases
        .iter()
        .find(|l| field(l, &["MoveOutDate"]).is_none())
        .or_else(|| leases.iter().max_by_key(|l| move_in(l)))
        .copied()
}

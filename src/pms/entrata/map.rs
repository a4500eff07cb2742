//! Entrata `getLeases` results → normalized residents (docs/connectors.md#entrata).
//!
//! Read through `serde_json::Value` on purpose: Entrata sends numbers as strings or numbers, a
//! one-element list as an object or an array, and omits empty fields; a typed model would reject
//! real responses (`../shared/vendor-samples/entrata-getleases-response.json`).

use serde_json::Value;

use crate::domain::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};
use crate::pms::{MissingId, Row, parse_date};

/// Entrata status names and `leaseStatusTypeId`s: 1 Applicant, 2 Cancelled, 3 Future, 4 Current,
/// 5 Notice, 6 Past, as the captured pick list says
/// (`../shared/vendor-samples/entrata/getLeasePickList-r1-response.json`, `leaseStatusTypes`).
pub fn normalize(raw: &str) -> ResidentStatus {
    match raw.trim().to_ascii_lowercase().as_str() {
        "current" | "4" => ResidentStatus::Current,
        "notice" | "on notice" | "5" => ResidentStatus::Notice,
        "future" | "3" => ResidentStatus::Future,
        "past" | "former" | "6" => ResidentStatus::Past,
        "applicant" | "1" => ResidentStatus::Applicant,
        "cancelled" | "canceled" | "denied" | "2" => ResidentStatus::Cancelled,
        "evicted" | "eviction" | "under eviction" => ResidentStatus::Evicted,
        _ => ResidentStatus::Unknown,
    }
}

fn role(customer: &Value) -> ResidentRole {
    let kind = text(&customer["customerType"]).or_else(|| text(&customer["relationshipName"])).unwrap_or_default();
    match kind.trim().to_ascii_lowercase().as_str() {
        "primary" => ResidentRole::Primary,
        "guarantor" | "cosigner" | "co-signer" => ResidentRole::Guarantor,
        "occupant" | "dependent" | "child" | "minor" => ResidentRole::Occupant,
        "" => ResidentRole::Other,
        _ => ResidentRole::CoResident,
    }
}

/// A string or number as text; `None` for null, absent or empty.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `v[outer][inner]` as a list, whether Entrata sent an array or a single object.
pub fn list<'a>(v: &'a Value, outer: &str, inner: &str) -> Vec<&'a Value> {
    match &v[outer][inner] {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![&v[outer][inner]],
        _ => Vec::new(),
    }
}

fn date(v: &Value) -> Option<crate::domain::Date> {
    parse_date(text(v).as_deref())
}

/// The residents of one lease: every customer on it (a customer without an ID is a
/// [`MissingId`]).
pub(crate) fn lease_residents(property_id: &str, lease: &Value) -> Vec<Row> {
    let lease_id = text(&lease["id"]);
    let lease_status = text(&lease["leaseIntervalStatus"])
        .or_else(|| text(&lease["leaseStatus"]))
        .or_else(|| text(&lease["leaseStatusTypeId"]))
        .unwrap_or_default();
    let unit = list(lease, "unitSpaces", "unitSpace")
        .first()
        .and_then(|s| text(&s["unitSpace"]))
        .or_else(|| text(&lease["unitNumber"]));
    let intervals = list(lease, "leaseIntervals", "leaseInterval");
    let interval = intervals
        .iter()
        .find(|i| text(&i["leaseIntervalStatusTypeName"]).is_some_and(|s| s.eq_ignore_ascii_case("current")))
        .or(intervals.last())
        .copied();
    list(lease, "customers", "customer")
        .into_iter()
        .map(|customer| {
            let Some(person_id) = text(&customer["id"]) else { return Some(Err(MissingId)) };
            let status_raw = text(&customer["leaseCustomerStatus"]).unwrap_or_else(|| lease_status.clone());
            let mut r = Resident::new(property_id, &person_id, &status_raw, normalize(&status_raw));
            r.role = role(customer);
            r.lease_id = lease_id.clone();
            r.unit = unit.clone();
            r.first_name = text(&customer["firstName"]).unwrap_or_default();
            r.last_name = text(&customer["lastName"]).unwrap_or_default();
            r.emails = [&customer["emailAddress"], &customer["email"]].into_iter().filter_map(text).collect();
            r.phones = list(customer, "phones", "phone")
                .into_iter()
                .filter_map(|p| {
                    let kind = match text(&p["phoneType"]).unwrap_or_default().to_ascii_lowercase().as_str() {
                        "mobile" | "cell" | "personal" => PhoneKind::Mobile,
                        "home" => PhoneKind::Home,
                        "office" | "work" | "business" => PhoneKind::Work,
                        _ => PhoneKind::Other,
                    };
                    Some(Phone { number: text(&p["phoneNumber"])?, kind })
                })
                .chain(text(&customer["phoneNumber"]).map(|number| Phone { number, kind: PhoneKind::Other }))
                .collect();
            r.lease_start = interval.and_then(|i| date(&i["startDate"]));
            r.lease_end = interval.and_then(|i| date(&i["endDate"]));
            r.move_in = date(&customer["moveInDate"]).or_else(|| date(&lease["moveInDate"]));
            r.move_out = date(&customer["moveOutDate"]).or_else(|| date(&lease["moveOutDate"]));
            Some(Ok(r))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both anonymizations of the captured r2 response (the older copy at the top of
    /// `../shared/vendor-samples/`, the newer one in `entrata/`).
    const SAMPLES: [&str; 2] = [
        "/../shared/vendor-samples/entrata-getleases-response.json",
        "/../shared/vendor-samples/entrata/getLeases-r2-response-property739084-93-leases.json",
    ];

    #[test]
    fn reads_every_lease_of_the_real_samples() {
        for file in SAMPLES {
            let path = format!("{}{file}", env!("CARGO_MANIFEST_DIR"));
            let sample: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("the shared Entrata sample")).unwrap();
            let Ok(crate::pms::entrata::Page::Leases(leases)) = crate::pms::entrata::leases(sample) else {
                panic!("{file}: no leases")
            };
            assert_eq!(leases.len(), 93, "{file}");
            let residents: Vec<Resident> =
                leases.iter().flat_map(|l| lease_residents("739084", l)).map(|r| r.unwrap().unwrap()).collect();
            // The capture's table (PROVENANCE.md): 93 Primary/Current, 67 Guarantor/Current,
            // 29 Guarantor/Cancelled.
            assert_eq!(residents.len(), 189, "{file}");
            let count = |f: &dyn Fn(&Resident) -> bool| residents.iter().filter(|r| f(r)).count();
            assert_eq!(count(&|r| r.role == ResidentRole::Primary && r.status == ResidentStatus::Current), 93);
            assert_eq!(count(&|r| r.role == ResidentRole::Guarantor && r.status == ResidentStatus::Current), 67);
            assert_eq!(count(&|r| r.role == ResidentRole::Guarantor && r.status == ResidentStatus::Cancelled), 29);
            assert!(residents.iter().all(|r| r.unit.is_some() && !r.first_name.is_empty() && r.move_in.is_some()));
            assert!(residents.iter().all(|r| r.lease_start.is_some() && r.lease_end.is_some()));
            assert_eq!(count(&|r| r.phones.is_empty()), 0);
            assert!(residents.iter().all(|r| r.lease_id.is_some()));
            let first = &residents[0];
            assert_eq!((first.person_id.as_str(), first.unit.as_deref()), ("17489221", Some("206")));
            assert_eq!(first.lease_id.as_deref(), Some("13245143"));
            assert_eq!(first.move_in.map(|d| d.to_string()).as_deref(), Some("2021-02-01"));
            assert_eq!(first.phones[0].kind, PhoneKind::Mobile, "phoneType personal");
        }
    }

    #[test]
    fn lease_status_type_ids_follow_the_captured_pick_list() {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vendor-samples/entrata/getLeasePickList-r1-response.json");
        let picks: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the pick list")).unwrap();
        let types = picks["response"]["result"]["leaseStatusTypes"]["leaseStatusType"].as_array().unwrap();
        assert_eq!(types.len(), 6);
        for t in types {
            let (id, name) = (&t["@attributes"]["id"], t["@attributes"]["name"].as_str().unwrap());
            assert_eq!(normalize(&id.to_string()), normalize(name), "id {id} is {name}");
            assert_ne!(normalize(name), ResidentStatus::Unknown, "{name}");
        }
        assert_eq!(normalize("1"), ResidentStatus::Applicant);
        assert_eq!(normalize("2"), ResidentStatus::Cancelled);
        assert_eq!(normalize("Month-to-month holdover"), ResidentStatus::Unknown);
    }

    #[test]
    fn single_objects_numbers_as_strings_and_missing_fields_are_tolerated() {
        let lease: Value = serde_json::json!({"id": 7, "leaseStatusTypeId": "5", "unitNumber": "4B",
            "customers": {"customer": {"id": "99", "firstName": "Ana", "customerType": "Co-Applicant"}}});
        let rs: Vec<Resident> = lease_residents("1", &lease).into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(rs.len(), 1);
        assert_eq!(
            (rs[0].status, rs[0].role, rs[0].unit.as_deref()),
            (ResidentStatus::Notice, ResidentRole::CoResident, Some("4B"))
        );
        assert_eq!(rs[0].status_raw, "5");
    }
}

//! AppFolio `tenant_directory` rows → normalized residents. Field names vary between report
//! versions, so each value is looked for under its known names.

use serde_json::Value;

use crate::pms::entrata::map::text;
use crate::pms::{MissingId, Row, parse_date};
use crate::sync::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};

/// Tenant statuses by name or report code (0 Current, 1 Past, 2 Future, 3 Evict, 4 Notice).
pub fn normalize(raw: &str) -> ResidentStatus {
    match raw.trim().to_ascii_lowercase().as_str() {
        "current" | "0" => ResidentStatus::Current,
        "past" | "1" => ResidentStatus::Past,
        "future" | "2" => ResidentStatus::Future,
        "evict" | "eviction" | "3" => ResidentStatus::Evicted,
        "notice" | "4" => ResidentStatus::Notice,
        _ => ResidentStatus::Unknown,
    }
}

fn first(row: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| text(&row[*n]))
}

/// One row: `None` for rows of another property and rows naming nobody (vacant units), a
/// [`MissingId`] for a person without a tenant ID.
pub(crate) fn resident(property_id: &str, row: &Value) -> Row {
    if first(row, &["property_id", "PropertyId"]).is_some_and(|p| p != property_id) {
        return None;
    }
    let Some(person_id) = first(row, &["selected_tenant_id", "tenant_id", "TenantId", "occupant_id"]) else {
        let named = first(row, &["first_name", "FirstName", "last_name", "LastName", "tenant", "name"]).is_some();
        return named.then_some(Err(MissingId));
    };
    let status_raw = first(row, &["status", "tenant_status", "Status"]).unwrap_or_default();
    let mut r = Resident::new(property_id, &person_id, &status_raw, normalize(&status_raw));
    r.role = match first(row, &["tenant_type", "TenantType"]).unwrap_or_default().to_ascii_lowercase() {
        t if t.contains("guarantor") => ResidentRole::Guarantor,
        t if t.contains("occupant") => ResidentRole::Occupant,
        t if t.contains("primary") || t.contains("financially responsible") => ResidentRole::Primary,
        _ => ResidentRole::CoResident,
    };
    r.lease_id = first(row, &["occupancy_id", "OccupancyId"]);
    r.unit = first(row, &["unit", "unit_name", "Unit"]);
    r.first_name = first(row, &["first_name", "FirstName"]).unwrap_or_default();
    r.last_name = first(row, &["last_name", "LastName"]).unwrap_or_default();
    if r.first_name.is_empty() && r.last_name.is_empty() {
        // `tenant` is "Last, First" when the split columns were not requested.
        if let Some(name) = first(row, &["tenant", "name"]) {
            let (last, given) = name.split_once(',').unwrap_or((name.as_str(), ""));
            r.last_name = last.trim().to_string();
            r.first_name = given.trim().to_string();
        }
    }
    r.emails = first(row, &["emails", "email", "Email"])
        .map(|e| e.split([';', ',']).map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    r.phones = first(row, &["phone_numbers", "phone_number", "PhoneNumbers"]).map(|p| phones(&p)).unwrap_or_default();
    r.move_in = parse_date(first(row, &["move_in", "MoveInOn"]).as_deref());
    r.move_out = parse_date(first(row, &["move_out", "MoveOutOn"]).as_deref());
    r.lease_start = parse_date(first(row, &["lease_from", "LeaseFrom"]).as_deref());
    r.lease_end = parse_date(first(row, &["lease_to", "LeaseTo"]).as_deref());
    r.under_eviction = r.status == ResidentStatus::Evicted;
    Some(Ok(r))
}

/// `"Mobile: (555) 010-0100, Home: 555-0101"` or `"555-0100; 555-0101"`.
fn phones(text: &str) -> Vec<Phone> {
    text.split([',', ';'])
        .filter_map(|part| {
            let (label, number) = part.split_once(':').unwrap_or(("", part));
            let number = number.trim();
            if number.is_empty() {
                return None;
            }
            let kind = match label.trim().to_ascii_lowercase().as_str() {
                "mobile" | "cell" => PhoneKind::Mobile,
                "home" => PhoneKind::Home,
                "work" | "office" => PhoneKind::Work,
                _ => PhoneKind::Other,
            };
            Some(Phone { number: number.to_string(), kind })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_map_with_codes_names_and_joined_contacts() {
        let row = json!({"selected_tenant_id": 812, "occupancy_id": 77, "property_id": 17, "unit": "2B",
            "first_name": "Zoë", "last_name": "Ångström", "emails": "zoe@example.org; z2@example.org",
            "phone_numbers": "Mobile: 555-0100, Home: 555-0101", "status": "4", "tenant_type": "Financially Responsible",
            "move_in": "01/15/2025", "lease_to": "2026-01-14"});
        let r = resident("17", &row).unwrap().unwrap();
        assert_eq!((r.person_id.as_str(), r.status, r.role), ("812", ResidentStatus::Notice, ResidentRole::Primary));
        assert_eq!(r.emails, ["zoe@example.org", "z2@example.org"]);
        assert_eq!((r.phones[0].number.as_str(), r.phones[0].kind), ("555-0100", PhoneKind::Mobile));
        assert_eq!(r.move_in.unwrap().to_string(), "2025-01-15");
        assert!(resident("18", &row).is_none(), "another property's row");
        let named = json!({"tenant_id": "9", "tenant": "Núñez, José", "status": "Evict"});
        let r = resident("17", &named).unwrap().unwrap();
        assert_eq!((r.first_name.as_str(), r.last_name.as_str(), r.status), ("José", "Núñez", ResidentStatus::Evicted));
        // A person without an ID is reported, never dropped; a row naming nobody is no person.
        assert!(matches!(resident("17", &json!({"tenant": "Núñez, José", "status": "Current"})), Some(Err(MissingId))));
        assert!(resident("17", &json!({"unit": "3C", "status": "Vacant"})).is_none());
    }
}

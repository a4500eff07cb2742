//! AppFolio `tenant_directory` rows → normalized residents. Field names vary between report
//! versions, so each value is looked for under its known names.

use serde_json::Value;

use crate::domain::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};
use crate::pms::entrata::map::text;
use crate::pms::{MissingId, Row, parse_date};

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
        let named =
            first(row, &["first_name", "FirstName", "last_name", "LastName"]).or_else(|| first(row, NAME_COLUMNS));
        let named = named.is_some();
        return named.then_some(Err(MissingId));
    };
    let status_raw = first(row, &["status", "tenant_status", "Status", "occupancy_status"]).unwrap_or_default();
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
    if r.first_name.is_empty()
        && r.last_name.is_empty()
        && let Some(name) = first(row, NAME_COLUMNS)
    {
        (r.first_name, r.last_name) = split_name(&name);
    }
    r.emails = first(row, &["emails", "email", "email_address", "Email"])
        .map(|e| e.split([';', ',']).map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    r.phones = first(row, &["phone_numbers", "phone_number", "tenant_primary_phone_number", "PhoneNumbers"])
        .map(|p| phones(&p))
        .unwrap_or_default();
    let date = |names: &[&str]| parse_date(first(row, names).as_deref());
    r.move_in = date(&["move_in", "move_in_date", "MoveInOn"]);
    r.move_out = date(&["move_out", "move_out_date", "MoveOutOn"]);
    r.lease_start = date(&["lease_from", "lease_start", "LeaseFrom"]);
    r.lease_end = date(&["lease_to", "lease_end", "LeaseTo"]);
    r.under_eviction = r.status == ResidentStatus::Evicted;
    Some(Ok(r))
}

/// Columns holding a whole name ("Last, First M." in the captures).
const NAME_COLUMNS: &[&str] = &["tenant_name", "tenant", "name"];

/// `"Family0534, Given0553 M."`, `"Family1018 , Given1569 L."` → (given, family); a trailing
/// middle initial is dropped. A name without a comma (a company: "Given1572 Family0996 LLC") is
/// kept whole as the family name.
fn split_name(name: &str) -> (String, String) {
    let Some((last, given)) = name.split_once(',') else { return (String::new(), name.trim().to_string()) };
    let mut words: Vec<&str> = given.split_whitespace().collect();
    if words.len() > 1 && words.last().is_some_and(|w| w.trim_end_matches('.').chars().count() == 1) {
        words.pop();
    }
    (words.join(" "), last.trim().to_string())
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

    /// One captured row per report (`../shared/vendor-samples/appfolio/`): what each yields.
    #[test]
    fn reads_the_captured_report_rows() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/vendor-samples/appfolio/reports-v2-single-result-rows-by-report.json"
        );
        let reports: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("the AppFolio sample")).unwrap();
        let reports = reports.as_object().unwrap();
        assert_eq!(reports.len(), 14);
        let mut people = Vec::new();
        let (mut unidentified, mut nobody) = (Vec::new(), Vec::new());
        for (report, capture) in reports {
            let row = &capture["row"];
            // `property_id` is a number in some reports and a string in others: both match.
            let property = text(&row["property_id"]).unwrap_or_else(|| "17".into());
            match resident(&property, row) {
                Some(Ok(r)) => people.push((report.as_str(), r)),
                Some(Err(MissingId)) => unidentified.push(report.as_str()),
                None => nobody.push(report.as_str()),
            }
        }
        assert_eq!(
            people.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            ["lease_expiration_detail", "lease_history", "rent_roll", "unpaid_balances_by_month"]
        );
        assert_eq!(
            unidentified,
            [
                "guest_card_inquiries",
                "inactive_guest_cards",
                "occupancy_custom_fields",
                "rent_roll_itemized",
                "security_deposit_funds_detail",
                "unit_inspection"
            ],
            "names without a tenant ID are never dropped silently"
        );
        assert_eq!(
            nobody,
            ["resident_financial_activity", "tenant_ledger", "tenant_transactions_summary", "unit_directory"]
        );
        let by = |name: &str| &people.iter().find(|(n, _)| *n == name).unwrap().1;
        let expiring = by("lease_expiration_detail");
        assert_eq!((expiring.person_id.as_str(), expiring.lease_id.as_deref()), ("224", Some("222")));
        assert_eq!((expiring.first_name.as_str(), expiring.last_name.as_str()), ("Given0553", "Family0534"));
        assert_eq!((expiring.phones.len(), expiring.phones[0].number.as_str()), (1, "(555) 010-1146"));
        assert_eq!(expiring.status, ResidentStatus::Unknown, "\"Eligible\" is no tenant status");
        let history = by("lease_history");
        assert_eq!(history.lease_start.map(|d| d.to_string()).as_deref(), Some("2026-01-01"));
        assert_eq!(history.unit.as_deref(), Some("1N"));
        let roll = by("rent_roll");
        assert_eq!((roll.status, roll.last_name.as_str()), (ResidentStatus::Current, "Given1572 Family0996 LLC"));
        assert_eq!(roll.move_in.map(|d| d.to_string()).as_deref(), Some("1970-01-01"), "the core drops the sentinel");
        let unpaid = by("unpaid_balances_by_month");
        assert_eq!((unpaid.first_name.as_str(), unpaid.last_name.as_str()), ("Given0227", "Family0152"));
    }

    #[test]
    fn names_split_with_stray_spaces_and_initials() {
        assert_eq!(split_name("Family1018 , Given1569 L."), ("Given1569".into(), "Family1018".into()));
        assert_eq!(split_name("Family0769, Given1573"), ("Given1573".into(), "Family0769".into()));
        assert_eq!(split_name("Ó Briain, Mary Ann"), ("Mary Ann".into(), "Ó Briain".into()));
        assert_eq!(split_name("Acme LLC"), ("".into(), "Acme LLC".into()));
    }
}

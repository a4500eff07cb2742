//! Buildium leases and tenants → normalized residents (docs/connectors.md#buildium).
//!
//! A resident is one tenant on one lease of the property. The tenant's own status on the lease
//! (`Current`/`Future`/`MovedOut`) wins over the lease's (`Active`/`Future`/`Past`). Lease data comes
//! from `/v1/leases`, people from `/v1/leases/tenants`; leases embedded in tenants fill gaps.

use std::collections::{BTreeMap, HashMap};

use super::api::{LeaseMessage, PhoneNumberMessage, TenantMessage};
use crate::domain::{Entitlement, Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};
use crate::pms::{PmsError, parse_date};

/// Normalizes a Buildium status: tenant-on-lease and lease vocabularies both.
pub fn normalize(raw: &str) -> ResidentStatus {
    match raw.trim().to_ascii_lowercase().as_str() {
        "current" | "active" => ResidentStatus::Current,
        "future" => ResidentStatus::Future,
        "movedout" | "past" => ResidentStatus::Past,
        _ => ResidentStatus::Unknown,
    }
}

pub fn residents(
    property_id: &str,
    leases: &[LeaseMessage],
    tenants: &[TenantMessage],
) -> Result<Vec<Resident>, PmsError> {
    // A tenant without an Id cannot be told from anyone: dropping them would deprovision them.
    let on_leases = leases.iter().map(|l| {
        let listed = l.tenants.iter().flatten().filter(|t| t.id.is_none()).count();
        listed + l.current_tenants.iter().flatten().filter(|t| t.id.is_none()).count()
    });
    let unidentified = tenants.iter().filter(|t| t.id.is_none()).count() + on_leases.sum::<usize>();
    if unidentified > 0 {
        return Err(PmsError::Incomplete(format!("{unidentified} tenants without an Id")));
    }
    let people: HashMap<i64, &TenantMessage> = tenants.iter().filter_map(|t| Some((t.id?, t))).collect();
    let Households { by_id, members } = households(property_id, leases, tenants)?;

    let mut out = Vec::new();
    for (lease_id, ids) in members {
        let lease = by_id[&lease_id];
        // Buildium marks no head of household: the first tenant the lease lists is the primary,
        // the others co-residents (all are lease signers, so all get access by default).
        for (i, tenant_id) in ids.into_iter().enumerate() {
            let mut r = resident(property_id, lease_id, lease, tenant_id, &people)?;
            r.role = if i == 0 { ResidentRole::Primary } else { ResidentRole::CoResident };
            out.push(r);
        }
        out.extend(lease.cosigners.iter().flatten().filter_map(|c| cosigner(property_id, lease_id, lease, c)));
    }
    Ok(out)
}

/// Tenants the leases name with access whose records neither `tenants` nor the leases'
/// `CurrentTenants` carry (an incremental read fetches them one by one).
pub fn missing_tenants(
    property_id: &str,
    leases: &[LeaseMessage],
    tenants: &[TenantMessage],
) -> std::collections::BTreeSet<i64> {
    let Ok(Households { by_id, members }) = households(property_id, leases, tenants) else { return Default::default() };
    let known: std::collections::HashSet<i64> = tenants.iter().filter_map(|t| t.id).collect();
    members
        .into_iter()
        .flat_map(|(lease_id, ids)| ids.into_iter().map(move |id| (lease_id, id)))
        .filter(|(lease_id, tenant_id)| {
            let lease = by_id[lease_id];
            let embedded = lease.current_tenants.iter().flatten().any(|t| t.id == Some(*tenant_id));
            !known.contains(tenant_id) && !embedded && standing(lease, *tenant_id).status.access() != Entitlement::None
        })
        .map(|(_, tenant_id)| tenant_id)
        .collect()
}

/// The leases of a property by ID, and each lease's tenants (in the lease's order, each once).
struct Households<'a> {
    by_id: BTreeMap<i64, &'a LeaseMessage>,
    members: BTreeMap<i64, Vec<i64>>,
}

fn households<'a>(
    property_id: &str,
    leases: &'a [LeaseMessage],
    tenants: &'a [TenantMessage],
) -> Result<Households<'a>, PmsError> {
    let wanted: i64 =
        property_id.parse().map_err(|_| PmsError::InvalidResponse("property ID is not an integer".into()))?;
    // Leases of this property by ID: the lease listing first, then leases embedded in tenants.
    let mut by_id: BTreeMap<i64, &LeaseMessage> = BTreeMap::new();
    let embedded = tenants.iter().flat_map(|t| t.leases.iter().flatten());
    for lease in leases.iter().chain(embedded) {
        if lease.property_id.is_some_and(|p| p != wanted) {
            continue;
        }
        let id = lease.id.ok_or_else(|| PmsError::InvalidResponse("a lease without Id".into()))?;
        by_id.entry(id).or_insert(lease);
    }

    // Which tenants each lease has, from the lease itself and from the tenants' own lease lists.
    let mut members: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (id, lease) in &by_id {
        let list = members.entry(*id).or_default();
        let from_lease = lease.tenants.iter().flatten().filter_map(|t| t.id);
        let current = lease.current_tenants.iter().flatten().filter_map(|t| t.id);
        list.extend(from_lease.chain(current));
    }
    for tenant in tenants {
        let Some(tenant_id) = tenant.id else { continue };
        for lease in tenant.leases.iter().flatten() {
            if let Some(list) = lease.id.and_then(|id| members.get_mut(&id)) {
                list.push(tenant_id);
            }
        }
    }
    for list in members.values_mut() {
        let mut seen = std::collections::HashSet::with_capacity(list.len());
        list.retain(|id| seen.insert(*id));
    }
    Ok(Households { by_id, members })
}

/// A tenant's standing on one lease.
struct Standing {
    /// Their own status on the lease, else the lease's.
    status_raw: String,
    /// What it means, with notice and eviction derived from the lease.
    status: ResidentStatus,
    notice_given: Option<crate::domain::Date>,
    move_out: Option<crate::domain::Date>,
}

fn standing(lease: &LeaseMessage, tenant_id: i64) -> Standing {
    let on_lease = lease.tenants.iter().flatten().find(|t| t.id == Some(tenant_id));
    let status_raw = on_lease.and_then(|t| t.status.clone()).or_else(|| lease.lease_status.clone()).unwrap_or_default();
    let move_out_data = lease.move_out_data.iter().flatten().find(|m| m.tenant_id == Some(tenant_id));
    let notice_given = move_out_data.and_then(|m| parse_date(m.notice_given_date.as_deref()));
    let move_out = move_out_data.and_then(|m| parse_date(m.move_out_date.as_deref()));
    let mut status = normalize(&status_raw);
    if status == ResidentStatus::Current {
        if lease.is_eviction_pending.unwrap_or(false) {
            status = ResidentStatus::Evicted;
        } else if notice_given.is_some() || move_out.is_some() {
            status = ResidentStatus::Notice;
        }
    }
    Standing { status_raw, status, notice_given, move_out }
}

/// A lease's cosigner: a guarantor (no access unless `accessRoles` includes `Guarantor`), with the
/// lease's status. Cosigner IDs are their own ID space, hence the `c` prefix.
fn cosigner(property_id: &str, lease_id: i64, lease: &LeaseMessage, c: &TenantMessage) -> Option<Resident> {
    let status_raw = lease.lease_status.clone().unwrap_or_default();
    let mut r = Resident::new(property_id, &format!("c{}", c.id?), &status_raw, normalize(&status_raw));
    r.role = ResidentRole::Guarantor;
    r.lease_id = Some(lease_id.to_string());
    r.unit = lease.unit_number.clone().filter(|u| !u.trim().is_empty());
    r.first_name = c.first_name.clone().unwrap_or_default();
    r.last_name = c.last_name.clone().unwrap_or_default();
    r.emails = [&c.email, &c.alternate_email].into_iter().flatten().filter(|e| !e.trim().is_empty()).cloned().collect();
    r.phones = phones(c.phone_numbers.as_deref().unwrap_or_default());
    Some(r)
}

fn resident(
    property_id: &str,
    lease_id: i64,
    lease: &LeaseMessage,
    tenant_id: i64,
    people: &HashMap<i64, &TenantMessage>,
) -> Result<Resident, PmsError> {
    let on_lease = lease.tenants.iter().flatten().find(|t| t.id == Some(tenant_id));
    let in_current = lease.current_tenants.iter().flatten().find(|t| t.id == Some(tenant_id));
    let person = people.get(&tenant_id).copied().or(in_current);
    let Standing { status_raw, status, notice_given, move_out } = standing(lease, tenant_id);
    let under_eviction = lease.is_eviction_pending.unwrap_or(false);

    // Someone the lease names but the tenant listing does not return: a moved-out person needs no
    // contact details to be deprovisioned, but a person who should have access cannot be synced
    // safely, so the property is incomplete (rather than deprovisioning someone by omission).
    if person.is_none() && status.access() != Entitlement::None {
        return Err(PmsError::Incomplete(format!(
            "lease {lease_id} names tenant {tenant_id}, which the tenant listing did not return"
        )));
    }

    let mut r = Resident::new(property_id, &tenant_id.to_string(), &status_raw, status);
    r.lease_id = Some(lease_id.to_string());
    r.unit = lease.unit_number.clone().filter(|u| !u.trim().is_empty());
    r.lease_start = parse_date(lease.lease_from_date.as_deref());
    r.lease_end = parse_date(lease.lease_to_date.as_deref());
    r.move_in = on_lease.and_then(|t| parse_date(t.move_in_date.as_deref()));
    r.move_out = move_out;
    r.notice_given = notice_given;
    r.under_eviction = under_eviction;
    let Some(person) = person else { return Ok(r) };
    r.first_name = person.first_name.clone().unwrap_or_default();
    r.last_name = person.last_name.clone().unwrap_or_default();
    r.emails = [&person.email, &person.alternate_email]
        .into_iter()
        .flatten()
        .filter(|e| !e.trim().is_empty())
        .cloned()
        .collect();
    r.phones = phones(person.phone_numbers.as_deref().unwrap_or_default());
    Ok(r)
}

/// Mobile numbers first (the ones a door app can reach), fax numbers dropped.
fn phones(numbers: &[PhoneNumberMessage]) -> Vec<Phone> {
    let mut out: Vec<Phone> = numbers
        .iter()
        .filter_map(|p| {
            let number = p.number.as_deref()?.trim();
            let kind = match p.kind.as_deref().unwrap_or("") {
                "Cell" | "Personal" => PhoneKind::Mobile,
                "Home" => PhoneKind::Home,
                "Office" => PhoneKind::Work,
                "Fax" => return None,
                _ => PhoneKind::Other,
            };
            (!number.is_empty()).then(|| Phone { number: number.to_string(), kind })
        })
        .collect();
    out.sort_by_key(|p| p.kind as u8);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn tenant_status_wins_over_lease_status_and_notice_is_derived() {
        let leases: Vec<LeaseMessage> = parse(
            r#"[{"Id": 10, "PropertyId": 1, "UnitNumber": "4B", "LeaseStatus": "Active",
            "LeaseFromDate": "2025-01-01", "LeaseToDate": "2026-12-31",
            "Tenants": [{"Id": 1, "Status": "Current", "MoveInDate": "2025-01-01"}, {"Id": 2, "Status": "MovedOut"}, {"Id": 3, "Status": "Current"}],
            "MoveOutData": [{"TenantId": 3, "MoveOutDate": "2026-12-31", "NoticeGivenDate": "2026-10-01"}]}]"#,
        );
        let tenants: Vec<TenantMessage> = parse(
            r#"[
            {"Id": 1, "FirstName": "Zoë", "LastName": "Nguyễn", "Email": "z@example.org",
             "PhoneNumbers": [{"Number": "555-0101", "Type": "Fax"}, {"Number": "555-0100", "Type": "Home"}, {"Number": "555-0199", "Type": "Cell"}]},
            {"Id": 2, "FirstName": "B", "LastName": "B"}, {"Id": 3, "FirstName": "C", "LastName": "C"}]"#,
        );
        let rs = residents("1", &leases, &tenants).unwrap();
        assert_eq!(rs.len(), 3);
        assert_eq!(rs[0].status, ResidentStatus::Current);
        assert_eq!(rs[0].first_name, "Zoë");
        assert_eq!(rs[0].unit.as_deref(), Some("4B"));
        assert_eq!(rs[0].phones.iter().map(|p| p.number.as_str()).collect::<Vec<_>>(), ["555-0199", "555-0100"]);
        assert_eq!((rs[1].status_raw.as_str(), rs[1].status), ("MovedOut", ResidentStatus::Past));
        assert_eq!(rs[2].status, ResidentStatus::Notice);
        assert_eq!(rs[2].move_out.map(|d| d.to_string()).as_deref(), Some("2026-12-31"));
    }

    #[test]
    fn leases_embedded_in_tenants_are_used_and_other_properties_ignored() {
        let tenants: Vec<TenantMessage> = parse(
            r#"[{"Id": 5, "FirstName": "E", "LastName": "F",
            "Leases": [{"Id": 50, "PropertyId": 1, "LeaseStatus": "Future"}, {"Id": 60, "PropertyId": 2, "LeaseStatus": "Active"}]}]"#,
        );
        let rs = residents("1", &[], &tenants).unwrap();
        assert_eq!(rs.len(), 1);
        assert_eq!((rs[0].status_raw.as_str(), rs[0].status), ("Future", ResidentStatus::Future));
    }

    #[test]
    fn a_tenant_missing_from_the_listing_makes_the_property_incomplete() {
        let leases: Vec<LeaseMessage> = parse(
            r#"[{"Id": 10, "PropertyId": 1, "LeaseStatus": "Active", "Tenants": [{"Id": 9, "Status": "Current"}]}]"#,
        );
        assert!(matches!(residents("1", &leases, &[]), Err(PmsError::Incomplete(_))));
    }

    #[test]
    fn a_tenant_without_an_id_fails_the_property_instead_of_vanishing() {
        let leases: Vec<LeaseMessage> = parse(
            r#"[{"Id": 10, "PropertyId": 1, "LeaseStatus": "Active", "Tenants": [{"Id": 1, "Status": "Current"}, {"Status": "Current"}]}]"#,
        );
        let tenants: Vec<TenantMessage> = parse(r#"[{"Id": 1, "FirstName": "A", "LastName": "B"}]"#);
        let err = residents("1", &leases, &tenants).unwrap_err();
        assert!(matches!(&err, PmsError::Incomplete(m) if m.contains("1 tenants without an Id")), "{err}");
        let listed: Vec<TenantMessage> = parse(r#"[{"Id": 1, "FirstName": "A", "LastName": "B"}, {"FirstName": "C"}]"#);
        assert!(matches!(residents("1", &leases[..0], &listed), Err(PmsError::Incomplete(_))));
    }

    #[test]
    fn a_moved_out_tenant_missing_from_the_listing_is_still_known_by_id() {
        let leases: Vec<LeaseMessage> = parse(
            r#"[{"Id": 10, "PropertyId": 1, "LeaseStatus": "Active", "Tenants": [{"Id": 9, "Status": "MovedOut"}]}]"#,
        );
        let rs = residents("1", &leases, &[]).unwrap();
        assert_eq!(
            (rs[0].person_id.as_str(), rs[0].status, rs[0].first_name.as_str()),
            ("9", ResidentStatus::Past, "")
        );
    }

    #[test]
    fn the_first_tenant_is_primary_and_cosigners_are_guarantors() {
        let leases: Vec<LeaseMessage> = parse(
            r#"[{"Id": 10, "PropertyId": 1, "LeaseStatus": "Active",
            "Tenants": [{"Id": 5, "Status": "Current"}, {"Id": 3, "Status": "Current"}],
            "Cosigners": [{"Id": 5, "FirstName": "G", "LastName": "U", "Email": "g@example.org"}]}]"#,
        );
        let tenants: Vec<TenantMessage> = parse(r#"[{"Id": 5, "FirstName": "A"}, {"Id": 3, "FirstName": "B"}]"#);
        let rs = residents("1", &leases, &tenants).unwrap();
        let roles: Vec<(&str, ResidentRole)> = rs.iter().map(|r| (r.person_id.as_str(), r.role)).collect();
        assert_eq!(
            roles,
            [("5", ResidentRole::Primary), ("3", ResidentRole::CoResident), ("c5", ResidentRole::Guarantor)]
        );
        assert_eq!(rs[2].status, ResidentStatus::Current);
    }

    #[test]
    fn eviction_pending_is_normalized_to_evicted() {
        let leases: Vec<LeaseMessage> = parse(
            r#"[{"Id": 10, "PropertyId": 1, "LeaseStatus": "Active", "IsEvictionPending": true,
            "CurrentTenants": [{"Id": 9, "FirstName": "G", "LastName": "H"}]}]"#,
        );
        let rs = residents("1", &leases, &[]).unwrap();
        assert_eq!((rs[0].status, rs[0].under_eviction), (ResidentStatus::Evicted, true));
    }
}

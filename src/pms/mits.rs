//! MITS ResidentTransactions (the Multifamily Information and Transactions Standard), as Yardi
//! and ResMan both serve it: `RT_Customer` households of `Customer`s with `Customer@Type`, names,
//! emails inside `Address`, `Phone@Type`, and `Lease` dates (docs/connectors.md#mits). Each vendor
//! brings its own status vocabulary (`normalize`); the document is read namespace-blind, so
//! `MITS:Customer` and `Customer` are the same element.

use crate::domain::Resident;
use crate::domain::{Phone, PhoneKind, ResidentRole, ResidentStatus};
use crate::pms::soap::Element;
use crate::pms::{MissingId, People, PmsError, Row, check_rows, parse_date};

/// The residents of every household in a ResidentTransactions `document`. `what` names the call
/// in errors; a person without an ID fails the listing (never dropped).
pub(crate) fn residents(
    property_id: &str,
    document: &Element,
    what: &str,
    normalize: fn(&str) -> ResidentStatus,
) -> Result<Vec<Resident>, PmsError> {
    let mut people = People::default();
    for household in document.descendants("RT_Customer") {
        for row in household_residents(property_id, household, normalize) {
            people.push(row);
        }
        check_rows(people.len(), what)?;
    }
    people.finish(what)
}

/// `Customer@Type` of a roommate: the person has no status of their own.
const ROOMMATE: &str = "customer";
/// The status reported for a roommate with an `ActualMoveOut` (MITS's word for a moved-out person).
const MOVED_OUT_ROOMMATE: &str = "former resident";

/// The people of one household (`RT_Customer`). The household's `CustomerID` is the lease
/// holder's tenant code (`t…`); roommates (`r…`, `Type="customer"`) take the household's status,
/// unit and lease dates. A household without `Customers` is a vacant unit (in
/// `GetUnitInformation` its `CustomerID` even holds a unit status): nobody.
pub(crate) fn household_residents(
    property_id: &str,
    household: &Element,
    normalize: fn(&str) -> ResidentStatus,
) -> Vec<Row> {
    let Some(customers) = household.child("Customers") else { return Vec::new() };
    let people: Vec<&Element> = customers.children.iter().filter(|c| c.name.eq_ignore_ascii_case("Customer")).collect();
    let household_id = household.text_of("CustomerID");
    let head = people
        .iter()
        .find(|c| c.text_of("CustomerID").is_some() && c.text_of("CustomerID") == household_id)
        .or_else(|| people.iter().find(|c| !kind(c).eq_ignore_ascii_case(ROOMMATE)))
        .copied();
    let head_status = head.map(|h| kind(&h)).unwrap_or_default();
    let head_lease = head.and_then(|h| h.child("Lease"));
    let unit = head
        .and_then(|h| h.child("Property"))
        .and_then(|p| p.text_of("UnitID"))
        .or_else(|| household.child("RT_Unit").and_then(|u| u.text_of("UnitID")));
    people
        .into_iter()
        .map(|customer| {
            let Some(person) = customer.text_of("CustomerID") else { return Some(Err(MissingId)) };
            let own = kind(&customer);
            let lease = customer.child("Lease");
            // A roommate has no status of their own: the household's, unless they moved out
            // (their own `ActualMoveOut`), which is theirs alone.
            let moved_out = lease
                .and_then(|l| parse_date(l.text_of("ActualMoveOut").as_deref()))
                .is_some_and(|d| !crate::domain::placeholder::is_placeholder_date(d));
            let status_raw = match own.eq_ignore_ascii_case(ROOMMATE) {
                true if moved_out => MOVED_OUT_ROOMMATE.to_string(),
                true => head_status.clone(),
                false => own.clone(),
            };
            let mut r = Resident::new(property_id, &person, &status_raw, normalize(&status_raw));
            let responsible = lease.and_then(|l| l.text_of("ResponsibleForLease"));
            r.role = if own.to_ascii_lowercase().contains("guarantor") {
                ResidentRole::Guarantor
            } else if head.is_some_and(|h| std::ptr::eq(h, customer)) {
                ResidentRole::Primary
            } else if responsible.is_some_and(|v| v.eq_ignore_ascii_case("false")) {
                ResidentRole::Occupant
            } else {
                ResidentRole::CoResident
            };
            r.lease_id = household_id.clone();
            r.unit = customer.child("Property").and_then(|p| p.text_of("UnitID")).or_else(|| unit.clone());
            if let Some(name) = customer.child("Name") {
                r.first_name = name.text_of("FirstName").unwrap_or_default();
                r.last_name = name.text_of("LastName").unwrap_or_default();
            }
            r.emails = customer
                .descendants("Email")
                .into_iter()
                .map(|e| e.text.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect();
            r.phones = customer
                .children
                .iter()
                .filter(|p| p.name.eq_ignore_ascii_case("Phone"))
                .filter_map(|p| {
                    let kind = match p
                        .attribute("Type")
                        .or(p.attribute("PhoneType"))
                        .unwrap_or("")
                        .to_ascii_lowercase()
                        .as_str()
                    {
                        "cell" | "mobile" => PhoneKind::Mobile,
                        "home" => PhoneKind::Home,
                        "office" | "work" => PhoneKind::Work,
                        _ => PhoneKind::Other,
                    };
                    Some(Phone { number: p.text_of("PhoneNumber")?, kind })
                })
                .collect();
            let date = |name: &str| {
                let own = lease.and_then(|l| parse_date(l.text_of(name).as_deref()));
                own.filter(|d| !crate::domain::placeholder::is_placeholder_date(*d))
                    .or_else(|| head_lease.and_then(|l| parse_date(l.text_of(name).as_deref())))
            };
            r.lease_start = date("LeaseFromDate");
            r.lease_end = date("LeaseToDate");
            r.move_in = date("ActualMoveIn").or_else(|| date("ExpectedMoveInDate"));
            // `ExpectedMoveOutDate` is a plan, not a move-out: current residents in the capture
            // carry ones years past. Only `ActualMoveOut` ends access by date, and only a
            // person's own: a head of household who moved out does not move the others out.
            r.move_out = lease
                .and_then(|l| parse_date(l.text_of("ActualMoveOut").as_deref()))
                .filter(|d| !crate::domain::placeholder::is_placeholder_date(*d));
            r.notice_given = date("NoticeDate");
            r.under_eviction = r.status == ResidentStatus::Evicted;
            Some(Ok(r))
        })
        .collect()
}

fn kind(customer: &&Element) -> String {
    customer.attribute("Type").unwrap_or_default().trim().to_string()
}

//! RPX `resident` records → normalized residents (docs/connectors.md#realpage-onesite).

use crate::domain::{Phone, PhoneKind, Resident, ResidentRole, ResidentStatus};
use crate::pms::soap::Element;
use crate::pms::{MissingId, Row, parse_date};

/// OneSite lease statuses (docs/connectors.md#statuses; the capture's `leasestatus` values are Former,
/// Former Applicant, Current, Applicant, Future Lease and Applicant - Lease Signed). A future lease
/// is a future resident: no access before move-in. Notice and eviction come as a date and a flag.
pub fn normalize(raw: &str) -> ResidentStatus {
    match raw.trim().to_ascii_lowercase().as_str() {
        "current" => ResidentStatus::Current,
        "future lease" | "applicant - lease signed" | "pending" | "future" => ResidentStatus::Future,
        "applicant" => ResidentStatus::Applicant,
        "former" | "former resident" | "past" => ResidentStatus::Past,
        "former applicant" | "cancelled" | "canceled" | "denied" => ResidentStatus::Cancelled,
        "notice" | "on notice" => ResidentStatus::Notice,
        "evicted" | "eviction" => ResidentStatus::Evicted,
        _ => ResidentStatus::Unknown,
    }
}

/// A `*bit` ("TRUE"/"FALSE") or flag ("Y"/"N") field.
fn flag(e: &Element, name: &str) -> bool {
    e.text_of(name).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "y" | "yes"))
}

/// The person's role. Guarantors and co-signers come flagged several ways in the capture
/// (`guarantorbit`, `cosignerbit`, `residentrelationship` "Guarantor", "Guarantor/Cosigner",
/// "xxxGuarantor_old", `contactstatus` "Guarantor" or "Co-signer"): any of them makes one.
fn role(e: &Element) -> ResidentRole {
    let relationship = e.text_of("residentrelationship").or_else(|| e.text_of("relationship")).unwrap_or_default();
    let relationship = relationship.to_ascii_lowercase();
    let contact = e.text_of("contactstatus").unwrap_or_default().to_ascii_lowercase();
    let kind = e.text_of("residenttype").unwrap_or_default();
    let guarantor = ["guarant", "cosign", "co-sign"];
    if flag(e, "guarantorbit")
        || flag(e, "cosignerbit")
        || guarantor.iter().any(|g| relationship.contains(g) || contact.contains(g))
    {
        ResidentRole::Guarantor
    } else if flag(e, "hohbit") || flag(e, "headofhousehold") || kind == "H" || relationship == "head of household" {
        ResidentRole::Primary
    } else if ["minor", "child", "dependent", "occupant", "occ"]
        .iter()
        .any(|o| relationship.contains(o) || kind.to_ascii_lowercase().contains(o))
    {
        ResidentRole::Occupant
    } else {
        ResidentRole::CoResident
    }
}

pub(crate) fn resident(site_id: &str, e: &Element) -> Row {
    let Some(person) = e.text_of("residentmemberid").or_else(|| e.text_of("residentid")) else {
        return Some(Err(MissingId));
    };
    let status_raw = e.text_of("leasestatus").unwrap_or_default();
    let mut status = normalize(&status_raw);
    // The person's own status wins over the lease's: a "Former resident" on a current lease
    // (moved out, lease goes on with the others) has no access, as for Buildium.
    let contact = e.text_of("contactstatus").unwrap_or_default();
    let moved_out = contact.eq_ignore_ascii_case("former resident");
    if moved_out {
        status = ResidentStatus::Past;
    }
    let notice_given = parse_date(e.text_of("noticegivendate").as_deref());
    let evict = flag(e, "inevict") || flag(e, "evict");
    if status == ResidentStatus::Current {
        if evict {
            status = ResidentStatus::Evicted;
        } else if notice_given.is_some() {
            status = ResidentStatus::Notice;
        }
    }
    let raw = if moved_out { contact } else { status_raw };
    let mut r = Resident::new(site_id, &person, &raw, status);
    r.role = role(e);
    r.lease_id = e.text_of("leaseid").or_else(|| e.text_of("residentid"));
    r.unit = e.text_of("unitnumber");
    r.first_name = e.text_of("firstname").unwrap_or_default();
    r.last_name = e.text_of("lastname").unwrap_or_default();
    r.emails = e.text_of("email").into_iter().collect();
    r.phones = [
        ("cellphone", PhoneKind::Mobile),
        ("homephone", PhoneKind::Home),
        ("workphone", PhoneKind::Work),
        ("phone", PhoneKind::Other),
    ]
    .into_iter()
    .filter_map(|(name, kind)| Some(Phone { number: e.text_of(name)?, kind }))
    .collect();
    r.lease_start = parse_date(e.text_of("begindate").as_deref());
    r.lease_end = parse_date(e.text_of("enddate").as_deref());
    r.move_in = parse_date(e.text_of("moveindate").as_deref());
    r.move_out = parse_date(e.text_of("moveoutdate").or_else(|| e.text_of("noticefordate")).as_deref());
    r.notice_given = notice_given;
    r.under_eviction = evict;
    Some(Ok(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pms::soap;

    #[test]
    fn reads_residents_and_derives_notice_and_eviction() {
        let xml = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getresidentlistResponse xmlns="http://tempuri.org/">
          <getresidentlistResult><residentlist>
            <resident><residentid>R1</residentid><residentmemberid>M1</residentmemberid><unitnumber>204</unitnumber>
              <firstname>José</firstname><lastname>Núñez</lastname><leasestatus>Current</leasestatus><headofhousehold>true</headofhousehold>
              <noticegivendate>2026-10-01T00:00:00</noticegivendate><cellphone>555-0101</cellphone></resident>
            <resident><residentmemberid>M2</residentmemberid><leasestatus>Current</leasestatus><evict>Y</evict></resident>
            <resident><residentmemberid>M3</residentmemberid><leasestatus>Applicant - Lease Signed</leasestatus><residenttype>Occupant</residenttype></resident>
          </residentlist></getresidentlistResult></getresidentlistResponse></s:Body></s:Envelope>"#;
        let doc = soap::parse(xml).unwrap();
        let rs: Vec<Resident> =
            doc.descendants("resident").into_iter().filter_map(|e| resident("5446271", e)?.ok()).collect();
        let got: Vec<(&str, ResidentStatus, ResidentRole)> =
            rs.iter().map(|r| (r.person_id.as_str(), r.status, r.role)).collect();
        assert_eq!(
            got,
            [
                ("M1", ResidentStatus::Notice, ResidentRole::Primary),
                ("M2", ResidentStatus::Evicted, ResidentRole::CoResident),
                ("M3", ResidentStatus::Future, ResidentRole::Occupant)
            ]
        );
        assert_eq!(rs[0].first_name, "José");
    }
}

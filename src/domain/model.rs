//! The normalized resident every PMS connector produces (docs/connectors.md#statuses).

use std::fmt;

/// A calendar date as the PMS gives it (property-local; no time zone).
pub type Date = jiff::civil::Date;

/// Normalized lease status of one person on one lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResidentStatus {
    Applicant,
    Future,
    Current,
    Notice,
    Evicted,
    Past,
    Cancelled,
    Unknown,
}

/// What a resident with a given status is entitled to in the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entitlement {
    /// An active user.
    Granted,
    /// A user that exists but has no access yet (future residents, until move-in).
    Scheduled,
    /// No user: not created, and deprovisioned if it exists.
    None,
}

impl ResidentStatus {
    pub const ALL: [ResidentStatus; 8] = [
        Self::Applicant,
        Self::Future,
        Self::Current,
        Self::Notice,
        Self::Evicted,
        Self::Past,
        Self::Cancelled,
        Self::Unknown,
    ];

    /// The normalized name users write in `excludedLeaseStatuses`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applicant => "applicant",
            Self::Future => "future",
            Self::Current => "current",
            Self::Notice => "notice",
            Self::Evicted => "evicted",
            Self::Past => "past",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
        }
    }

    /// The status decides access; dates only schedule (docs/decisions.md).
    /// A resident under eviction still lives there until the PMS moves them out, so they keep access;
    /// an unknown status never grants access.
    pub fn access(self) -> Entitlement {
        match self {
            Self::Current | Self::Notice | Self::Evicted => Entitlement::Granted,
            Self::Future => Entitlement::Scheduled,
            Self::Applicant | Self::Past | Self::Cancelled | Self::Unknown => Entitlement::None,
        }
    }

    /// Order used when one person appears on several leases of one property (renewal, transfer):
    /// the highest-access status wins.
    pub fn access_rank(self) -> u8 {
        match self {
            Self::Current => 7,
            Self::Notice => 6,
            Self::Evicted => 5,
            Self::Future => 4,
            Self::Applicant => 3,
            Self::Unknown => 2,
            Self::Cancelled => 1,
            Self::Past => 0,
        }
    }
}

impl fmt::Display for ResidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's role on a lease. Only roles listed in the spec's `accessRoles` get access (by default
/// primary, co-resident and occupant; never a guarantor unless asked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResidentRole {
    Primary,
    CoResident,
    Occupant,
    Guarantor,
    Other,
}

impl ResidentRole {
    pub const DEFAULT_ACCESS: [ResidentRole; 3] = [Self::Primary, Self::CoResident, Self::Occupant];
}

/// Kind of a phone number, as far as the PMS tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneKind {
    Mobile,
    Home,
    Work,
    Other,
}

impl PhoneKind {
    /// SCIM `phoneNumbers[].type` canonical value.
    pub fn scim_type(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::Home => "home",
            Self::Work => "work",
            Self::Other => "other",
        }
    }
}

/// A phone number with its kind. `Debug` shows the kind only.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone {
    pub number: String,
    pub kind: PhoneKind,
}

/// One person on one lease at one attached property. Personal fields (names, emails, phones) flow
/// to the destination only; they never reach logs, events, status or metrics (`Debug` shows IDs,
/// status and role only).
#[derive(Clone, PartialEq, Eq)]
pub struct Resident {
    /// The PMS's own ID of the person (Buildium tenant `Id`).
    pub person_id: String,
    /// The PMS property the lease belongs to.
    pub property_id: String,
    pub lease_id: Option<String>,
    pub role: ResidentRole,
    pub unit: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// First is primary.
    pub emails: Vec<String>,
    /// First is primary.
    pub phones: Vec<Phone>,
    /// The vendor's own status string, as the user sees it in the PMS.
    pub status_raw: String,
    pub status: ResidentStatus,
    pub lease_start: Option<Date>,
    pub lease_end: Option<Date>,
    pub move_in: Option<Date>,
    pub move_out: Option<Date>,
    pub notice_given: Option<Date>,
    pub under_eviction: bool,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone").field("number", &REDACTED).field("kind", &self.kind).finish()
    }
}

impl std::fmt::Debug for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resident")
            .field("property_id", &self.property_id)
            .field("person_id", &self.person_id)
            .field("lease_id", &self.lease_id)
            .field("status", &self.status)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What `Debug` prints in place of personal data and secrets.
pub const REDACTED: Redacted = Redacted;

/// Prints `<redacted>`.
pub struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Resident {
    /// A resident with only the identifying fields set; handy for connectors and tests.
    pub fn new(property_id: &str, person_id: &str, status_raw: &str, status: ResidentStatus) -> Self {
        Self {
            person_id: person_id.to_string(),
            property_id: property_id.to_string(),
            lease_id: None,
            role: ResidentRole::Primary,
            unit: None,
            first_name: String::new(),
            last_name: String::new(),
            emails: Vec::new(),
            phones: Vec::new(),
            status_raw: status_raw.to_string(),
            status,
            lease_start: None,
            lease_end: None,
            move_in: None,
            move_out: None,
            notice_given: None,
            under_eviction: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_personal_data() {
        let mut r = Resident::new("101", "7", "Current", ResidentStatus::Current);
        r.first_name = "Zoë".into();
        r.last_name = "Ångström".into();
        r.emails = vec!["zoe@example.org".into()];
        r.phones = vec![Phone { number: "555-0101".into(), kind: PhoneKind::Mobile }];
        let user = crate::domain::UserRecord {
            external_id: "ns/it/101/7".into(),
            given_name: r.first_name.clone(),
            family_name: r.last_name.clone(),
            emails: r.emails.clone(),
            phones: r.phones.clone(),
            ..Default::default()
        };
        let text = format!("{r:?} {user:?} {:?}", r.phones);
        for value in ["Zoë", "Ångström", "zoe@example.org", "555-0101"] {
            assert!(!text.contains(value), "{text}");
        }
        assert!(text.contains("ns/it/101/7") && text.contains("person_id: \"7\""), "{text}");
    }
}

//! Values PMSes put where they have nothing to say: they mean "absent" and are dropped before a
//! resident becomes a user (issue 11). Seen in real data (`../shared/vendor-samples/PROVENANCE.md`):
//! RealPage's `none@nowhere.com` on 299 of 300 residents, Yardi's `ActualMoveIn` `0001-01-01`,
//! AppFolio's `move_in` `1970-01-01`, RealPage's `dateofbirth` `1900-01-01`, and digit-less phone
//! masks such as `(   )    -`. Taking them as real would hold every resident carrying the shared
//! placeholder email back as a duplicate, or end a resident's access in the year 1.

use super::model::{Date, Resident};

/// Local parts and domains that only ever stand for "no email".
const NO_EMAIL_LOCAL: [&str; 10] =
    ["none", "noemail", "no-email", "no_email", "noreply", "no-reply", "donotreply", "do-not-reply", "na", "n/a"];
const NO_EMAIL_DOMAIN: [&str; 4] = ["nowhere.com", "noemail.com", "none.com", "no-email.com"];

/// Whether `email` is a placeholder (or not an address at all).
pub fn is_placeholder_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.rsplit_once('@') else { return true };
    if local.is_empty() || !domain.contains('.') {
        return true;
    }
    NO_EMAIL_LOCAL.iter().any(|l| local.eq_ignore_ascii_case(l))
        || NO_EMAIL_DOMAIN.iter().any(|d| domain.eq_ignore_ascii_case(d))
}

/// Fewest digits a dialable number has (a 7-digit local number); masks and stubs have fewer.
const MIN_PHONE_DIGITS: usize = 7;

/// Whether `number` is a mask or stub: too few digits, or nothing but zeros.
pub fn is_placeholder_phone(number: &str) -> bool {
    let digits = number.bytes().filter(u8::is_ascii_digit);
    digits.clone().count() < MIN_PHONE_DIGITS || digits.clone().all(|d| d == b'0')
}

/// Whether `date` is a "no date" sentinel: `0001-01-01` and anything up to `1900-01-01`, the Unix
/// epoch `1970-01-01`, and the far-future `9999-…` some systems use for "open".
pub fn is_placeholder_date(date: Date) -> bool {
    date.year() <= 1900 || date == jiff::civil::date(1970, 1, 1) || date.year() >= 9999
}

/// Drops every placeholder email, phone and date of `resident`.
pub fn scrub(resident: &mut Resident) {
    resident.emails.retain(|e| !is_placeholder_email(e));
    resident.phones.retain(|p| !is_placeholder_phone(&p.number));
    for date in [
        &mut resident.lease_start,
        &mut resident.lease_end,
        &mut resident.move_in,
        &mut resident.move_out,
        &mut resident.notice_given,
    ] {
        if date.is_some_and(is_placeholder_date) {
            *date = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Phone, PhoneKind, ResidentStatus};

    #[test]
    fn placeholder_emails_are_recognised_and_real_ones_kept() {
        for placeholder in ["none@nowhere.com", "NONE@NOWHERE.COM", "noemail@x.org", "n/a", "", "a@b", "@x.org"] {
            assert!(is_placeholder_email(placeholder), "{placeholder:?}");
        }
        for real in ["resident0001@example.org", "Resident0002+tag0003@example.org", "nonet@nowhere.co"] {
            assert!(!is_placeholder_email(real), "{real:?}");
        }
    }

    #[test]
    fn phone_masks_and_stubs_are_placeholders() {
        for placeholder in ["(   )    -", "", "-", "000-000-0000", "555-01"] {
            assert!(is_placeholder_phone(placeholder), "{placeholder:?}");
        }
        for real in ["5550100", "+1 5550100911", "(555) 010-0003 Cell", "Phone: (555) 010-1146"] {
            assert!(!is_placeholder_phone(real), "{real:?}");
        }
    }

    #[test]
    fn sentinel_dates_become_absent_and_real_dates_stay() {
        let mut r = Resident::new("1", "p", "Current", ResidentStatus::Current);
        r.move_in = Some(jiff::civil::date(1, 1, 1));
        r.move_out = Some(jiff::civil::date(1970, 1, 1));
        r.lease_start = Some(jiff::civil::date(1900, 1, 1));
        r.lease_end = Some(jiff::civil::date(9999, 12, 31));
        r.notice_given = Some(jiff::civil::date(2025, 3, 1));
        r.emails = vec!["none@nowhere.com".into(), "resident0001@example.org".into()];
        r.phones = vec![
            Phone { number: "(   )    -".into(), kind: PhoneKind::Home },
            Phone { number: "555-010-1000".into(), kind: PhoneKind::Mobile },
        ];
        scrub(&mut r);
        assert_eq!((r.move_in, r.move_out, r.lease_start, r.lease_end), (None, None, None, None));
        assert_eq!(r.notice_given, Some(jiff::civil::date(2025, 3, 1)));
        assert_eq!(r.emails, ["resident0001@example.org"]);
        assert_eq!(r.phones.len(), 1);
        assert_eq!(r.phones[0].kind, PhoneKind::Mobile);
    }
}

//! First contact with users that exist in the destination but are not ours yet (the matching rules
//! of access vendors' own sync, made explicit; docs/decisions.md): a user is adopted only when first name, last name and email all match
//! (case-insensitive, trimmed) and it carries no identity of its own; the same email with anything
//! else is a conflict — never merged, reported with IDs only.

use std::collections::HashMap;

use super::plan::{Action, Plan};
use super::user::ManagedUser;

/// A resident that could not be created because a user with its email exists and is not an exact
/// match. IDs only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Our identity for the resident.
    pub external_id: String,
    /// The destination ID of the user holding the email, when known.
    pub user_id: Option<String>,
}

/// The primary emails of the planned creates: what to look up before creating.
pub fn create_emails(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::Create(u) => u.emails.first().cloned(),
            _ => None,
        })
        .collect()
}

/// Turns creates into adoptions or conflicts given `candidates`: destination users found by the
/// creates' emails (an empty `external_id` means the user carries none).
pub fn resolve(plan: &mut Plan, candidates: Vec<ManagedUser>) -> Vec<Conflict> {
    let mut by_email: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        let mut keys: Vec<String> = c.record.emails.iter().map(|e| normalize(e)).collect();
        keys.push(normalize(c.record.user_name()));
        keys.sort();
        keys.dedup();
        for key in keys {
            by_email.entry(key).or_default().push(i);
        }
    }
    let mut conflicts = Vec::new();
    let actions = std::mem::take(&mut plan.actions);
    for action in actions {
        let Action::Create(desired) = action else {
            plan.actions.push(action);
            continue;
        };
        let matches = desired.emails.first().and_then(|e| by_email.get(&normalize(e)));
        match matches.map(Vec::as_slice) {
            None | Some([]) => plan.actions.push(Action::Create(desired)),
            Some([only]) if is_exact_match(&candidates[*only], &desired) => {
                plan.actions.push(Action::Adopt { existing: candidates[*only].clone(), desired })
            }
            Some([first, ..]) => conflicts
                .push(Conflict { external_id: desired.external_id, user_id: Some(candidates[*first].id.clone()) }),
        }
    }
    conflicts
}

fn is_exact_match(candidate: &ManagedUser, desired: &super::user::UserRecord) -> bool {
    candidate.record.external_id.is_empty()
        && normalize(&candidate.record.given_name) == normalize(&desired.given_name)
        && normalize(&candidate.record.family_name) == normalize(&desired.family_name)
}

fn normalize(text: &str) -> String {
    text.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::UserRecord;

    fn record(external_id: &str, given: &str, family: &str, email: &str) -> UserRecord {
        UserRecord {
            external_id: external_id.into(),
            user_name: email.into(),
            given_name: given.into(),
            family_name: family.into(),
            emails: vec![email.into()],
            phones: vec![],
            active: true,
            ..UserRecord::default()
        }
    }

    fn plan_creating(records: Vec<UserRecord>) -> Plan {
        Plan { actions: records.into_iter().map(Action::Create).collect(), ..Plan::default() }
    }

    #[test]
    fn an_exact_match_without_identity_is_adopted() {
        let mut plan = plan_creating(vec![record("ns/it/1/1", "Zoë", "Ångström", "zoe@example.org")]);
        let existing = ManagedUser { id: "u1".into(), record: record("", " zoë ", "ÅNGSTRÖM", "ZOE@example.org") };
        let conflicts = resolve(&mut plan, vec![existing]);
        assert!(conflicts.is_empty());
        assert!(
            matches!(&plan.actions[..], [Action::Adopt { existing, desired }] if existing.id == "u1" && desired.external_id == "ns/it/1/1")
        );
    }

    #[test]
    fn same_email_with_another_name_or_an_identity_of_its_own_is_a_conflict() {
        let mut plan = plan_creating(vec![
            record("ns/it/1/1", "Ann", "Lee", "ann@example.org"),
            record("ns/it/1/2", "Bo", "Ng", "bo@example.org"),
            record("ns/it/1/3", "Cy", "Do", "cy@example.org"),
        ]);
        let candidates = vec![
            ManagedUser { id: "u1".into(), record: record("", "Anne", "Lee", "ann@example.org") },
            ManagedUser { id: "u2".into(), record: record("okta/123", "Bo", "Ng", "bo@example.org") },
        ];
        let conflicts = resolve(&mut plan, candidates);
        assert_eq!(
            conflicts,
            [
                Conflict { external_id: "ns/it/1/1".into(), user_id: Some("u1".into()) },
                Conflict { external_id: "ns/it/1/2".into(), user_id: Some("u2".into()) }
            ]
        );
        assert!(matches!(&plan.actions[..], [Action::Create(r)] if r.external_id == "ns/it/1/3"));
    }
}

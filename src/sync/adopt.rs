//! First contact with users that exist in the destination but are not ours yet (Latch's matching
//! rules, made explicit): a user is adopted only when first name, last name and email all match
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
        keys.push(normalize(&c.record.user_name));
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

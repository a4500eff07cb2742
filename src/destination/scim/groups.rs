//! SCIM groups (docs/destinations.md#scim-groups): plan from the desired users, then, after the
//! user writes, create missing groups and PATCH `members` with `add` and `remove` in batches —
//! never a full replace, so members someone else added stay. A provider without PATCH gets the
//! smallest PUT (read, change our members, write back: a concurrent edit in between is lost).

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Listed, PATCH_SCHEMA, Scim, encode_path, quote, read_json};
use crate::destination::{DestinationError, GroupOutcome};
use crate::domain::groups::{self, GroupChange, GroupPlan};
use crate::domain::{Scope, UserRecord};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Members per request: one `add` operation of up to this many, or this many `remove`s.
const MEMBERS_PER_REQUEST: usize = 100;

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupResource {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Clone, Deserialize)]
struct Member {
    #[serde(default)]
    value: Option<String>,
}

impl GroupResource {
    /// Members with an ID (the fuzz target's count).
    pub(super) fn member_count(&self) -> usize {
        self.members.iter().filter(|m| m.value.is_some()).count()
    }
}

impl Listed for GroupResource {
    fn id(&self) -> &str {
        &self.id
    }
}

/// What a group name is taken by, for a group of ours that does not exist yet.
enum Taken {
    Free,
    /// One group of that name without an `externalId`: adoptable.
    Unlinked(GroupResource),
    /// Someone else's group (another `externalId`, or several of the name).
    Other,
}

impl Scim {
    pub(super) async fn plan_groups(
        &self,
        scope: &Scope,
        users: &[UserRecord],
        frozen: &BTreeSet<String>,
    ) -> Result<GroupPlan, DestinationError> {
        if self.groups.is_empty() {
            return Ok(GroupPlan::default());
        }
        let wanted = groups::wanted(scope, &self.groups, users);
        let marker = format!("{}group/", scope.prefix());
        let filter = format!("externalId sw {}", quote(&marker));
        let ours: Vec<GroupResource> = self
            .list::<GroupResource>("Groups", &filter)
            .await?
            .into_iter()
            .filter(|g| g.external_id.as_deref().is_some_and(|e| e.starts_with(&marker)))
            .collect();
        // SCIM user ID → our identity; members without one are not ours and never touched.
        let identity: HashMap<String, String> = self.ids().iter().map(|(e, id)| (id.clone(), e.clone())).collect();
        let managed: BTreeSet<String> =
            identity.values().cloned().chain(users.iter().map(|u| u.external_id.clone())).collect();
        let members_of = |g: &GroupResource| -> BTreeSet<String> {
            g.members.iter().filter_map(|m| identity.get(m.value.as_deref()?).cloned()).collect()
        };
        let all_groups = if self.capabilities().await?.filter { None } else { Some(self.list("Groups", "").await?) };
        let mut plan = GroupPlan::default();
        for (name, want) in &wanted {
            let external_id = groups::group_external_id(scope, name);
            let (id, adopt, current) = match ours
                .iter()
                .find(|g| g.external_id.as_deref() == Some(external_id.as_str()))
            {
                Some(group) => (Some(group.id.clone()), false, members_of(group)),
                None => match self.taken(name, all_groups.as_deref()).await? {
                    Taken::Free => (None, false, BTreeSet::new()),
                    Taken::Unlinked(group) if want.adopt_existing => (Some(group.id.clone()), true, members_of(&group)),
                    Taken::Unlinked(_) | Taken::Other => {
                        plan.conflicts.push(external_id);
                        continue;
                    }
                },
            };
            plan.memberships += current.len() as u64;
            let c = groups::changes(&current, &managed, &want.members, frozen);
            if id.is_none() || adopt || !c.is_empty() {
                let display_name = name.clone();
                plan.changes.push(GroupChange { display_name, external_id, id, adopt, add: c.add, remove: c.remove });
            }
        }
        // Our groups no template names any more: our members leave, the group stays.
        for group in &ours {
            let external_id = group.external_id.clone().unwrap_or_default();
            if wanted.keys().any(|name| groups::group_external_id(scope, name) == external_id) {
                continue;
            }
            let current = members_of(group);
            plan.memberships += current.len() as u64;
            let c = groups::changes(&current, &managed, &BTreeSet::new(), frozen);
            if !c.is_empty() {
                let display_name = group.display_name.clone().unwrap_or_default();
                let id = Some(group.id.clone());
                plan.changes.push(GroupChange {
                    display_name,
                    external_id,
                    id,
                    adopt: false,
                    add: c.add,
                    remove: c.remove,
                });
            }
        }
        Ok(plan)
    }

    /// Whether a group named `name` exists (by filter, or in `all` when the provider cannot filter).
    async fn taken(&self, name: &str, all: Option<&[GroupResource]>) -> Result<Taken, DestinationError> {
        let listed;
        let candidates: Vec<&GroupResource> = match all {
            Some(all) => all.iter().collect(),
            None => {
                listed = self.list::<GroupResource>("Groups", &format!("displayName eq {}", quote(name))).await?;
                listed.iter().collect()
            }
        };
        let mut same: Vec<&GroupResource> = candidates
            .into_iter()
            .filter(|g| g.display_name.as_deref().is_some_and(|d| d.trim().eq_ignore_ascii_case(name)))
            .collect();
        Ok(match (same.len(), same.pop()) {
            (0, _) => Taken::Free,
            (1, Some(g)) if g.external_id.as_deref().is_none_or(str::is_empty) => Taken::Unlinked(g.clone()),
            _ => Taken::Other,
        })
    }

    pub(super) async fn apply_groups(&self, plan: &GroupPlan) -> GroupOutcome {
        let mut out = GroupOutcome::default();
        if plan.changes.is_empty() {
            return out;
        }
        // A user created without its ID in the answer is looked up once.
        let unknown = plan.changes.iter().flat_map(|c| c.add.iter()).any(|e| !self.ids().contains_key(e));
        if unknown
            && let Some(prefix) = self.prefix.get()
            && let Err(e) = self.list_managed(prefix).await
        {
            out.errors.push(e);
            return out;
        }
        let patch = match self.capabilities().await {
            Ok(caps) => caps.patch,
            Err(e) => {
                out.errors.push(e);
                return out;
            }
        };
        for change in &plan.changes {
            // Identities without a user (a create that failed) join next run.
            let (add, remove) = {
                let ids = self.ids();
                let resolve = |list: &[String]| list.iter().filter_map(|e| ids.get(e).cloned()).collect::<Vec<_>>();
                (resolve(&change.add), resolve(&change.remove))
            };
            let result = match &change.id {
                None => self.create_group(change, &add).await.map(|()| out.created += 1),
                Some(id) if patch => self.patch_members(id, change.adopt.then_some(change), &add, &remove).await,
                Some(id) => self.put_members(id, change, &add, &remove).await,
            };
            match result {
                Ok(()) => {
                    out.added += add.len() as u64;
                    out.removed += remove.len() as u64;
                }
                Err(e) => out.errors.push(e),
            }
        }
        out
    }

    async fn create_group(&self, change: &GroupChange, members: &[String]) -> Result<(), DestinationError> {
        let (first, rest) = members.split_at(members.len().min(MEMBERS_PER_REQUEST));
        let body = json!({
            "schemas": [GROUP_SCHEMA],
            "displayName": change.display_name,
            "externalId": change.external_id,
            "members": member_values(first),
        });
        let response = self.send(reqwest::Method::POST, "Groups", &body).await?;
        if rest.is_empty() {
            return Ok(());
        }
        let created: GroupResource = read_json(&self.http, response).await?;
        if self.capabilities().await?.patch {
            self.patch_members(&created.id, None, rest, &[]).await
        } else {
            self.put_members(&created.id, change, rest, &[]).await
        }
    }

    /// PATCHes `add` and `remove` in batches; `adopt` first sets our `externalId` on the group.
    async fn patch_members(
        &self,
        id: &str,
        adopt: Option<&GroupChange>,
        add: &[String],
        remove: &[String],
    ) -> Result<(), DestinationError> {
        let path = format!("Groups/{}", encode_path(id));
        let mut requests: Vec<Vec<Value>> = Vec::new();
        if let Some(change) = adopt {
            requests.push(vec![json!({"op": "replace", "path": "externalId", "value": change.external_id})]);
        }
        for chunk in add.chunks(MEMBERS_PER_REQUEST) {
            requests.push(vec![json!({"op": "add", "path": "members", "value": member_values(chunk)})]);
        }
        for chunk in remove.chunks(MEMBERS_PER_REQUEST) {
            let ops = chunk
                .iter()
                .map(|m| json!({"op": "remove", "path": format!("members[value eq {}]", quote(m))}))
                .collect();
            requests.push(ops);
        }
        for operations in requests {
            let body = json!({"schemas": [PATCH_SCHEMA], "Operations": operations});
            self.send_json(reqwest::Method::PATCH, &path, &body).await?;
        }
        Ok(())
    }

    /// Without PATCH: read the group, change only our members, write it back.
    async fn put_members(
        &self,
        id: &str,
        change: &GroupChange,
        add: &[String],
        remove: &[String],
    ) -> Result<(), DestinationError> {
        let path = format!("Groups/{}", encode_path(id));
        let url = self.url(&path);
        let response = self.call(|c| c.get(&url)).await?;
        let group: GroupResource = read_json(&self.http, response).await?;
        let mut members: Vec<String> = group.members.into_iter().filter_map(|m| m.value).collect();
        members.retain(|m| !remove.contains(m));
        members.extend(add.iter().filter(|a| !members.contains(a)).cloned().collect::<Vec<_>>());
        let external_id = if change.adopt { Some(change.external_id.clone()) } else { group.external_id };
        let body = json!({
            "schemas": [GROUP_SCHEMA],
            "id": id,
            "displayName": group.display_name.unwrap_or_else(|| change.display_name.clone()),
            "externalId": external_id,
            "members": member_values(&members),
        });
        self.send_json(reqwest::Method::PUT, &path, &body).await
    }
}

fn member_values(ids: &[String]) -> Value {
    ids.iter().map(|id| json!({"value": id})).collect()
}

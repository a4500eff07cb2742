//! SCIM groups end to end: the controller on the real apiserver keeps a static group and one
//! group per unit in scim2-server (which supports PATCH of members) through a dry run, the first
//! sync, a no-op run, a move-in, a unit change and a move-out — adopting the residents group made
//! by hand (its own member stays), leaving a staff group and someone else's unit group alone.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use support::*;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn members(group: &Value) -> BTreeSet<String> {
    group["members"].as_array().into_iter().flatten().filter_map(|m| m["value"].as_str()).map(String::from).collect()
}

async fn groups_by_name(scim: &ScimServer) -> BTreeMap<String, Value> {
    scim.groups().await.into_iter().map(|g| (g["displayName"].as_str().unwrap_or_default().to_string(), g)).collect()
}

/// SCIM user IDs by our identity.
async fn user_ids(scim: &ScimServer) -> BTreeMap<String, String> {
    scim.users_by_key().await.into_iter().map(|(k, u)| (k, u["id"].as_str().unwrap_or_default().to_string())).collect()
}

#[tokio::test]
async fn groups_follow_access_and_spare_what_is_not_ours() {
    let w = World::start(ScimServer::full().await).await;
    let ns = w.ns.clone();
    // Made by hand before pms-sync: a guard, the residents group holding the guard, a staff group,
    // and a unit group someone else manages.
    let guard = w.scim.post("Users", json!({"schemas": [USER], "userName": "guard@example.org"})).await;
    let guard = guard["id"].as_str().unwrap().to_string();
    let guard_member = json!([{"value": guard}]);
    w.scim
        .post("Groups", json!({"schemas": [GROUP], "displayName": "Harbor View residents", "members": guard_member}))
        .await;
    let staff =
        w.scim.post("Groups", json!({"schemas": [GROUP], "displayName": "Staff", "members": guard_member})).await;
    let theirs = json!({"schemas": [GROUP], "displayName": "Harbor View unit 2A", "externalId": "facilities/2A"});
    let theirs = w.scim.post("Groups", theirs).await;

    let mut manifest = w.manifest();
    manifest["spec"]["destination"]["scim"]["groups"] = json!([
        {"displayName": "Harbor View residents", "adoptExisting": true},
        {"displayName": "Harbor View unit {unit}"},
    ]);
    let group_id = |name: &str| format!("{ns}/{NAME}/group/{name}");

    // A dry run plans the groups by identity and writes none.
    manifest["spec"]["dryRun"] = json!(true);
    w.apply(&manifest).await;
    let obj = wait_ready(&w.client, &ns, NAME, "True", "DryRun").await;
    let planned = obj.status.as_ref().unwrap().plan.as_ref().unwrap().groups.clone();
    let unit_1a = planned.iter().find(|g| g.external_id == group_id("Harbor View unit 1A")).expect("planned 1A");
    assert!(unit_1a.create);
    assert_eq!(unit_1a.add, [id(&ns, "101", 1), id(&ns, "101", 2)]);
    assert_eq!(groups_by_name(&w.scim).await.len(), 3, "nothing written");
    assert_no_personal_data(&obj);

    // First sync: residents with access (1, 2 in 1A; 6 in 1D; 7 in 2A; 8 in 2B), not the future
    // resident (3, 1B). The residents group is adopted, 1A, 1D and 2B are created, 2A is theirs.
    manifest["spec"]["dryRun"] = json!(false);
    w.apply(&manifest).await;
    let obj = wait_for(&w.client, &ns, NAME, "the first sync", |i| {
        i.status.as_ref().is_some_and(|s| s.summary.as_ref().is_some_and(|s| s.created > 0))
    })
    .await;
    let s = summary(&obj);
    assert_eq!((s.groups_created, s.memberships_added, s.memberships_removed, s.group_conflicts), (3, 9, 0, 1));
    let ids = user_ids(&w.scim).await;
    let user = |property: &str, person: i64| ids[&id(&ns, property, person)].clone();
    let set = |list: &[String]| list.iter().cloned().collect::<BTreeSet<_>>();
    let groups = groups_by_name(&w.scim).await;
    let residents = &groups["Harbor View residents"];
    assert_eq!(residents["externalId"], group_id("Harbor View residents"));
    let active = [user("101", 1), user("101", 2), user("101", 6), user("102", 7), user("102", 8)];
    assert_eq!(members(residents), set(&[&active[..], std::slice::from_ref(&guard)].concat()), "the guard stays");
    assert_eq!(members(&groups["Harbor View unit 1A"]), set(&active[..2]));
    assert_eq!(members(&groups["Harbor View unit 2B"]), set(&[user("102", 8)]));
    assert!(!groups.contains_key("Harbor View unit 1B"), "no access, no group");
    assert_eq!(groups["Staff"], staff);
    assert_eq!(groups["Harbor View unit 2A"], theirs);
    let notes = warnings(&w.client, &ns, "Conflict").await;
    assert!(notes.iter().any(|n| n.contains(&group_id("Harbor View unit 2A"))), "{notes:?}");

    // Nothing changed: no write at all.
    let before = w.scim.groups().await;
    let s = summary(&request_sync(&w.client, &ns, NAME).await);
    assert_eq!((s.groups_created, s.memberships_added, s.memberships_removed, s.created, s.updated), (0, 0, 0, 0, 0));
    assert_eq!(w.scim.groups().await, before, "a no-op run writes nothing");

    // Move-in (3 into 1B), unit change (8 from 2B to 2C), move-out (1 leaves 1A).
    w.fake.update(|d| {
        d.tenant_mut(3).for_each(|t| t.status = "Current".into());
        d.lease_mut(2).unwrap().status = "Active".into();
        d.lease_mut(6).unwrap().unit = "2C".into();
        d.tenant_mut(1).for_each(|t| t.status = "MovedOut".into());
    });
    let obj = request_sync(&w.client, &ns, NAME).await;
    let s = summary(&obj);
    assert_eq!((s.deprovisioned, s.failed), (1, 0), "{:?}", obj.status);
    assert_eq!((s.groups_created, s.memberships_added, s.memberships_removed), (2, 3, 3));
    let ids = user_ids(&w.scim).await;
    let user = |property: &str, person: i64| ids[&id(&ns, property, person)].clone();
    let groups = groups_by_name(&w.scim).await;
    let now_active = [user("101", 2), user("101", 3), user("101", 6), user("102", 7), user("102", 8), guard.clone()];
    assert_eq!(members(&groups["Harbor View residents"]), set(&now_active));
    assert_eq!(members(&groups["Harbor View unit 1A"]), set(&[user("101", 2)]));
    assert_eq!(members(&groups["Harbor View unit 1B"]), set(&[user("101", 3)]));
    assert_eq!(members(&groups["Harbor View unit 2C"]), set(&[user("102", 8)]));
    assert!(members(&groups["Harbor View unit 2B"]).is_empty(), "an emptied group stays");
    assert_eq!(groups["Staff"], staff);
    assert_eq!(groups["Harbor View unit 2A"], theirs);
    assert_no_personal_data(&obj);
}

/// A provider without PATCH (scim2-server configured without it, pages of 5): the group is read
/// and written back with only our members changed; someone else's member stays.
#[tokio::test]
async fn without_patch_the_smallest_put_keeps_foreign_members() {
    let w = World::start(ScimServer::reduced().await).await;
    let ns = w.ns.clone();
    let guard = w.scim.post("Users", json!({"schemas": [USER], "userName": "guard@example.org"})).await;
    let guard = guard["id"].as_str().unwrap().to_string();
    let by_hand = json!({"schemas": [GROUP], "displayName": "Residents", "members": [{"value": guard}]});
    w.scim.post("Groups", by_hand).await;
    let mut manifest = w.manifest();
    manifest["spec"]["destination"]["scim"]["groups"] = json!([{"displayName": "Residents", "adoptExisting": true}]);
    w.apply(&manifest).await;
    let obj = wait_ready(&w.client, &ns, NAME, "True", "Succeeded").await;
    assert_eq!((summary(&obj).memberships_added, summary(&obj).groups_created), (5, 0));
    let ids = user_ids(&w.scim).await;
    w.fake.update(|d| d.tenant_mut(2).for_each(|t| t.status = "MovedOut".into()));
    let s = summary(&request_sync(&w.client, &ns, NAME).await);
    assert_eq!((s.memberships_added, s.memberships_removed), (0, 1));
    let groups = groups_by_name(&w.scim).await;
    let expected: BTreeSet<String> = [(101, 1), (101, 6), (102, 7), (102, 8)]
        .iter()
        .map(|(p, t)| ids[&id(&ns, &p.to_string(), *t)].clone())
        .chain([guard])
        .collect();
    assert_eq!(members(&groups["Residents"]), expected);
    assert_eq!(groups["Residents"]["externalId"], format!("{ns}/{NAME}/group/Residents"));
}

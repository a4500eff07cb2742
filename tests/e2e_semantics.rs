//! Sync semantics on the real apiserver and scim2-server: the deprovisioning breaker and its
//! plan-bound approval, first-contact adoption and conflicts, shared emails, dry runs.

mod support;

use pms_sync::api::{APPROVE_DEPROVISION_ANNOTATION, PmsIntegration};
use serde_json::json;
use support::*;

fn held(obj: &PmsIntegration) -> Option<(u64, String)> {
    obj.status.as_ref()?.held_deprovision.as_ref().map(|h| (h.count, h.plan_digest.clone()))
}

fn scim_user(email: &str, given: &str, family: &str, external_id: Option<&str>) -> serde_json::Value {
    let mut user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": email, "primary": true}],
        "active": true,
    });
    if let Some(id) = external_id {
        user["externalId"] = json!(id);
    }
    user
}

#[tokio::test]
async fn an_outage_of_one_property_is_held_and_approval_releases_exactly_that_plan() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world.first_sync().await;
    let before = world.scim.users_by_key().await;

    // Property 102 answers with nobody (an outage that looks like success); a phone changes at 101.
    world.fake.update(|d| {
        d.properties[1].leases.clear();
        d.tenant_mut(1).for_each(|t| t.phones = vec![("555-4242".into(), "Cell".into())]);
    });
    let obj = request_sync(&world.client, ns, NAME).await;
    assert_eq!(ready(&obj), Some(("False".into(), "DeprovisionHeld".into())));
    let (count, first_digest) = held(&obj).expect("held deprovisioning");
    assert_eq!(count, 2);
    assert!(first_digest.starts_with("sha256:"));
    let s = summary(&obj);
    assert_eq!((s.updated, s.deprovisioned, s.held), (1, 0, 2), "the update applies, the deprovisioning waits");
    let after = world.scim.users_by_key().await;
    assert_eq!(after[&id(ns, "101", 1)]["phoneNumbers"][0]["value"], "555-4242");
    for untouched in [id(ns, "102", 7), id(ns, "102", 8)] {
        assert_eq!(before[&untouched], after[&untouched]);
    }
    let notes = warnings(&world.client, ns, "DeprovisionHeld").await;
    assert!(notes.iter().any(|n| n.contains(&first_digest)), "{notes:?}");

    // Meanwhile tenant 6 moves out of property 101: the hold is per property, so that legitimate
    // move-out proceeds while property 102's part stays held, unchanged.
    world.fake.update(|d| d.tenant_mut(6).for_each(|t| t.status = "MovedOut".into()));
    let obj = request_sync(&world.client, ns, NAME).await;
    assert_eq!(ready(&obj), Some(("False".into(), "DeprovisionHeld".into())));
    assert_eq!(held(&obj), Some((2, first_digest.clone())), "the same plan is held");
    assert_eq!(summary(&obj).deprovisioned, 1);
    let users = world.scim.users_by_key().await;
    assert_eq!(users[&id(ns, "101", 6)]["active"], false, "the move-out elsewhere was not blocked");
    for untouched in [id(ns, "102", 7), id(ns, "102", 8)] {
        assert_eq!(before[&untouched], users[&untouched], "still held");
    }

    // Approving the plan shown releases exactly it.
    annotate(&world.client, ns, NAME, APPROVE_DEPROVISION_ANNOTATION, &first_digest).await;
    let obj = wait_ready(&world.client, ns, NAME, "True", "Succeeded").await;
    assert!(held(&obj).is_none());
    assert_eq!(summary(&obj).deprovisioned, 2);
    let users = world.scim.users_by_key().await;
    for gone in [id(ns, "101", 6), id(ns, "102", 7), id(ns, "102", 8)] {
        assert_eq!(users[&gone]["active"], false, "{gone}");
    }
    assert_eq!(users[&id(ns, "101", 1)]["active"], true);
    assert_no_personal_data(&obj);
}

#[tokio::test]
async fn a_configuration_typo_goes_through_the_same_breaker() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world.first_sync().await;
    let mut manifest = world.manifest();
    manifest["spec"]["propertyIds"] = json!(["101", "1020"]); // a typo for 102
    world.apply(&manifest).await;
    let obj = wait_ready(&world.client, ns, NAME, "False", "DeprovisionHeld").await;
    assert_eq!(held(&obj).unwrap().0, 2);
    assert!(world.scim.users().await.iter().all(|u| u["active"] == true || u["externalId"] == id(ns, "101", 3)));
}

#[tokio::test]
async fn first_contact_adopts_exact_matches_and_reports_conflicts() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world.scim.create_user(scim_user("ZOE@example.org", " Zoë", "Ångström ", None)).await; // exact: adopted
    world.scim.create_user(scim_user("jose@example.org", "Joseph", "Nunez", None)).await; // another name
    world.scim.create_user(scim_user("kofi@example.org", "Kofi", "Mensah", Some("okta/00u1"))).await; // someone else's
    let before = world.scim.users_by_key().await;
    let zoe_id = before["ZOE@example.org"]["id"].clone();

    let obj = world.first_sync().await;
    let s = summary(&obj);
    assert_eq!((s.adopted, s.conflicts, s.created), (1, 2, 3));
    let users = world.scim.users_by_key().await;
    let zoe = &users[&id(ns, "101", 1)];
    assert_eq!(zoe["id"], zoe_id, "linked, not recreated");
    assert_eq!(zoe["name"]["givenName"], "Zoë");
    assert_eq!(users["jose@example.org"], before["jose@example.org"], "a conflict is never merged");
    assert_eq!(users["okta/00u1"], before["okta/00u1"], "another system's user is never touched");
    assert!(!users.contains_key(&id(ns, "101", 2)) && !users.contains_key(&id(ns, "102", 8)));

    let notes = warnings(&world.client, ns, "Conflict").await;
    let note = notes.first().expect("a Conflict event");
    assert!(note.contains(&id(ns, "101", 2)) && note.contains(&id(ns, "102", 8)), "{note}");
    for value in PERSONAL_VALUES {
        assert!(!note.contains(value), "the event names {value:?}");
    }
    assert!(!note.contains("jose@example.org"));
    assert_no_personal_data(&obj);

    // The next run writes nothing: the adopted user is ours now, the conflicts stay reported.
    let obj = request_sync(&world.client, ns, NAME).await;
    let s = summary(&obj);
    assert_eq!((s.created, s.updated, s.adopted, s.conflicts, s.unchanged), (0, 0, 0, 2, 4));
    assert_eq!(users, world.scim.users_by_key().await);
}

#[tokio::test]
async fn residents_sharing_an_email_are_held_back_and_an_email_change_updates_in_place() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world.fake.update(|d| d.tenant_mut(8).for_each(|t| t.email = Some("SIOBHAN@example.org".into())));
    let obj = world.first_sync().await;
    assert_eq!(summary(&obj).duplicate_emails, 2);
    let users = world.scim.users_by_key().await;
    assert!(!users.contains_key(&id(ns, "102", 7)) && !users.contains_key(&id(ns, "102", 8)));
    let notes = warnings(&world.client, ns, "DuplicateEmail").await;
    assert!(notes.iter().any(|n| n.contains(&id(ns, "102", 7)) && !n.contains("siobhan")), "{notes:?}");

    // Fixed in the PMS: both are created. Then an email change updates the same user.
    world.fake.update(|d| d.tenant_mut(8).for_each(|t| t.email = Some("kofi@example.org".into())));
    request_sync(&world.client, ns, NAME).await;
    let kofi_id = world.scim.users_by_key().await[&id(ns, "102", 8)]["id"].clone();
    world.fake.update(|d| d.tenant_mut(8).for_each(|t| t.email = Some("kofi.mensah@example.org".into())));
    let obj = request_sync(&world.client, ns, NAME).await;
    assert_eq!((summary(&obj).created, summary(&obj).updated), (0, 1));
    let kofi = &world.scim.users_by_key().await[&id(ns, "102", 8)];
    assert_eq!((&kofi["id"], &kofi["userName"]), (&kofi_id, &json!("kofi.mensah@example.org")));
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_writes_nothing() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    let mut manifest = world.manifest();
    manifest["spec"]["dryRun"] = json!(true);
    world.apply(&manifest).await;
    let obj = wait_ready(&world.client, ns, NAME, "True", "DryRun").await;
    let plan = obj.status.as_ref().unwrap().plan.clone().expect("status.plan");
    assert_eq!((plan.create, plan.update, plan.deprovision), (6, 0, 0));
    let by_property: Vec<(&str, u64)> = plan.properties.iter().map(|p| (p.id.as_str(), p.create)).collect();
    assert_eq!(by_property, [("101", 4), ("102", 2)]);
    assert!(obj.status.as_ref().unwrap().last_sync_time.is_none());
    assert!(world.scim.users().await.is_empty(), "a dry run wrote to the destination");

    manifest["spec"]["dryRun"] = json!(false);
    world.apply(&manifest).await;
    let obj = wait_ready(&world.client, ns, NAME, "True", "Succeeded").await;
    assert!(obj.status.unwrap().plan.is_none());
    assert_eq!(world.scim.users().await.len(), 6);
}

#[tokio::test]
async fn guarantors_get_access_only_when_their_role_is_listed() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world
        .fake
        .update(|d| d.lease_mut(5).unwrap().cosigners.push(new_tenant(77, "Grace", "Guarantor", "grace@example.org")));
    let guarantor = format!("{ns}/{NAME}/102/c77");
    world.first_sync().await;
    assert!(!world.scim.users_by_key().await.contains_key(&guarantor), "no access by default");
    let mut manifest = world.manifest();
    manifest["spec"]["accessRoles"] = json!(["Primary", "CoResident", "Occupant", "Guarantor"]);
    world.apply(&manifest).await;
    wait_for(&world.client, ns, NAME, "the guarantor's user", |i| summary_of(i).is_some_and(|s| s.created == 1)).await;
    let users = world.scim.users_by_key().await;
    assert_eq!(users[&guarantor]["active"], true);
}

fn summary_of(obj: &PmsIntegration) -> Option<pms_sync::api::SyncSummary> {
    let status = obj.status.as_ref()?;
    (status.observed_generation == obj.metadata.generation).then(|| status.summary.clone()).flatten()
}

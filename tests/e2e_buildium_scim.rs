//! Buildium → SCIM through the controller, on the real test apiserver and a real scim2-server.

mod support;

use std::collections::BTreeMap;

use serde_json::json;
use support::buildium_fake::{BuildiumFake, Fault};
use support::*;

#[tokio::test]
async fn first_sync_creates_exactly_the_attached_non_excluded_residents() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world
        .scim
        .create_user(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "staff@example.org",
            "externalId": "someone-else/door-staff/1", "active": true}))
        .await;

    let obj = world.first_sync().await;

    let users = world.scim.users_by_key().await;
    let expected: Vec<String> = [("101", 1), ("101", 2), ("101", 3), ("101", 6), ("102", 7), ("102", 8)]
        .iter()
        .map(|(p, t)| id(ns, p, *t))
        .chain(["someone-else/door-staff/1".to_string()])
        .collect();
    let mut keys: Vec<String> = users.keys().cloned().collect();
    let mut want = expected.clone();
    keys.sort();
    want.sort();
    assert_eq!(keys, want);

    let zoe = &users[&id(ns, "101", 1)];
    assert_eq!(zoe["name"]["givenName"], "Zoë");
    assert_eq!(zoe["name"]["familyName"], "Ångström");
    assert_eq!(zoe["userName"], "zoe@example.org");
    assert_eq!(zoe["emails"][0]["value"], "zoe@example.org");
    assert_eq!(zoe["phoneNumbers"][0]["value"], "555-0001");
    assert_eq!(zoe["active"], true);
    assert_eq!(users[&id(ns, "101", 3)]["active"], false, "a future resident is created without access");
    assert_eq!(users[&id(ns, "101", 6)]["userName"], id(ns, "101", 6), "no email: userName is the identity");
    assert_eq!(users[&id(ns, "101", 6)]["name"]["givenName"], "Ørjan");
    assert_eq!(users[&id(ns, "102", 7)]["name"]["familyName"], "Ó Briain");

    let s = summary(&obj);
    assert_eq!(
        (s.fetched, s.excluded, s.desired, s.created, s.updated, s.deprovisioned, s.failed),
        (8, 2, 6, 6, 0, 0, 0)
    );
    let status = obj.status.as_ref().unwrap();
    assert_eq!(status.observed_generation, obj.metadata.generation);
    assert!(status.last_sync_time.is_some() && status.next_sync_time.is_some());
    assert_eq!(
        status.properties.iter().map(|p| (p.id.as_str(), p.residents)).collect::<Vec<_>>(),
        [("101", 6), ("102", 2)]
    );
    assert_no_personal_data(&obj);

    // Property 103 is not attached and was never asked for; every listing was paged.
    let requests = world.fake.requests();
    assert!(requests.iter().all(|r| !r.contains("propertyids=103")), "{requests:?}");
    assert!(requests.iter().any(|r| r.contains("offset=2")), "listings are paged: {requests:?}");
}

#[tokio::test]
async fn pms_changes_and_a_token_bump_apply_exactly_the_changes() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world.first_sync().await;
    let before = world.scim.users_by_key().await;

    world.fake.update(|d| {
        d.tenant_mut(2).for_each(|t| t.status = "MovedOut".into()); // a move-out
        d.tenant_mut(7).for_each(|t| t.phones = vec![("555-7777".into(), "Cell".into())]); // a changed phone
        d.lease_mut(6).unwrap().tenants.push(new_tenant(10, "Ana", "Lúcia", "ana@example.org")); // a new tenant
    });
    let obj = request_sync(&world.client, ns, NAME).await;
    assert_eq!(ready(&obj), Some(("True".into(), "Succeeded".into())));
    let s = summary(&obj);
    assert_eq!((s.created, s.updated, s.deprovisioned, s.unchanged, s.failed), (1, 1, 1, 4, 0));

    let after = world.scim.users_by_key().await;
    assert_eq!(after[&id(ns, "101", 2)]["active"], false, "moved out: deactivated");
    assert_eq!(after[&id(ns, "102", 7)]["phoneNumbers"][0]["value"], "555-7777");
    assert_eq!(after[&id(ns, "102", 10)]["name"]["familyName"], "Lúcia");
    for untouched in [id(ns, "101", 1), id(ns, "101", 3), id(ns, "101", 6), id(ns, "102", 8)] {
        assert_eq!(before[&untouched], after[&untouched], "{untouched} must not be rewritten");
    }
    assert_eq!(before.get("someone-else/door-staff/1"), after.get("someone-else/door-staff/1"));

    world.assert_idle_sync_writes_nothing(7).await;
}

#[tokio::test]
async fn disabled_echoes_the_token_and_calls_nobody() {
    let world = World::start(ScimServer::full().await).await;
    let mut manifest = world.manifest();
    manifest["spec"]["enabled"] = json!(false);
    world.apply(&manifest).await;
    let obj = request_sync(&world.client, &world.ns, NAME).await;
    assert_eq!(ready(&obj), Some(("False".into(), "Disabled".into())));
    assert!(world.fake.requests().is_empty(), "the PMS got requests while disabled");
    assert!(world.scim.users().await.is_empty());

    // Enabling it again syncs.
    world.apply(&world.manifest()).await;
    wait_ready(&world.client, &world.ns, NAME, "True", "Succeeded").await;
    assert_eq!(world.scim.users().await.len(), 6);
}

#[tokio::test]
async fn an_invalid_spec_is_reported_and_makes_no_calls() {
    let world = World::start(ScimServer::full().await).await;
    let mut manifest = world.manifest();
    manifest["spec"]["interval"] = json!("30s"); // schema-valid, below the 1m minimum
    world.apply(&manifest).await;
    let obj = wait_ready(&world.client, &world.ns, NAME, "False", "InvalidSpec").await;
    let status = obj.status.unwrap();
    let ready = pms_sync::conditions::get(&status.conditions, "Ready").unwrap();
    assert!(ready.message.contains("spec.interval"), "{}", ready.message);
    assert!(pms_sync::conditions::get(&status.conditions, "Stalled").is_some_and(|c| c.status == "True"));
    let obj = request_sync(&world.client, &world.ns, NAME).await;
    assert_eq!(ready_of(&obj), ("False".into(), "InvalidSpec".into()));
    assert!(world.fake.requests().is_empty());
    assert!(world.scim.users().await.is_empty());
}

fn ready_of(obj: &pms_sync::api::PmsIntegration) -> (String, String) {
    ready(obj).expect("a Ready condition")
}

#[tokio::test]
async fn a_missing_secret_or_key_is_reported_and_a_new_secret_resyncs() {
    let client = client().await;
    let ns = namespace(&client, "e2e").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    let _controller = start_controller(&client, &ns);
    create_secret(&client, &ns, "scim", &[("token", SCIM_TOKEN)]).await;
    apply_integration(&client, &ns, &integration(NAME, &fake.url(), &scim.url(), &["101"])).await;

    let obj = wait_ready(&client, &ns, NAME, "False", "CredentialsNotFound").await;
    let message = pms_sync::conditions::get(&obj.status.unwrap().conditions, "Ready").unwrap().message.clone();
    assert!(message.contains("\"buildium\""), "{message}");

    // A Secret without `clientSecret`: the key is named, still no call.
    create_secret(&client, &ns, "buildium", &[("clientId", BUILDIUM_ID)]).await;
    let obj =
        wait_for(&client, &ns, NAME, "a missing-key message", |i| ready(i).is_some_and(|(_, r)| r == "InvalidSpec"))
            .await;
    let message = pms_sync::conditions::get(&obj.status.unwrap().conditions, "Ready").unwrap().message.clone();
    assert!(message.contains("clientSecret"), "{message}");
    assert!(fake.requests().is_empty());
    assert!(scim.users().await.is_empty());

    // Completing the Secret triggers a sync by itself (the controller watches Secrets).
    create_secret(&client, &ns, "buildium", &[("clientId", BUILDIUM_ID), ("clientSecret", BUILDIUM_SECRET)]).await;
    wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
    assert_eq!(scim.users().await.len(), 4);
}

#[tokio::test]
async fn a_failing_property_leaves_its_users_untouched() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    world.first_sync().await;
    let before = world.scim.users_by_key().await;

    world.fake.set_fault(102, Some(Fault::ServerError));
    world.fake.update(|d| {
        d.tenant_mut(1).for_each(|t| t.phones = vec![("555-1111".into(), "Cell".into())]);
        d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into());
        d.tenant_mut(8).for_each(|t| t.status = "MovedOut".into());
    });
    let obj = request_sync(&world.client, ns, NAME).await;
    assert_eq!(ready_of(&obj), ("False".into(), "PmsUnavailable".into()));
    let status = obj.status.clone().unwrap();
    let p102 = status.properties.iter().find(|p| p.id == "102").unwrap();
    assert!(p102.error.as_deref().is_some_and(|e| e.contains("503")), "{p102:?}");
    assert!(status.properties.iter().find(|p| p.id == "101").unwrap().error.is_none());
    let s = summary(&obj);
    assert_eq!((s.updated, s.deprovisioned, s.held), (1, 0, 2));
    assert!(status.next_sync_time.is_some(), "a transient failure is retried");

    let after = world.scim.users_by_key().await;
    assert_eq!(after[&id(ns, "101", 1)]["phoneNumbers"][0]["value"], "555-1111");
    for held in [id(ns, "102", 7), id(ns, "102", 8)] {
        assert_eq!(before[&held], after[&held], "{held} belongs to the failed property");
    }
    assert_no_personal_data(&obj);
}

#[tokio::test]
async fn rejected_credentials_stall_and_rate_limits_are_retried() {
    let world = World::start(ScimServer::full().await).await;
    // One 429 with Retry-After on the first call: retried transparently.
    world.fake.set_fault(101, Some(Fault::RateLimited { times: 1, retry_after: 1 }));
    world.first_sync().await;
    let first_page =
        world.fake.requests().iter().filter(|r| r.starts_with("/v1/leases?propertyids=101&offset=0&")).count();
    assert_eq!(first_page, 2, "the rate-limited request is retried once");

    world.fake.set_fault(101, Some(Fault::Unauthorized));
    world.fake.set_fault(102, Some(Fault::Unauthorized));
    let before = world.scim.users_by_key().await;
    let obj = request_sync(&world.client, &world.ns, NAME).await;
    assert_eq!(ready_of(&obj), ("False".into(), "PmsAuthenticationFailed".into()));
    let status = obj.status.unwrap();
    assert!(pms_sync::conditions::get(&status.conditions, "Stalled").is_some_and(|c| c.status == "True"));
    // Quarantined: no retry before a day has passed, unless something changes.
    let next = status.next_sync_time.expect("a daily retry").0;
    assert!(next.duration_since(jiff::Timestamp::now()).as_secs() > 20 * 3600, "{next}");
    assert_eq!(before, world.scim.users_by_key().await, "nothing is deprovisioned on an outage");
}

#[tokio::test]
async fn a_reduced_scim_peer_is_synced_with_put_and_short_pages() {
    let world = World::start(ScimServer::reduced().await).await;
    let ns = &world.ns;
    world.first_sync().await;
    assert_eq!(world.scim.users().await.len(), 6, "more users than one page of 5");

    world.fake.update(|d| {
        d.tenant_mut(7).for_each(|t| t.last_name = "Ó Briain-Walsh".into());
        d.tenant_mut(1).for_each(|t| t.status = "MovedOut".into());
    });
    let obj = request_sync(&world.client, ns, NAME).await;
    let s = summary(&obj);
    assert_eq!((s.updated, s.deprovisioned, s.unchanged), (1, 1, 4));
    let users = world.scim.users_by_key().await;
    assert_eq!(users[&id(ns, "102", 7)]["name"]["familyName"], "Ó Briain-Walsh");
    assert_eq!(users[&id(ns, "101", 1)]["active"], false);

    world.assert_idle_sync_writes_nothing(6).await;
}

#[tokio::test]
async fn delete_mode_removes_moved_out_users_and_detached_properties() {
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    let mut manifest = world.manifest();
    // Detaching a property deprovisions half the users: allowed explicitly (no breaker hold).
    manifest["spec"]["deprovision"] = json!({"mode": "Delete", "maxPercent": 100});
    world.apply(&manifest).await;
    wait_ready(&world.client, ns, NAME, "True", "Succeeded").await;

    world.fake.update(|d| d.tenant_mut(2).for_each(|t| t.status = "MovedOut".into()));
    manifest["spec"]["propertyIds"] = json!(["101"]);
    world.apply(&manifest).await;
    let obj = wait_for(&world.client, ns, NAME, "the new generation's sync", |i| {
        i.status.as_ref().and_then(|s| s.observed_generation) == i.metadata.generation
            && ready(i) == Some(("True".into(), "Succeeded".into()))
    })
    .await;
    assert_eq!(summary(&obj).deprovisioned, 3);
    let keys: Vec<String> = world.scim.users_by_key().await.into_keys().collect();
    let expected: BTreeMap<String, ()> =
        [id(ns, "101", 1), id(ns, "101", 3), id(ns, "101", 6)].into_iter().map(|k| (k, ())).collect();
    assert_eq!(keys, expected.into_keys().collect::<Vec<_>>());
}

/// `deprovision.deleteAfter`: a moved-out resident's user is deactivated, recorded (IDs and times,
/// in the controller's namespace), kept while the period runs — and reactivated, not recreated, if
/// the resident comes back — then deleted by the first run after the period.
#[tokio::test]
async fn deactivated_users_are_deleted_after_delete_after_and_returning_ones_reactivated() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use pms_sync::controller::deactivation_store::config_map_name;
    const PERIOD: std::time::Duration = std::time::Duration::from_secs(15);

    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    let mut manifest = world.manifest();
    manifest["spec"]["deprovision"] = json!({"deleteAfter": "15s", "maxPercent": 50});
    world.apply(&manifest).await;
    wait_ready(&world.client, ns, NAME, "True", "Succeeded").await;

    world.fake.update(|d| {
        d.tenant_mut(1).for_each(|t| t.status = "MovedOut".into());
        d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into());
    });
    let deactivated = std::time::Instant::now();
    let obj = request_sync(&world.client, ns, NAME).await;
    assert_eq!(summary(&obj).deprovisioned, 2);
    let users = world.scim.users_by_key().await;
    let (one, seven) = (&users[&id(ns, "101", 1)], &users[&id(ns, "102", 7)]);
    assert_eq!((&one["active"], &seven["active"]), (&json!(false), &json!(false)));
    let seven_id = seven["id"].clone();

    let records: kube::Api<ConfigMap> = kube::Api::namespaced(world.client.clone(), STATE_NAMESPACE);
    let record = || async {
        let map = records.get(&config_map_name(ns, NAME)).await.expect("the record of deactivations");
        let text = map.data.unwrap_or_default().remove("deactivated").unwrap_or_default();
        serde_json::from_str::<BTreeMap<String, i64>>(&text).unwrap()
    };
    let recorded = record().await;
    let mut ids: Vec<&str> = recorded.keys().map(String::as_str).collect();
    ids.sort();
    let mut expected = [one["id"].as_str().unwrap(), seven_id.as_str().unwrap()];
    expected.sort();
    assert_eq!(ids, expected, "the record holds the two SCIM IDs, nothing else");

    // Resident 7 comes back within the period: the same user, active again, and forgotten.
    world.fake.update(|d| d.tenant_mut(7).for_each(|t| t.status = "Current".into()));
    let obj = request_sync(&world.client, ns, NAME).await;
    assert!(deactivated.elapsed() < PERIOD, "this check must run within the period (took {:?})", deactivated.elapsed());
    let s = summary(&obj);
    assert_eq!((s.updated, s.created, s.deprovisioned), (1, 0, 0), "reactivated, nothing deleted yet");
    let users = world.scim.users_by_key().await;
    assert_eq!(users[&id(ns, "102", 7)]["id"], seven_id);
    assert_eq!(users[&id(ns, "102", 7)]["active"], true);
    assert_eq!(users[&id(ns, "101", 1)]["active"], false, "still deactivated, not deleted before the period");
    assert_eq!(record().await.len(), 1);

    // After the period: the next run deletes resident 1's user, and only it.
    tokio::time::sleep(PERIOD.saturating_sub(deactivated.elapsed()) + std::time::Duration::from_secs(1)).await;
    let obj = request_sync(&world.client, ns, NAME).await;
    assert_eq!(summary(&obj).deprovisioned, 1);
    let users = world.scim.users_by_key().await;
    assert!(!users.contains_key(&id(ns, "101", 1)), "deleted after the period");
    assert_eq!(users.len(), 5);
    assert!(record().await.is_empty());
    assert_no_personal_data(&obj);
}

/// A date starts access at a SCIM destination, in `spec.timeZone`: a resident the PMS still calls
/// future whose move-in day has come gets access. Ending stays with the status: one whose
/// move-out day has passed, still current in the PMS, keeps access. The end of the next move-out
/// day is `status.nextBoundaryTime`, with the next run due no later.
#[tokio::test]
async fn a_move_in_day_starts_access_in_the_property_time_zone_and_boundaries_schedule_runs() {
    use jiff::ToSpan;
    let world = World::start(ScimServer::full().await).await;
    let ns = &world.ns;
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let today = jiff::Zoned::now().with_time_zone(tz.clone()).date();
    world.fake.update(|d| {
        // Mei's lease and her own status still say Future, but today is her move-in day.
        d.tenant_mut(3).for_each(|t| t.move_in = Some(today.to_string()));
        // Kofi moved out yesterday; the PMS has not closed his lease yet.
        d.tenant_mut(8).for_each(|t| t.move_out = Some((today - 1.day()).to_string()));
        // Siobhán moves out in three days.
        d.tenant_mut(7).for_each(|t| t.move_out = Some((today + 3.days()).to_string()));
    });
    let mut manifest = world.manifest();
    manifest["spec"]["timeZone"] = json!("Asia/Tokyo");
    world.apply(&manifest).await;
    let obj = wait_ready(&world.client, ns, NAME, "True", "Succeeded").await;
    let users = world.scim.users_by_key().await;
    assert_eq!(users[&id(ns, "101", 3)]["active"], true, "access from the move-in day");
    assert_eq!(users[&id(ns, "102", 8)]["active"], true, "a stale move-out date locks nobody out");
    assert_eq!(users[&id(ns, "102", 7)]["active"], true);
    let status = obj.status.unwrap();
    let end_of_move_out_day = (today + 4.days()).to_zoned(tz).unwrap().timestamp();
    assert_eq!(status.next_boundary_time.map(|t| t.0), Some(end_of_move_out_day));
    assert!(status.next_sync_time.unwrap().0 <= end_of_move_out_day);

    // An unknown zone is refused before any call.
    manifest["spec"]["timeZone"] = json!("Mars/Olympus_Mons");
    world.apply(&manifest).await;
    let obj = wait_ready(&world.client, ns, NAME, "False", "InvalidSpec").await;
    let ready = obj.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert!(ready.message.contains("spec.timeZone"), "{}", ready.message);
}

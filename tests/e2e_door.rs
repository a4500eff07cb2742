//! DOOR (formerly Latch) end to end: the controller on the real apiserver, the Buildium fake as the
//! PMS and the stateful DOOR fake as the destination. Move-in, future move-in scheduled, unit
//! change, notice (end date), move-out revoked; a crash between create and record makes no
//! duplicate; only this integration's grants are revoked.

mod support;

use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use pms_sync::controller::identity_store::config_map_name;
use serde_json::{Value, json};
use support::buildium_fake::{BuildiumFake, Dataset};
use support::door_fake::{self, CreateFault, DoorFake, KEY_LOBBY, MANAGER, sorted, unit_door};
use support::*;

fn today() -> Date {
    jiff::Zoned::now().with_time_zone(TimeZone::get(door_fake::TIMEZONE).unwrap()).date()
}

/// The standard dataset without its moved-out leases and the phone-only resident (PERMANENT
/// passcodes need an email): two current residents in 1A, one moving into 1B in 30 days, one each
/// in 2A and 2B, and property 103 (never attached).
fn building() -> Dataset {
    let mut data = dataset();
    data.properties[0].leases.retain(|l| l.unit == "1A" || l.unit == "1B");
    data.tenant_mut(3).for_each(|t| t.move_in = Some((today() + 30.days()).to_string()));
    data
}

const UNITS: [&str; 5] = ["1A", "1B", "2A", "2B", "2C"];

struct DoorWorld {
    client: kube::Client,
    ns: String,
    pms: BuildiumFake,
    door: DoorFake,
}

impl DoorWorld {
    async fn start() -> Self {
        let client = client().await;
        let ns = namespace(&client, "e2e-door").await;
        let pms = BuildiumFake::start(building(), BUILDIUM_ID, BUILDIUM_SECRET).await;
        let door = DoorFake::start(&UNITS).await;
        create_secret(&client, &ns, "buildium", &[("clientId", BUILDIUM_ID), ("clientSecret", BUILDIUM_SECRET)]).await;
        create_secret(
            &client,
            &ns,
            "door-partner",
            &[("clientId", door_fake::CLIENT_ID), ("clientSecret", door_fake::CLIENT_SECRET)],
        )
        .await;
        DoorWorld { client, ns, pms, door }
    }

    fn manifest(&self) -> Value {
        let mut m = integration(NAME, &self.pms.url(), "http://unused.invalid", &["101", "102"]);
        m["spec"]["destination"] = json!({"latch": {
            "buildingUuid": door_fake::BUILDING,
            "credentialsSecretRef": {"name": "door-partner"},
            "baseUrl": self.door.url(),
            "tokenUrl": self.door.token_url(),
            "keyUuids": [KEY_LOBBY],
            // The default (60/min) is for DOOR; the fake takes more, and the tests run back to back.
            "maxRequestsPerMinute": 6000,
        }});
        m["spec"]["deprovision"] = json!({"maxPercent": 50});
        m
    }

    async fn sync(&self) -> pms_sync::api::PmsIntegration {
        let obj = request_sync(&self.client, &self.ns, NAME).await;
        assert_eq!(ready(&obj), Some(("True".into(), "Succeeded".into())), "{:?}", obj.status);
        obj
    }

    async fn mapping(&self) -> Option<ConfigMap> {
        let name = config_map_name(&self.ns, NAME);
        Api::<ConfigMap>::namespaced(self.client.clone(), STATE_NAMESPACE).get_opt(&name).await.unwrap()
    }

    fn user(&self, email: &str) -> door_fake::User {
        self.door.user_by_email(email).unwrap_or_else(|| panic!("no DOOR user for {email}"))
    }
}

fn midnight(date: Date) -> jiff::Timestamp {
    date.to_zoned(TimeZone::get(door_fake::TIMEZONE).unwrap()).unwrap().timestamp()
}

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_are_granted_scheduled_moved_and_revoked_as_the_pms_says() {
    let w = DoorWorld::start().await;
    let _controller = start_controller(&w.client, &w.ns);
    apply_integration(&w.client, &w.ns, &w.manifest()).await;
    let obj = wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;
    let s = summary(&obj);
    assert_eq!((s.created, s.failed, s.desired), (5, 0, 5));
    assert_no_personal_data(&obj);

    // Move-in: the unit door and the common key, from now, without end.
    let zoe = w.user("zoe@example.org");
    assert_eq!(zoe.doors(), sorted(vec![unit_door("1A"), KEY_LOBBY.into()]));
    let grant = zoe.access(&unit_door("1A")).unwrap();
    assert!(at(&grant.start) <= jiff::Timestamp::now());
    assert_eq!(
        (grant.end.as_deref(), grant.passcode_type.as_str(), grant.role.as_str()),
        (None, "PERMANENT", "RESIDENT")
    );
    assert_eq!(w.door.users().len(), 5);

    // Future move-in: scheduled from local midnight of the move-in day, not skipped.
    let mei = w.user("mei@example.org");
    assert_eq!(mei.doors(), sorted(vec![unit_door("1B"), KEY_LOBBY.into()]));
    assert_eq!(at(&mei.access(&unit_door("1B")).unwrap().start), midnight(today() + 30.days()));

    // The identity map: IDs only, in the controller's namespace, bound to this integration's UID.
    let map = w.mapping().await.expect("identity map ConfigMap");
    assert_eq!(map.data.as_ref().unwrap()["integrationUid"], obj.metadata.uid.clone().unwrap());
    assert!(
        Api::<ConfigMap>::namespaced(w.client.clone(), &w.ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .all(|c| !c.metadata.name.as_deref().unwrap_or_default().contains("door-identities")),
        "nothing of the controller's state in the tenant's namespace"
    );
    let text = serde_json::to_string(&map.data).unwrap();
    assert_eq!(map.data.as_ref().unwrap()["identities"].lines().count(), 5);
    assert!(text.contains(&zoe.uuid));
    for value in PERSONAL_VALUES.iter().chain([door_fake::CLIENT_SECRET].iter()) {
        assert!(!text.contains(value), "identity map holds {value:?}");
    }

    // Nothing changed: nothing is written.
    let writes = w.door.writes().len();
    let s = summary(&w.sync().await);
    assert_eq!((s.unchanged, s.created, s.updated, s.deprovisioned), (5, 0, 0, 0));
    assert_eq!(w.door.writes().len(), writes);

    // Unit change: Kofi moves from 2B to 2C. The manager's own grant to him stays.
    let kofi = w.user("kofi@example.org");
    let lobby_door = "d0000000-0000-4000-8000-00000000ffff";
    w.door.grant_as(&kofi.uuid, lobby_door, "USER", MANAGER);
    w.pms.update(|d| d.lease_mut(6).unwrap().unit = "2C".into());
    let s = summary(&w.sync().await);
    assert_eq!((s.updated, s.created, s.failed), (1, 0, 0));
    let moved = w.user("kofi@example.org");
    assert_eq!(moved.uuid, kofi.uuid, "the same DOOR user");
    assert_eq!(moved.doors(), sorted(vec![unit_door("2C"), KEY_LOBBY.into(), lobby_door.into()]));

    // Notice: Siobhán moves out in 60 days: her grants end after that day.
    let move_out = today() + 60.days();
    w.pms.update(|d| d.tenant_mut(7).for_each(|t| t.move_out = Some(move_out.to_string())));
    let before = w.door.writes().len();
    let s = summary(&w.sync().await);
    assert_eq!(s.updated, 1, "{:?}", &w.door.writes()[before..]);
    let siobhan = w.user("siobhan@example.org");
    for target in siobhan.doors() {
        let end = siobhan.access(&target).unwrap().end.clone().expect("an end time");
        assert_eq!(at(&end), midnight(move_out + 1.day()));
    }
    assert!(w.door.writes().iter().any(|r| r.starts_with("PATCH /v1/users/")), "{:?}", w.door.writes());

    // The move-in date moves: the schedule follows.
    w.pms.update(|d| d.tenant_mut(3).for_each(|t| t.move_in = Some((today() + 45.days()).to_string())));
    w.sync().await;
    assert_eq!(at(&w.user("mei@example.org").access(&unit_door("1B")).unwrap().start), midnight(today() + 45.days()));

    // Move-out: Zoë's grants are revoked; José, in the same unit, keeps his.
    w.pms.update(|d| d.tenant_mut(1).for_each(|t| t.status = "MovedOut".into()));
    let obj = w.sync().await;
    assert_eq!(summary(&obj).deprovisioned, 1);
    assert!(w.user("zoe@example.org").doors().is_empty());
    assert_eq!(w.user("jose@example.org").doors(), sorted(vec![unit_door("1A"), KEY_LOBBY.into()]));
    assert_no_personal_data(&obj);
    assert_eq!(w.door.users().len(), 5, "never a second user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_create_and_record_makes_no_duplicate_user() {
    let w = DoorWorld::start().await;
    // The first create reaches DOOR, but its answer never comes: the controller dies waiting.
    w.door.with(|d| d.create_fault = Some(CreateFault::CommitThenHang));
    let first = start_controller(&w.client, &w.ns);
    apply_integration(&w.client, &w.ns, &w.manifest()).await;
    let deadline = std::time::Instant::now() + WAIT;
    while w.door.with(|d| d.create_fault.is_some() || d.users.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "the create never came");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(first);
    let created_before_crash = w.door.users().len();
    assert!(created_before_crash >= 1);
    let recorded = w.mapping().await.map(|m| m.data.unwrap_or_default()["identities"].lines().count()).unwrap_or(0);
    assert_eq!(recorded, 0, "the crash came before the identity map was saved");

    // A new controller: the users DOOR already has are found and linked, not created again.
    let _second = start_controller(&w.client, &w.ns);
    let obj = wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;
    let s = summary(&obj);
    assert_eq!(s.created + s.adopted, 5);
    assert!(s.adopted as usize >= created_before_crash.min(5));
    let users = w.door.users();
    assert_eq!(users.len(), 5, "one DOOR user per resident");
    let mut emails: Vec<_> = users.iter().filter_map(|u| u.email.clone()).collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 5);
    let map = w.mapping().await.expect("identity map");
    assert_eq!(map.data.unwrap()["identities"].lines().count(), 5);
}

/// `pms-sync plan` for a DOOR integration reads the identity map from the cluster (and writes
/// nothing anywhere); without a cluster, the users DOOR already has show as adoptions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_reads_the_identity_map_and_writes_nothing() {
    let w = DoorWorld::start().await;
    let _controller = start_controller(&w.client, &w.ns);
    let mut manifest = w.manifest();
    apply_integration(&w.client, &w.ns, &manifest).await;
    wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;
    let map_before = w.mapping().await.unwrap().data;
    let writes = w.door.writes().len();

    let dir = tempfile::tempdir().unwrap();
    manifest["metadata"]["namespace"] = w.ns.clone().into();
    let file = dir.path().join("integration.yaml");
    std::fs::write(&file, serde_yaml::to_string(&manifest).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    let kubeconfig = std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap();
    let out = run_plan(&["-f", file], Some(&kubeconfig));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "in step: {stdout}{stderr}");

    let secrets = dir.path().join("secrets");
    for (secret, key, value) in [
        ("buildium", "clientId", BUILDIUM_ID),
        ("buildium", "clientSecret", BUILDIUM_SECRET),
        ("door-partner", "clientId", door_fake::CLIENT_ID),
        ("door-partner", "clientSecret", door_fake::CLIENT_SECRET),
    ] {
        std::fs::create_dir_all(secrets.join(secret)).unwrap();
        std::fs::write(secrets.join(secret).join(key), value).unwrap();
    }
    let out = run_plan(&["-f", file, "--secrets", secrets.to_str().unwrap(), "-o", "json"], None);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verbs: Vec<&str> =
        doc["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap_or("?")).collect();
    assert_eq!(verbs, ["adopt"; 5], "{doc}");
    for value in PERSONAL_VALUES.iter().chain([door_fake::CLIENT_SECRET].iter()) {
        assert!(!String::from_utf8_lossy(&out.stdout).contains(value), "plan output holds {value:?}");
    }
    assert_eq!(w.door.writes().len(), writes, "a plan writes nothing to DOOR");
    assert_eq!(w.mapping().await.unwrap().data, map_before, "nor to the identity map");
}

/// The shipped binary at its most verbose log level, syncing into DOOR (including a resident DOOR
/// refuses): no credential, token or personal value appears in its output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_no_door_credential_token_or_personal_data() {
    let w = DoorWorld::start().await;
    // A resident in a unit without a door: reported, by enum name only.
    w.pms.update(|d| d.lease_mut(5).unwrap().unit = "9Z".into());
    apply_integration(&w.client, &w.ns, &w.manifest()).await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("controller.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pms-sync"))
        .args(["controller", "--watch-namespace", &w.ns, "--metrics-addr", "127.0.0.1:0"])
        .args(["--receiver-addr", "127.0.0.1:0"])
        .args(["--state-namespace", STATE_NAMESPACE])
        .env("KUBECONFIG", std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap())
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start pms-sync controller");
    let obj = wait_ready(&w.client, &w.ns, NAME, "False", "SyncIncomplete").await;
    let message = obj.status.as_ref().unwrap().conditions.iter().find(|c| c.type_ == "Ready").unwrap().message.clone();
    assert!(message.contains("NO_DOOR_FOR_UNIT"), "{message}");
    w.pms.update(|d| d.tenant_mut(1).for_each(|t| t.status = "MovedOut".into()));
    request_sync(&w.client, &w.ns, NAME).await;
    let _ = child.kill();
    let _ = child.wait();

    let output = std::fs::read_to_string(&log_path).unwrap();
    assert!(output.contains("sync due"), "{output}");
    let tokens = w.door.with(|d| d.tokens.clone());
    assert!(!tokens.is_empty());
    for secret in
        tokens.iter().map(String::as_str).chain([door_fake::CLIENT_SECRET, door_fake::CLIENT_ID, BUILDIUM_SECRET])
    {
        assert!(!output.contains(secret), "the controller's output contains a credential or token");
    }
    for value in PERSONAL_VALUES {
        assert!(!output.contains(value), "the controller's output contains personal data {value:?}");
    }
    assert_no_personal_data(&obj);
}

/// A namespace user who may write ConfigMaps (but not read Secrets) forges an identity map where
/// the controller used to keep it: a resident mapped to the forger's own DOOR user, and a
/// stranger's partner grant recorded as ours. The controller keeps its state in its own namespace
/// and never reads that one: nothing is granted to the forger, nothing revoked from the stranger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_identity_map_grants_and_revokes_nothing() {
    const FORGER: &str = "f0f0f0f0-0000-4000-8000-000000000001";
    const STRANGER: &str = "f0f0f0f0-0000-4000-8000-000000000002";
    let w = DoorWorld::start().await;
    let user = |uuid: &str, email: &str| door_fake::User {
        uuid: uuid.into(),
        first_name: "Mallory".into(),
        last_name: "Forger".into(),
        email: Some(email.into()),
        phone: None,
        accesses: vec![],
    };
    w.door.with(|d| {
        d.users.push(user(FORGER, "mallory@forger.example"));
        d.users.push(user(STRANGER, "stranger@elsewhere.example"));
    });
    // Our own partner granted the stranger the lobby key, for some other building's integration.
    w.door.grant_as(STRANGER, KEY_LOBBY, "PARTNER", door_fake::PARTNER);
    let forged = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("{NAME}-door-identities")},
        "data": {
            "identities": format!(
                "101/1 {FORGER} {},{KEY_LOBBY}\n101/999 {STRANGER} {KEY_LOBBY}\n",
                unit_door("1A")
            ),
            "granter": door_fake::PARTNER,
        },
    });
    let tenant: Api<ConfigMap> = Api::namespaced(w.client.clone(), &w.ns);
    let params = kube::api::PatchParams::apply("tenant").force();
    tenant.patch(&format!("{NAME}-door-identities"), &params, &kube::api::Patch::Apply(&forged)).await.unwrap();
    // ... and the same, as far as a tenant could guess, in the state namespace's naming scheme
    // but in their own namespace (the state namespace itself is closed to them by RBAC).
    let guessed = config_map_name(&w.ns, NAME);
    let mut forged_guess = forged.clone();
    forged_guess["metadata"]["name"] = guessed.clone().into();
    tenant.patch(&guessed, &params, &kube::api::Patch::Apply(&forged_guess)).await.unwrap();

    let _controller = start_controller(&w.client, &w.ns);
    apply_integration(&w.client, &w.ns, &w.manifest()).await;
    let obj = wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;
    assert_eq!(summary(&obj).created, 5);
    let forger = w.door.users().into_iter().find(|u| u.uuid == FORGER).unwrap();
    assert!(forger.accesses.is_empty(), "the forger was granted {:?}", forger.doors());
    let zoe = w.user("zoe@example.org");
    assert_ne!(zoe.uuid, FORGER);
    assert_eq!(zoe.doors(), sorted(vec![unit_door("1A"), KEY_LOBBY.into()]));
    let stranger = w.door.users().into_iter().find(|u| u.uuid == STRANGER).unwrap();
    assert_eq!(stranger.doors(), vec![KEY_LOBBY.to_string()], "the stranger's grant was revoked");
    // The real map names real users only.
    let map = w.mapping().await.expect("identity map").data.unwrap();
    assert!(!map["identities"].contains(FORGER) && !map["identities"].contains(STRANGER));
}

/// A DOOR integration created before its Secret syncs as soon as the Secret appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_the_door_secret_triggers_a_sync() {
    let w = DoorWorld::start().await;
    let mut manifest = w.manifest();
    manifest["spec"]["destination"]["latch"]["credentialsSecretRef"]["name"] = "door-late".into();
    let _controller = start_controller(&w.client, &w.ns);
    apply_integration(&w.client, &w.ns, &manifest).await;
    wait_ready(&w.client, &w.ns, NAME, "False", "CredentialsNotFound").await;
    create_secret(
        &w.client,
        &w.ns,
        "door-late",
        &[("clientId", door_fake::CLIENT_ID), ("clientSecret", door_fake::CLIENT_SECRET)],
    )
    .await;
    let obj = wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;
    assert_eq!(summary(&obj).created, 5);
}

/// Two integrations on one building (the README's advice for large buildings): A syncs property
/// 101, B property 102, and both grant the lobby key. A resident who moves from A's property to
/// B's gets B's unit door and keeps the lobby key throughout; A revokes only the door it granted;
/// idle runs of both change nothing afterwards (no flapping).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_moving_between_two_integrations_of_one_building_is_never_locked_out() {
    let w = DoorWorld::start().await;
    let _controller = start_controller(&w.client, &w.ns);
    let named = |name: &str, property: &str| {
        let mut m = w.manifest();
        m["metadata"]["name"] = name.into();
        m["spec"]["propertyIds"] = json!([property]);
        m
    };
    apply_integration(&w.client, &w.ns, &named("harbor-a", "101")).await;
    apply_integration(&w.client, &w.ns, &named("harbor-b", "102")).await;
    wait_ready(&w.client, &w.ns, "harbor-a", "True", "Succeeded").await;
    wait_ready(&w.client, &w.ns, "harbor-b", "True", "Succeeded").await;
    assert_eq!(w.user("zoe@example.org").doors(), sorted(vec![unit_door("1A"), KEY_LOBBY.into()]));

    // Zoë moves from 1A (property 101, integration A) to 2C (property 102, integration B).
    w.pms.update(|d| {
        d.tenant_mut(1).for_each(|t| t.status = "MovedOut".into());
        let moved = tenant(1, "Current", "Zoë", "Ångström", Some("zoe@example.org"), Some("555-0001"));
        d.properties[1].leases.push(lease(80, "2C", "Active", vec![moved]));
    });
    let b = request_sync(&w.client, &w.ns, "harbor-b").await;
    assert_eq!(ready(&b), Some(("True".into(), "Succeeded".into())), "{:?}", b.status);
    assert_eq!(
        w.user("zoe@example.org").doors(),
        sorted(vec![unit_door("1A"), unit_door("2C"), KEY_LOBBY.into()]),
        "B linked the same DOOR user and granted its door"
    );
    let a = request_sync(&w.client, &w.ns, "harbor-a").await;
    assert_eq!(ready(&a), Some(("True".into(), "Succeeded".into())), "{:?}", a.status);
    assert_eq!(summary(&a).deprovisioned, 1);
    let zoe = w.user("zoe@example.org");
    assert_eq!(zoe.doors(), sorted(vec![unit_door("2C"), KEY_LOBBY.into()]), "A revoked only its own door");

    // No flapping: neither integration touches the other's grants on later runs.
    let writes = w.door.writes().len();
    for name in ["harbor-a", "harbor-b", "harbor-a", "harbor-b"] {
        let obj = request_sync(&w.client, &w.ns, name).await;
        assert_eq!(ready(&obj), Some(("True".into(), "Succeeded".into())), "{name}: {:?}", obj.status);
    }
    assert_eq!(w.door.writes().len(), writes, "idle runs wrote {:?}", &w.door.writes()[writes..]);
    assert_eq!(w.user("zoe@example.org").doors(), sorted(vec![unit_door("2C"), KEY_LOBBY.into()]));
}

/// The newer connectors into DOOR, each from its own fake: five residents created with their unit
/// door and the common key, the future one scheduled from move-in, a move-out revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rent_manager_resman_and_mri_residents_open_their_doors() {
    use support::vendor_fakes::{Vendor, VendorFake};
    let client = client().await;
    // Each vendor's DOOR fake lives to the end: a later one on a freed port would be the same DOOR
    // building (base URL and UUID) as an earlier one, whose integration's identity map, still in the
    // state namespace, would then rightly keep its grants.
    let mut doors = Vec::new();
    for vendor in [Vendor::Rentmanager, Vendor::Resman, Vendor::Mri] {
        let ns = namespace(&client, &format!("door-{}", vendor.provider())).await;
        let pms = VendorFake::start(vendor, building()).await;
        let door = DoorFake::start(&UNITS).await;
        create_secret(&client, &ns, "pms", &vendor.credentials()).await;
        let door_keys = [("clientId", door_fake::CLIENT_ID), ("clientSecret", door_fake::CLIENT_SECRET)];
        create_secret(&client, &ns, "door-partner", &door_keys).await;
        let controller = start_controller(&client, &ns);
        let mut m = integration(NAME, &pms.url(), "http://unused.invalid", &["101", "102"]);
        m["spec"]["pms"] =
            json!({"provider": vendor.provider(), "credentialsSecretRef": {"name": "pms"}, "baseUrl": pms.url()});
        m["spec"]["destination"] = json!({"latch": {
            "buildingUuid": door_fake::BUILDING, "credentialsSecretRef": {"name": "door-partner"},
            "baseUrl": door.url(), "tokenUrl": door.token_url(), "keyUuids": [KEY_LOBBY], "maxRequestsPerMinute": 6000,
        }});
        m["spec"]["deprovision"] = json!({"maxPercent": 50});
        apply_integration(&client, &ns, &m).await;
        let obj = wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
        let s = summary(&obj);
        assert_eq!((s.created, s.failed, s.desired), (5, 0, 5), "{vendor:?}");
        let user =
            |email: &str| door.user_by_email(email).unwrap_or_else(|| panic!("{vendor:?}: no DOOR user {email}"));
        assert_eq!(user("zoe@example.org").doors(), sorted(vec![unit_door("1A"), KEY_LOBBY.into()]), "{vendor:?}");
        let mei = user("mei@example.org");
        assert_eq!(at(&mei.access(&unit_door("1B")).unwrap().start), midnight(today() + 30.days()), "{vendor:?}");
        assert_no_personal_data(&obj);

        pms.update(|d| d.tenant_mut(1).for_each(|t| t.status = "MovedOut".into()));
        let obj = request_sync(&client, &ns, NAME).await;
        assert_eq!(summary(&obj).deprovisioned, 1, "{vendor:?}: {:?}", obj.status);
        assert!(user("zoe@example.org").doors().is_empty(), "{vendor:?}");
        assert_eq!(user("jose@example.org").doors(), sorted(vec![unit_door("1A"), KEY_LOBBY.into()]), "{vendor:?}");
        drop(controller);
        doors.push(door);
    }
}

/// A lost identity map is detected, never taken as "nothing is ours": after the map of a synced
/// integration is deleted, its next run stops with `StateLost` (Stalled) and writes nothing to
/// DOOR, though a resident moved out meanwhile. `pms-sync recover` shows the rebuilt map (users of
/// the building whose emails match the PMS's residents), saves it on confirmation and requests a
/// sync, which revokes the moved-out resident's grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_identity_map_stops_the_integration_and_recovery_revokes_the_moved_out() {
    let w = DoorWorld::start().await;
    let _controller = start_controller(&w.client, &w.ns);
    apply_integration(&w.client, &w.ns, &w.manifest()).await;
    wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;
    let siobhan = w.user("siobhan@example.org");
    assert!(!siobhan.accesses.is_empty());

    let maps = Api::<ConfigMap>::namespaced(w.client.clone(), STATE_NAMESPACE);
    maps.delete(&config_map_name(&w.ns, NAME), &Default::default()).await.unwrap();
    w.pms.update(|d| d.tenant_mut(7).for_each(|t| t.status = "MovedOut".into()));
    let writes = w.door.writes().len();
    let obj = request_sync(&w.client, &w.ns, NAME).await;
    assert_eq!(ready(&obj), Some(("False".into(), "StateLost".into())), "{:?}", obj.status);
    let status = obj.status.clone().unwrap();
    let stalled = pms_sync::conditions::get(&status.conditions, pms_sync::conditions::STALLED).expect("Stalled");
    assert_eq!(stalled.status, "True");
    assert_eq!(w.door.writes()[writes..], [] as [String; 0], "nothing written without the map");
    assert!(w.mapping().await.is_none(), "no map was started afresh");

    // Recovery: the plan names the matched residents, then the map is saved and a sync runs.
    let kubeconfig = std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap();
    let recover = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pms-sync"))
            .args(["recover", NAME, "-n", &w.ns, "--state-namespace", STATE_NAMESPACE])
            .args(extra)
            .env("KUBECONFIG", &kubeconfig)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let declined = recover(&[]);
    let shown = String::from_utf8_lossy(&declined.stdout).to_string();
    assert!(!declined.status.success(), "no confirmation, no save: {shown}");
    assert!(shown.contains(&format!("{}/{NAME}/102/7 -> DOOR user {}", w.ns, siobhan.uuid)), "{shown}");
    for value in PERSONAL_VALUES {
        assert!(!shown.contains(value), "the plan shows personal data {value:?}");
    }
    assert!(w.mapping().await.is_none());
    let saved = recover(&["--yes"]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    let obj = wait_ready(&w.client, &w.ns, NAME, "True", "Succeeded").await;
    assert!(w.user("siobhan@example.org").accesses.is_empty(), "the moved-out resident's grants are revoked");
    assert!(!w.user("kofi@example.org").accesses.is_empty(), "the others keep theirs");
    assert!(w.mapping().await.is_some());
    assert_no_personal_data(&obj);
}

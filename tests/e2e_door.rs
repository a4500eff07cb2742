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
use serde_json::{Value, json};
use support::buildium_fake::{BuildiumFake, Dataset};
use support::door_fake::{self, CreateFault, DoorFake, KEY_LOBBY, MANAGER, sorted, unit_door};
use support::*;

const MAP: &str = "harbor-door-identities";

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
        Api::<ConfigMap>::namespaced(self.client.clone(), &self.ns).get_opt(MAP).await.unwrap()
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

    // The identity map: IDs only, owned by the integration.
    let map = w.mapping().await.expect("identity map ConfigMap");
    let owner = &map.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("PmsIntegration", NAME));
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

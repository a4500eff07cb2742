//! The DOOR destination driven by a sync run (`pms_sync::sync::run`) against the stateful DOOR fake: faults, identity
//! recovery, tokens, the API's contact rules, rate limits, and whose grants may be revoked.
//! (The controller end to end, on the real apiserver, is `e2e_door.rs`.)

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::civil::Date;
use pms_sync::credentials::SecretData;
use pms_sync::destination::door::{
    self, DoorDestination, DoorSettings, Mapping, MappingStore, MemoryStore, TokenCache,
};
use pms_sync::destination::{Destination, DestinationError};
use pms_sync::domain::{DeprovisionMode, Phone, PhoneKind, Policy, Resident, ResidentStatus, Scope};
use pms_sync::http::{HttpClient, HttpSettings, RateLimit, RateLimiter};
use pms_sync::metrics::Metrics;
use pms_sync::pms::{PmsError, PmsSource};
use pms_sync::sync::{self, RunError, SyncConfig, SyncReport};
use support::door_fake::{
    self, CreateFault, DoorFake, KEY_LOBBY, MANAGER, OPEN_END_SENTINEL, OTHER_PARTNER, SpecReading, sorted, unit_door,
};
use support::prism::Prism;

/// Residents a test edits between runs.
#[derive(Default)]
struct Residents(Mutex<Vec<Resident>>);

impl PmsSource for Residents {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        Ok(self.0.lock().unwrap().iter().filter(|r| r.property_id == property_id).cloned().collect())
    }
}

fn resident(person: &str, unit: &str, email: Option<&str>, phone: Option<&str>) -> Resident {
    let mut r = Resident::new("101", person, "Current", ResidentStatus::Current);
    r.first_name = format!("First{person}");
    r.last_name = format!("Last{person}");
    r.unit = Some(unit.into());
    r.emails = email.map(|e| vec![e.to_string()]).unwrap_or_default();
    r.phones = phone.map(|p| vec![Phone { number: p.into(), kind: PhoneKind::Mobile }]).unwrap_or_default();
    r.move_in = Some(Date::constant(2025, 1, 1));
    r
}

fn http() -> HttpClient {
    let settings = HttpSettings {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        ..HttpSettings::default()
    };
    HttpClient::new("door", settings, Metrics::default())
}

fn settings_at(base_url: String, token_url: String, passcode: &str) -> DoorSettings {
    DoorSettings {
        building_uuid: door_fake::BUILDING.into(),
        base_url,
        token_url,
        key_uuids: vec![KEY_LOBBY.into()],
        unit_doors: Default::default(),
        unit_doors_by_name: true,
        passcode_type: passcode.into(),
        role: "RESIDENT".into(),
        shareable: false,
        notify: false,
    }
}

struct Rig {
    fake: DoorFake,
    pms: Residents,
    store: Arc<MemoryStore>,
    tokens: Arc<TokenCache>,
    secret: &'static str,
    passcode: &'static str,
    mode: DeprovisionMode,
    /// Where the adapter sends its calls (the fake, or a proxy in front of it): base, token URL.
    urls: (String, String),
}

impl Rig {
    async fn new(units: &[&str]) -> Self {
        let fake = DoorFake::start(units).await;
        Rig {
            urls: (fake.url(), fake.token_url()),
            fake,
            pms: Residents::default(),
            store: Arc::new(MemoryStore::default()),
            tokens: Arc::new(TokenCache::default()),
            secret: door_fake::CLIENT_SECRET,
            passcode: "PERMANENT",
            mode: DeprovisionMode::Deactivate,
        }
    }

    fn door(&self) -> DoorDestination {
        let values = [("clientId", door_fake::CLIENT_ID), ("clientSecret", self.secret)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let credentials = SecretData::new("door", values).take(&door::SECRET_KEYS).unwrap();
        let limiter = Arc::new(RateLimiter::new(RateLimit::per_minute(6000)));
        DoorDestination::new(
            settings_at(self.urls.0.clone(), self.urls.1.clone(), self.passcode),
            &credentials,
            http().with_limiter(limiter),
            http(),
            self.tokens.clone(),
            self.store.clone() as Arc<dyn MappingStore>,
        )
    }

    /// One sync run with a fresh destination (as the controller builds one per run).
    async fn run(&self) -> SyncReport {
        sync::run(&self.pms, &self.door(), &self.config()).await
    }

    /// An incremental run in which the PMS reports only `changed`.
    async fn run_changes(&self, changed: Vec<Resident>) -> SyncReport {
        let since = jiff::Timestamp::now();
        let incremental = sync::Incremental { since: [("101".to_string(), since)].into(), building: 10 };
        let config = SyncConfig { incremental: Some(incremental), ..self.config() };
        sync::run(&Residents(Mutex::new(changed)), &self.door(), &config).await
    }

    fn config(&self) -> SyncConfig {
        SyncConfig {
            scope: Scope::new("acme", "harbor"),
            property_ids: vec!["101".into()],
            policy: Policy::default(),
            mode: self.mode,
            max_percent: 100,
            approval: None,
            dry_run: false,
            fetch_concurrency: 1,
            write_concurrency: 4,
            deadline: None,
            retention: None,
            only_properties: None,
            incremental: None,
            watermark_overlap: pms_sync::sync::DEFAULT_WATERMARK_OVERLAP,
            time_zone: None,
            now: jiff::Timestamp::now(),
        }
    }

    fn set(&self, residents: Vec<Resident>) {
        *self.pms.0.lock().unwrap() = residents;
    }

    fn mapping(&self) -> Mapping {
        self.store.0.lock().unwrap().clone().unwrap_or_default()
    }
}

fn errors(report: &SyncReport) -> Vec<String> {
    report.write_errors.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn an_ambiguous_create_is_looked_up_not_repeated() {
    let rig = Rig::new(&["1A"]).await;
    rig.set(vec![resident("1", "1A", Some("one@example.org"), None)]);
    rig.fake.with(|d| d.create_fault = Some(CreateFault::CommitThenFail));
    let report = rig.run().await;
    assert!(report.write_errors.is_empty(), "{:?}", errors(&report));
    assert_eq!(report.counts.created, 1);
    let users = rig.fake.users();
    assert_eq!(users.len(), 1, "one user, not two");
    // The user found by email is linked; what it holds is granted again to that same user (until
    // DOOR has shown our partner UUID, a grant found there could be another partner's).
    let posts = rig.fake.writes().iter().filter(|w| w.starts_with("POST /v2/users")).count();
    assert_eq!(posts, 2);
    assert_eq!(rig.mapping().entries["101/1"].user, users[0].uuid);
    assert_eq!(users[0].doors(), {
        let mut d = vec![unit_door("1A"), KEY_LOBBY.to_string()];
        d.sort();
        d
    });
}

#[tokio::test]
async fn a_lost_identity_map_is_rebuilt_without_duplicates() {
    let rig = Rig::new(&["1A", "1B"]).await;
    rig.set(vec![
        resident("1", "1A", Some("one@example.org"), None),
        resident("2", "1B", Some("two@example.org"), None),
    ]);
    let first = rig.run().await;
    assert_eq!(first.counts.created, 2);
    let before = rig.mapping();
    *rig.store.0.lock().unwrap() = None;

    let writes_before = rig.fake.writes().len();
    let second = rig.run().await;
    assert!(second.write_errors.is_empty(), "{:?}", errors(&second));
    assert_eq!((second.counts.created, second.counts.adopted), (0, 2));
    assert_eq!(rig.fake.users().len(), 2, "no duplicate user");
    // Which grants were ours is lost with the map (another partner's look the same): they are
    // granted again, to the same users, never revoked.
    let writes = rig.fake.writes()[writes_before..].to_vec();
    assert!(writes.iter().all(|w| w.starts_with("POST /v2/users")), "{writes:?}");
    assert!(rig.fake.requests().iter().any(|r| r.starts_with(&format!("GET /v1/keys/{KEY_LOBBY}/accesses"))));
    assert_eq!(rig.mapping(), before);
    // And the run after that is idle.
    let writes = rig.fake.writes().len();
    let third = rig.run().await;
    assert_eq!((third.counts.unchanged, rig.fake.writes().len()), (2, writes));
}

#[tokio::test]
async fn the_token_is_reused_and_fetched_again_once_on_401() {
    let mut rig = Rig::new(&["1A"]).await;
    rig.set(vec![resident("1", "1A", Some("one@example.org"), None)]);
    rig.run().await;
    rig.run().await;
    assert_eq!(rig.fake.with(|d| d.tokens_issued), 1, "one token for both runs");

    rig.fake.expire_tokens();
    let report = rig.run().await;
    assert!(report.fatal.is_none() && report.write_errors.is_empty());
    assert_eq!(rig.fake.with(|d| d.tokens_issued), 2);

    rig.secret = "wrong";
    rig.fake.expire_tokens();
    let report = rig.run().await;
    match report.fatal {
        Some(RunError::Destination(DestinationError::Unauthorized { status: 401 })) => {}
        other => panic!("expected a 401, got {other:?}"),
    }
}

#[tokio::test]
async fn the_contact_rules_are_kept_before_anything_is_sent() {
    let mut rig = Rig::new(&["1A", "1B"]).await;
    rig.set(vec![resident("1", "1A", None, Some("+1-555-0100")), resident("2", "1B", None, None)]);
    let report = rig.run().await;
    let mut messages = errors(&report);
    messages.sort();
    assert_eq!(messages, ["not sent: EMAIL_OR_PHONE_REQUIRED", "not sent: EMAIL_REQUIRED_FOR_PERMANENT"]);
    assert!(rig.fake.writes().is_empty());

    // With daily codes a phone is enough, and only the phone is sent.
    rig.passcode = "DAILY";
    let report = rig.run().await;
    assert_eq!(report.counts.created, 1);
    let user = rig.fake.users().pop().unwrap();
    assert_eq!((user.email, user.phone.as_deref()), (None, Some("+1-555-0100")));

    // DOOR lists that user with an empty email; moving them to another unit still works by phone.
    rig.set(vec![resident("1", "1B", None, Some("+1-555-0100"))]);
    let report = rig.run().await;
    assert!(report.write_errors.is_empty(), "{:?}", errors(&report));
    assert_eq!(report.counts.updated, 1);
    let moved = rig.fake.users().pop().unwrap();
    assert_eq!((&moved.uuid, moved.doors()), (&user.uuid, sorted(vec![unit_door("1B"), KEY_LOBBY.into()])));
}

#[tokio::test]
async fn two_residents_sharing_a_phone_never_share_a_door_user() {
    let mut rig = Rig::new(&["1A"]).await;
    rig.passcode = "DAILY";
    rig.set(vec![resident("1", "1A", None, Some("+1-555-0100")), resident("2", "1A", None, Some("+1-555-0100"))]);
    let report = rig.run().await;
    assert_eq!((report.counts.created, report.counts.conflicts), (1, 1), "{:?}", errors(&report));
    assert_eq!(rig.fake.users().len(), 1);
    assert_eq!(rig.mapping().entries.len(), 1, "one resident per DOOR user");
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let rig = Rig::new(&["1A"]).await;
    rig.set(vec![resident("1", "1A", Some("one@example.org"), None)]);
    rig.fake.with(|d| d.rate_limited = 2);
    let report = rig.run().await;
    assert!(report.fatal.is_none() && report.write_errors.is_empty(), "{:?}", report.fatal);
    assert_eq!(report.counts.created, 1);
}

#[tokio::test]
async fn only_grants_this_integration_made_are_revoked() {
    let rig = Rig::new(&["1A", "1B"]).await;
    let neighbour = resident("2", "1B", Some("two@example.org"), None);
    rig.set(vec![resident("1", "1A", Some("one@example.org"), None), neighbour.clone()]);
    rig.run().await;
    let user = rig.fake.user_by_email("one@example.org").unwrap();
    let lobby_door = "d0000000-0000-4000-8000-00000000ffff";
    rig.fake.grant_as(&user.uuid, lobby_door, "USER", MANAGER);
    rig.fake.grant_as(&user.uuid, door_fake::KEY_GYM, "PARTNER", OTHER_PARTNER);

    // Grants by others do not make the user differ: nothing is written.
    let writes = rig.fake.writes().len();
    assert_eq!(rig.run().await.counts.unchanged, 2);
    assert_eq!(rig.fake.writes().len(), writes);

    // Moved out (an empty property would be held by the breaker).
    rig.set(vec![neighbour]);
    let report = rig.run().await;
    assert_eq!(report.counts.deprovisioned, 1);
    let after = rig.fake.user_by_email("one@example.org").unwrap();
    let mut left = vec![lobby_door.to_string(), door_fake::KEY_GYM.to_string()];
    left.sort();
    assert_eq!(after.doors(), left, "the manager's and the other partner's grants stay");
    // Deprovisioned once: the next run leaves it alone, and the map forgets the user (it only
    // keeps residents holding our grants).
    let writes = rig.fake.writes().len();
    rig.run().await;
    assert_eq!(rig.fake.writes().len(), writes);
    assert_eq!(rig.mapping().entries.keys().collect::<Vec<_>>(), ["101/2"]);
}

#[tokio::test]
async fn delete_mode_revokes_and_forgets_and_ignore_mode_revokes_nothing() {
    let mut rig = Rig::new(&["1A", "1B"]).await;
    let stays = resident("2", "1B", Some("two@example.org"), None);
    rig.set(vec![resident("1", "1A", Some("one@example.org"), None), stays.clone()]);
    rig.run().await;

    rig.mode = DeprovisionMode::Ignore;
    rig.set(vec![stays.clone()]);
    let report = rig.run().await;
    assert_eq!((report.counts.deprovisioned, report.counts.unchanged), (0, 2));
    assert_eq!(rig.fake.user_by_email("one@example.org").unwrap().doors().len(), 2, "left as it is");

    rig.mode = DeprovisionMode::Delete;
    let report = rig.run().await;
    assert_eq!(report.counts.deprovisioned, 1);
    assert!(rig.fake.user_by_email("one@example.org").unwrap().doors().is_empty());
    assert_eq!(rig.mapping().entries.keys().collect::<Vec<_>>(), ["101/2"], "forgotten at once");
}

#[tokio::test]
async fn a_unit_without_a_door_gets_the_keys_and_is_reported_by_name() {
    let rig = Rig::new(&["1A"]).await;
    rig.set(vec![resident("1", "9Z", Some("one@example.org"), None)]);
    let report = rig.run().await;
    assert_eq!(errors(&report), ["not sent: NO_DOOR_FOR_UNIT"]);
    let user = rig.fake.users().pop().expect("created with the keys");
    assert_eq!(user.doors(), [KEY_LOBBY.to_string()]);
    assert_eq!(rig.mapping().entries["101/1"].user, user.uuid);
    // Fixed in the PMS: the door is granted to the same user.
    rig.set(vec![resident("1", "1A", Some("one@example.org"), None)]);
    let report = rig.run().await;
    assert!(report.write_errors.is_empty(), "{:?}", errors(&report));
    assert_eq!(rig.fake.users().len(), 1);
    assert!(rig.fake.users()[0].access(&unit_door("1A")).is_some());
}

#[tokio::test]
async fn door_errors_are_reported_by_their_enum() {
    let rig = Rig::new(&["1A"]).await;
    let mut r = resident("1", "1A", Some("one@example.org"), None);
    // A move-out before the move-in: DOOR refuses an end before the start.
    r.status = ResidentStatus::Future;
    r.status_raw = "Future".into();
    r.move_in = Some(Date::constant(2045, 6, 1));
    r.move_out = Some(Date::constant(2045, 1, 1));
    rig.set(vec![r]);
    let report = rig.run().await;
    let messages = errors(&report);
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("INVALID_END_TIME"), "{messages:?}");
}

#[tokio::test]
async fn listing_reads_every_page() {
    let rig = Rig::new(&["1A", "1B", "1C", "1D", "2A"]).await;
    let door = rig.door();
    let managed = door.begin("acme/harbor/").await.unwrap().managed;
    assert!(managed.is_empty());
    let doors = rig.fake.requests().iter().filter(|r| r.starts_with("GET /v1/doors")).count();
    assert_eq!(doors, 3, "6 doors in pages of 2");
}

/// Open grants come back with the spec's required `endTime` as a far-future sentinel, or as
/// `null`: either way an idle run writes nothing (measured before the fix: every open grant
/// revoked and granted again each run), and a token without `expires_in` is reused. Any end more
/// than 25 years ahead is a sentinel: `2099-12-31T23:59:59Z` (a spec-conforming server's), or one
/// 30 years from now, as much as `9999-…`.
#[tokio::test]
async fn open_grants_read_as_open_whatever_end_time_stands_for_it() {
    let thirty_years: &'static str =
        Box::leak((jiff::Timestamp::now() + jiff::SignedDuration::from_hours(30 * 8766)).to_string().into_boxed_str());
    let sentinels = [
        Some(OPEN_END_SENTINEL),
        Some("2999-12-31T00:00:00.000Z"),
        Some("2099-12-31T23:59:59Z"),
        Some(thirty_years),
        None,
    ];
    for open_end in sentinels {
        let rig = Rig::new(&["1A", "1B"]).await;
        rig.fake.with(|d| d.reading = SpecReading { open_end, ..SpecReading::default() });
        let mut leaving = resident("2", "1B", Some("two@example.org"), None);
        leaving.move_out = Some(Date::constant(2030, 6, 30));
        rig.set(vec![resident("1", "1A", Some("one@example.org"), None), leaving]);
        let first = rig.run().await;
        assert_eq!((first.counts.created, first.write_errors.len()), (2, 0), "{open_end:?}: {:?}", errors(&first));
        let writes = rig.fake.writes().len();
        for _ in 0..2 {
            let idle = rig.run().await;
            assert!(idle.write_errors.is_empty(), "{open_end:?}: {:?}", errors(&idle));
            assert_eq!(idle.counts.unchanged, 2, "{open_end:?}");
        }
        assert_eq!(rig.fake.writes()[writes..], [] as [String; 0], "{open_end:?}: idle runs write nothing");
        assert_eq!(rig.fake.with(|d| d.tokens_issued), 1, "a token without expires_in is reused");
        // The dated grant kept its end; the open one stayed open.
        let dated = rig.fake.user_by_email("two@example.org").unwrap();
        assert!(dated.accesses.iter().all(|a| a.end.as_deref() == Some("2030-07-01T04:00:00Z")), "{dated:?}");
        let open = rig.fake.user_by_email("one@example.org").unwrap();
        assert!(open.accesses.iter().all(|a| a.end.is_none()));
    }
}

/// `POST /v2/users` answered `201` without a body: the adapter finds the user by listing, records
/// it, and converges on it later like any other.
#[tokio::test]
async fn a_create_answered_without_a_body_is_found_by_listing() {
    let rig = Rig::new(&["1A", "1B"]).await;
    rig.fake.with(|d| d.reading.post_answers_empty_201 = true);
    rig.set(vec![resident("1", "1A", Some("one@example.org"), None)]);
    let first = rig.run().await;
    assert_eq!((first.counts.created, first.write_errors.len()), (1, 0), "{:?}", errors(&first));
    let user = rig.fake.user_by_email("one@example.org").unwrap();
    assert_eq!(rig.mapping().entries["101/1"].user, user.uuid);
    // A unit change grants through the same bodiless POST.
    rig.set(vec![resident("1", "1B", Some("one@example.org"), None)]);
    let second = rig.run().await;
    assert!(second.write_errors.is_empty(), "{:?}", errors(&second));
    assert_eq!(
        rig.fake.user_by_email("one@example.org").unwrap().doors(),
        sorted(vec![unit_door("1B"), KEY_LOBBY.into()])
    );
    assert_eq!(rig.fake.users().len(), 1);
    let writes = rig.fake.writes().len();
    assert_eq!(rig.run().await.counts.unchanged, 1);
    assert_eq!(rig.fake.writes().len(), writes);
}

/// A DOOR that answers a grant for a known email by creating a second user: detected by its UUID,
/// reported by name, its fresh grants revoked, and the resident stays linked to the first user.
#[tokio::test]
async fn a_second_user_made_for_a_known_email_is_detected_undone_and_reported() {
    for empty_201 in [false, true] {
        let rig = Rig::new(&["1A", "1B"]).await;
        rig.set(vec![resident("1", "1A", Some("one@example.org"), None)]);
        rig.run().await;
        let first = rig.fake.user_by_email("one@example.org").unwrap();
        rig.fake.with(|d| {
            d.reading.post_creates_second_user = true;
            d.reading.post_answers_empty_201 = empty_201;
        });
        rig.set(vec![resident("1", "1B", Some("one@example.org"), None)]);
        let report = rig.run().await;
        assert!(
            errors(&report).iter().any(|e| e.contains("DOOR_CREATED_SECOND_USER")),
            "empty 201: {empty_201}: {:?}",
            errors(&report)
        );
        let users = rig.fake.users();
        assert_eq!(users.len(), 2, "DOOR made a second user");
        let second = users.iter().find(|u| u.uuid != first.uuid).unwrap();
        assert!(second.accesses.is_empty(), "the stray user's grants were revoked: {second:?}");
        assert_eq!(rig.mapping().entries["101/1"].user, first.uuid, "still linked to the first user");
    }
}

/// The auth spec names its operations `/v1/oauth/token#m2m`, `#passwordless`, `#refresh` (one
/// path, several bodies); a router needs the one path. The partner (`#m2m`) operation, unchanged,
/// under its real path.
fn token_spec(dir: &std::path::Path) -> String {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vendor-specs/door-authentication-openapi.json");
    let mut spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(source).unwrap()).unwrap();
    let m2m = spec["paths"]["/v1/oauth/token#m2m"].clone();
    assert!(m2m.is_object(), "the auth spec's client-credentials operation");
    spec["paths"] = serde_json::json!({ "/v1/oauth/token": m2m });
    let path = dir.join("door-authentication-m2m.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

/// The DOOR fake's answers held to the vendor's specs too: the adapter runs a whole lifecycle
/// through Prism proxies (partner API and token endpoint) in front of the fake, which validate
/// every request and every response; any violation fails a call, and Prism's log must show none.
#[tokio::test]
async fn the_fake_answers_and_the_adapter_asks_as_the_vendor_specs_say() {
    let dir = std::env::temp_dir().join(format!("door-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("prism.log");
    let mut rig = Rig::new(&["1A", "1B", "2A"]).await;
    let api = Prism::proxy(&support::prism::spec("door-partner-openapi.json"), &rig.fake.url(), &log).await;
    let auth = Prism::proxy(&token_spec(&dir), &rig.fake.url(), &log).await;
    rig.urls = (api.url.clone(), format!("{}/v1/oauth/token", auth.url));
    rig.passcode = "DAILY"; // lets the phone-only resident be created

    let mut future = resident("3", "2A", Some("three@example.org"), None);
    future.status = ResidentStatus::Future;
    future.status_raw = "Future".into();
    future.move_in = Some(Date::constant(2099, 6, 1));
    rig.set(vec![
        resident("1", "1A", Some("one@example.org"), None),
        resident("2", "1B", Some("two@example.org"), None),
        future.clone(),
        resident("4", "1B", None, Some("+1-555-0104")),
    ]);
    let first = rig.run().await;
    assert_eq!((first.counts.created, first.write_errors.len()), (4, 0), "{:?}", errors(&first));
    let mut moved = resident("1", "1B", Some("one@example.org"), None);
    // Within the 25 years past which an end is a sentinel for "no end".
    moved.move_out = Some(Date::constant(2045, 12, 31));
    future.move_in = Some(Date::constant(2099, 7, 1));
    rig.set(vec![moved, future]);
    let second = rig.run().await;
    assert!(second.write_errors.is_empty(), "{:?}", errors(&second));
    assert_eq!((second.counts.updated, second.counts.deprovisioned), (2, 2));
    *rig.store.0.lock().unwrap() = None;
    let third = rig.run().await;
    assert!(third.write_errors.is_empty(), "{:?}", errors(&third));
    let idle = rig.run().await;
    assert_eq!((idle.counts.unchanged, idle.write_errors.len()), (2, 0), "{:?}", errors(&idle));
    assert!(rig.fake.with(|d| d.tokens_issued) >= 1, "the token call went through the auth proxy");
    drop((api, auth));
    let violations = support::prism::violations(&log);
    assert!(violations.is_empty(), "Prism found violations:\n{}", violations.join("\n"));
    assert!(std::fs::read_to_string(&log).unwrap().contains("Forwarding"), "the calls went through Prism");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every request the adapter sent through a whole lifecycle (create, schedule, more grants, end
/// dates, revokes, every listing, the rebuild) is replayed against Prism: each must validate.
#[tokio::test]
async fn every_request_the_adapter_sends_validates_against_the_vendor_spec() {
    let prism = Prism::mock(&support::prism::spec("door-partner-openapi.json")).await;
    let rig = Rig::new(&["1A", "1B", "2A"]).await;
    let mut future = resident("3", "2A", Some("three@example.org"), None);
    future.status = ResidentStatus::Future;
    future.status_raw = "Future".into();
    future.move_in = Some(Date::constant(2099, 6, 1));
    let phone_only = resident("4", "1B", None, Some("+1-555-0104"));
    rig.set(vec![
        resident("1", "1A", Some("one@example.org"), None),
        resident("2", "1B", Some("two@example.org"), None),
        future.clone(),
        phone_only,
    ]);
    rig.run().await;
    // Unit change, a move-out date, a moved move-in, a move-out; then the map is lost and rebuilt.
    let mut moved = resident("1", "1B", Some("one@example.org"), None);
    // Within the 25 years past which an end is a sentinel for "no end".
    moved.move_out = Some(Date::constant(2045, 12, 31));
    future.move_in = Some(Date::constant(2099, 7, 1));
    rig.set(vec![moved, future]);
    rig.run().await;
    *rig.store.0.lock().unwrap() = None;
    rig.run().await;

    let recorded: Vec<_> = rig.fake.recorded().into_iter().filter(|r| !r.path_and_query.contains("/oauth/")).collect();
    for verb in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(recorded.iter().any(|r| r.method == verb), "the lifecycle sent no {verb}");
    }
    let client = reqwest::Client::new();
    let mut violations = Vec::new();
    for request in &recorded {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
        let mut call =
            client.request(method, format!("{}{}", prism.url, request.path_and_query)).bearer_auth("a-token");
        if let Some(body) = &request.body {
            call = call.header("content-type", "application/json").body(body.clone());
        }
        let response = call.send().await.expect("prism answers");
        let status = response.status();
        let found = response.headers().get("sl-violations").map(|v| v.to_str().unwrap_or("?").to_string());
        if status.is_client_error() || found.is_some() {
            violations.push(format!(
                "{} {} → {status} {}",
                request.method,
                request.path_and_query,
                found.unwrap_or_default()
            ));
        }
    }
    assert!(violations.is_empty(), "requests the vendor spec refuses:\n{}", violations.join("\n"));
}

/// An incremental run reads the building and, of the users, only those the identity map records
/// for the changed residents (`GET /v1/users/{uuid}`), never the whole user listing; until it must
/// create someone, when it reads every user first to look for their contact (as a full run does).
#[tokio::test]
async fn an_incremental_run_reads_only_the_changed_residents_users() {
    let rig = Rig::new(&["1A", "1B", "1C"]).await;
    let everyone = vec![
        resident("1", "1A", Some("one@example.org"), None),
        resident("2", "1B", Some("two@example.org"), None),
        resident("3", "1C", Some("three@example.org"), None),
    ];
    rig.set(everyone.clone());
    assert_eq!(rig.run().await.counts.created, 3);
    let two = rig.mapping().entries["101/2"].user.clone();

    let before = rig.fake.requests().len();
    let mut moved_out = everyone[1].clone();
    moved_out.status = ResidentStatus::Past;
    let report = rig.run_changes(vec![moved_out]).await;
    assert_eq!((report.counts.deprovisioned, report.counts.failed), (1, 0), "{:?}", errors(&report));
    let requests: Vec<String> =
        rig.fake.requests()[before..].iter().filter(|r| !r.contains("/oauth/")).cloned().collect();
    let user_reads: Vec<&String> = requests.iter().filter(|r| r.starts_with("GET /v1/users")).collect();
    assert_eq!(user_reads, [&format!("GET /v1/users/{two}")], "{requests:?}");
    assert!(requests.iter().any(|r| r.starts_with(&format!("DELETE /v1/users/{two}/doors/"))), "{requests:?}");
    assert!(rig.fake.users().iter().find(|u| u.uuid == two).unwrap().doors().is_empty());
    assert!(rig.mapping().entries.contains_key("101/1"), "the others stay in the map");

    // A new resident: every user is read once, to look for their contact, then created.
    let before = rig.fake.requests().len();
    let report = rig.run_changes(vec![resident("4", "1A", Some("four@example.org"), None)]).await;
    assert_eq!(report.counts.created, 1, "{:?}", errors(&report));
    let requests = rig.fake.requests()[before..].to_vec();
    let listings = requests.iter().filter(|r| r.starts_with("GET /v1/users?") && !r.contains("pageToken")).count();
    assert_eq!(listings, 1, "one listing (of its pages): {requests:?}");
    assert_eq!(rig.mapping().entries.len(), 4, "2 holds nothing any more, and stays until a full run");
    let mut now = everyone;
    now[1].status = ResidentStatus::Past;
    now.push(resident("4", "1A", Some("four@example.org"), None));
    rig.set(now);
    let report = rig.run().await;
    assert_eq!(report.counts.unchanged, 3, "{:?}", report.counts);
    let mut kept: Vec<String> = rig.mapping().entries.into_keys().collect();
    kept.sort();
    assert_eq!(kept, ["101/1", "101/3", "101/4"]);
}

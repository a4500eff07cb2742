//! `sync::run` table-tested in milliseconds against an in-memory PMS and destination: what a run
//! writes, holds and reports for each shape of input (the breaker, failed properties, conflicts,
//! dry runs). The real components are exercised end to end in `tests/`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;
use crate::domain::{Date, Guard, ManagedUser, Policy, Resident, ResidentStatus, Scope, UserRecord};

/// A PMS whose properties are residents or an outage.
struct Pms(BTreeMap<&'static str, Option<Vec<Resident>>>);

impl PmsSource for Pms {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        match self.0.get(property_id) {
            Some(Some(residents)) => Ok(residents.clone()),
            _ => Err(PmsError::InvalidResponse("down".into())),
        }
    }
}

/// A destination holding users in memory, recording every write by verb and identity.
#[derive(Default)]
struct Memory {
    users: Mutex<BTreeMap<String, ManagedUser>>,
    writes: Mutex<Vec<String>>,
    /// Each run's start: `None` for a full listing, else how many identities were looked up.
    begins: Mutex<Vec<Option<usize>>>,
}

impl Memory {
    fn with(users: Vec<UserRecord>) -> Self {
        let memory = Memory::default();
        for (i, record) in users.into_iter().enumerate() {
            let key = if record.external_id.is_empty() { format!("stranger-{i}") } else { record.external_id.clone() };
            memory.users.lock().unwrap().insert(key, ManagedUser { id: format!("u{i}"), record });
        }
        memory
    }

    fn writes(&self) -> Vec<String> {
        let mut w = self.writes.lock().unwrap().clone();
        w.sort();
        w
    }
}

impl Destination for Memory {
    type Run<'a> = &'a Memory;

    async fn begin<'a>(&'a self, prefix: &'a str) -> Result<Begun<&'a Memory>, DestinationError> {
        self.begins.lock().unwrap().push(None);
        let users = self.users.lock().unwrap();
        let managed = users.values().filter(|u| u.record.external_id.starts_with(prefix)).cloned().collect();
        Ok(Begun { run: self, managed })
    }

    async fn begin_for<'a>(
        &'a self,
        prefix: &'a str,
        identities: &BTreeSet<String>,
    ) -> Result<Begun<&'a Memory>, DestinationError> {
        self.begins.lock().unwrap().push(Some(identities.len()));
        let users = self.users.lock().unwrap();
        let ours = |u: &&ManagedUser| u.record.external_id.starts_with(prefix);
        let managed = users.values().filter(ours).filter(|u| identities.contains(&u.record.external_id)).cloned();
        Ok(Begun { run: self, managed: managed.collect() })
    }
}

impl DestinationRun for &Memory {
    async fn find_by_emails(&self, emails: &[String]) -> Result<Vec<ManagedUser>, DestinationError> {
        let users = self.users.lock().unwrap();
        let wanted = |e: &String| emails.iter().any(|w| w.eq_ignore_ascii_case(e));
        Ok(users.values().filter(|u| u.record.emails.iter().any(wanted)).cloned().collect())
    }

    async fn apply(&self, action: &Action) -> Result<(), DestinationError> {
        self.writes.lock().unwrap().push(format!("{} {}", action.verb(), action.external_id()));
        let mut users = self.users.lock().unwrap();
        match action {
            Action::Create(record) => {
                let id = format!("n{}", users.len());
                users.insert(record.external_id.clone(), ManagedUser { id, record: record.clone() });
            }
            Action::Update { desired, .. } | Action::Adopt { desired, .. } => {
                let id = format!("n{}", users.len());
                users.insert(desired.external_id.clone(), ManagedUser { id, record: desired.clone() });
            }
            Action::Deactivate(user) => {
                if let Some(u) = users.get_mut(&user.record.external_id) {
                    u.record.active = false;
                }
            }
            Action::Delete(user) => {
                users.remove(&user.record.external_id);
            }
        }
        Ok(())
    }
}

fn resident(property: &str, person: &str, status: ResidentStatus) -> Resident {
    let mut r = Resident::new(property, person, "raw", status);
    r.first_name = format!("F{person}");
    r.last_name = format!("L{person}");
    r.emails = vec![format!("{person}@example.org")];
    r
}

fn config(properties: &[&str], max_percent: u32, dry_run: bool) -> SyncConfig {
    SyncConfig {
        scope: Scope::new("ns", "it"),
        property_ids: properties.iter().map(|p| p.to_string()).collect(),
        policy: Policy::default(),
        mode: DeprovisionMode::Deactivate,
        max_percent,
        approval: None,
        dry_run,
        fetch_concurrency: 2,
        write_concurrency: 2,
        deadline: None,
        retention: None,
        only_properties: None,
        incremental: None,
        watermark_overlap: DEFAULT_WATERMARK_OVERLAP,
        time_zone: None,
        // One fixed moment for every run here: no outcome may depend on the day the tests run.
        now: "2026-11-30T10:00:00Z".parse().unwrap(),
    }
}

/// The users a first, unguarded run of `residents` (property 1) leaves behind.
async fn synced(residents: Vec<Resident>) -> Vec<UserRecord> {
    let memory = Memory::default();
    let pms = Pms(BTreeMap::from([("1", Some(residents))]));
    run(&pms, &memory, &config(&["1"], 100, false)).await;
    memory.users.into_inner().unwrap().into_values().map(|u| u.record).collect()
}

struct Case {
    name: &'static str,
    /// Users before the run: those a sync of these residents of property 1 made, plus strangers.
    before: Vec<Resident>,
    strangers: Vec<UserRecord>,
    /// What the PMS answers now, per property (`None`: an outage).
    now: Vec<(&'static str, Option<Vec<Resident>>)>,
    max_percent: u32,
    dry_run: bool,
    writes: Vec<&'static str>,
    held: bool,
    conflicts: usize,
}

fn case(name: &'static str, before: Vec<Resident>, now: Vec<(&'static str, Option<Vec<Resident>>)>) -> Case {
    Case {
        name,
        before,
        strangers: vec![],
        now,
        max_percent: 20,
        dry_run: false,
        writes: vec![],
        held: false,
        conflicts: 0,
    }
}

#[tokio::test]
async fn each_input_shape_gives_its_writes_holds_and_reports() {
    use ResidentStatus::*;
    let a = || resident("1", "a", Current);
    let b = || resident("1", "b", Current);
    let stranger = UserRecord {
        given_name: "Someone".into(),
        family_name: "Else".into(),
        emails: vec!["c@example.org".into()],
        active: true,
        ..UserRecord::default()
    };
    let cases = vec![
        Case {
            writes: vec!["create ns/it/1/a", "create ns/it/1/b"],
            ..case("first run creates every current resident", vec![], vec![("1", Some(vec![a(), b()]))])
        },
        case("an idle run writes nothing", vec![a(), b()], vec![("1", Some(vec![a(), b()]))]),
        Case {
            max_percent: 100,
            ..case("a property that failed is left untouched", vec![a(), b()], vec![("1", None), ("2", Some(vec![]))])
        },
        Case {
            max_percent: 100,
            held: true,
            ..case("a property that empties is held by the breaker", vec![a(), b()], vec![("1", Some(vec![]))])
        },
        Case {
            writes: vec!["create ns/it/1/d"],
            held: true,
            ..case(
                "more deprovisions than the share are held; creates still apply",
                vec![a(), b()],
                vec![("1", Some(vec![a(), resident("1", "d", Current)]))],
            )
        },
        Case {
            max_percent: 50,
            writes: vec!["deactivate ns/it/1/b"],
            ..case(
                "a move-out within the share is deprovisioned",
                vec![a(), b()],
                vec![("1", Some(vec![a(), resident("1", "b", Past)]))],
            )
        },
        Case {
            strangers: vec![stranger],
            conflicts: 1,
            ..case(
                "an email held by a user who is not the resident is a conflict, never merged",
                vec![],
                vec![("1", Some(vec![resident("1", "c", Current)]))],
            )
        },
        Case {
            max_percent: 100,
            dry_run: true,
            ..case("a dry run writes nothing", vec![a()], vec![("1", Some(vec![b()]))])
        },
    ];
    for case in cases {
        let mut users = synced(case.before.clone()).await;
        users.extend(case.strangers.clone());
        let memory = Memory::with(users);
        let properties: Vec<&str> = case.now.iter().map(|(p, _)| *p).collect();
        let pms = Pms(case.now.into_iter().collect());
        let report = run(&pms, &memory, &config(&properties, case.max_percent, case.dry_run)).await;
        assert_eq!(memory.writes(), case.writes, "{}", case.name);
        assert_eq!(matches!(report.guard, Some(Guard::Held { .. })), case.held, "{}: {:?}", case.name, report.guard);
        assert_eq!(report.conflicts.len(), case.conflicts, "{}", case.name);
        assert!(report.write_errors.is_empty(), "{}", case.name);
        if case.dry_run {
            let planned = report.planned_total();
            assert_eq!((planned.create, planned.deprovision), (1, 1), "{}", case.name);
        }
    }
}

/// One run of `a` and `b` (property 1) with `deleteAfter: 100s` at `now`, from `record`: the record
/// it leaves and its writes.
async fn retention_run(
    memory: &Memory,
    (a, b): (ResidentStatus, ResidentStatus),
    record: Deactivations,
    now: i64,
) -> (Deactivations, Vec<String>) {
    let pms = Pms(BTreeMap::from([("1", Some(vec![resident("1", "a", a), resident("1", "b", b)]))]));
    let mut config = config(&["1"], 100, false);
    config.retention =
        Some(Retention { deactivations: record, delete_after: std::time::Duration::from_secs(100), now });
    memory.writes.lock().unwrap().clear();
    let report = run(&pms, memory, &config).await;
    (report.deactivations.unwrap_or_default(), memory.writes())
}

/// Deactivate, then delete: a run records what it deactivated; a later run deletes it once the
/// period has passed, not before; a resident back in time is reactivated and forgotten.
#[tokio::test]
async fn deactivated_users_are_deleted_after_the_period_and_returning_ones_reactivated() {
    use ResidentStatus::{Current, Past};
    let memory = Memory::default();
    let (record, writes) = retention_run(&memory, (Current, Current), Deactivations::default(), 1_000).await;
    assert_eq!(writes.len(), 2);
    let (record, writes) = retention_run(&memory, (Past, Past), record, 1_000).await;
    assert_eq!(writes, ["deactivate ns/it/1/a", "deactivate ns/it/1/b"]);
    assert_eq!(record.len(), 2, "both deactivations recorded");
    let (record, writes) = retention_run(&memory, (Past, Past), record, 1_099).await;
    assert!(writes.is_empty(), "not before the period: {writes:?}");
    let (record, writes) = retention_run(&memory, (Past, Current), record, 1_099).await;
    assert_eq!(writes, ["update ns/it/1/b"], "b came back: reactivated, not recreated");
    assert_eq!(record.len(), 1, "b forgotten");
    let (record, writes) = retention_run(&memory, (Past, Current), record, 1_100).await;
    assert_eq!(writes, ["delete ns/it/1/a"]);
    assert!(record.is_empty());
    let users = memory.users.lock().unwrap();
    assert!(!users.contains_key("ns/it/1/a"));
    assert!(users["ns/it/1/b"].record.active);
}

/// A PMS answering with `Pms`'s residents and a `Date` header of `clock`.
struct Clocked(Pms, jiff::Timestamp);

impl PmsSource for Clocked {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        self.0.list_residents(property_id).await
    }

    async fn read(&self, property_id: &str, _since: Option<jiff::Timestamp>) -> Result<crate::pms::Listing, PmsError> {
        Ok(crate::pms::Listing { residents: self.0.list_residents(property_id).await?, clock: Some(self.1) })
    }
}

/// A delete cannot be undone: when the PMS's clock and ours are more than an hour apart, either
/// way, a user due for deletion stays deactivated (and stays recorded), and the run says so;
/// within the hour the delete goes ahead.
#[tokio::test]
async fn deletes_are_refused_while_our_clock_and_the_pms_clock_disagree() {
    use ResidentStatus::{Current, Past};
    let memory = Memory::default();
    let (record, _) = retention_run(&memory, (Current, Current), Deactivations::default(), 1_000).await;
    let (record, _) = retention_run(&memory, (Past, Current), record, 1_000).await;
    let pms = Pms(BTreeMap::from([("1", Some(vec![resident("1", "a", Past), resident("1", "b", Current)]))]));
    let mut config = config(&["1"], 100, false);
    config.retention =
        Some(Retention { deactivations: record, delete_after: std::time::Duration::from_secs(100), now: 1_100 });
    for minutes in [61, -61, 60 * 24 * 365] {
        let skewed = config.now + jiff::SignedDuration::from_mins(minutes);
        memory.writes.lock().unwrap().clear();
        let report = run(&Clocked(Pms(pms.0.clone()), skewed), &memory, &config).await;
        assert!(memory.writes().is_empty(), "{skewed}: {:?}", memory.writes());
        assert_eq!(report.deletes_refused.map(|r| r.users), Some(1), "{skewed}");
        assert_eq!(report.counts.deletes_refused, 1);
        assert_eq!(report.deactivations.map(|d| d.len()), Some(1), "still recorded");
    }
    let close = config.now + jiff::SignedDuration::from_mins(59);
    let report = run(&Clocked(pms, close), &memory, &config).await;
    assert_eq!(memory.writes(), ["delete ns/it/1/a"]);
    assert!(report.deletes_refused.is_none());
}

/// A run narrowed to property 1 (a webhook naming it): property 2 is neither read nor touched —
/// even though its PMS now answers with nobody — and its users are not reported as held.
#[tokio::test]
async fn a_narrowed_run_reads_and_touches_only_its_properties() {
    use ResidentStatus::{Current, Past};
    let memory = Memory::default();
    let before = Pms(BTreeMap::from([
        ("1", Some(vec![resident("1", "a", Current)])),
        ("2", Some(vec![resident("2", "b", Current)])),
    ]));
    run(&before, &memory, &config(&["1", "2"], 100, false)).await;
    let now = Pms(BTreeMap::from([("1", Some(vec![resident("1", "a", Past)])), ("2", Some(vec![]))]));
    let mut narrowed = config(&["1", "2"], 100, false);
    narrowed.only_properties = Some(BTreeSet::from(["1".to_string()]));
    memory.writes.lock().unwrap().clear();
    let report = run(&now, &memory, &narrowed).await;
    assert_eq!(memory.writes(), ["deactivate ns/it/1/a"]);
    assert_eq!(report.properties.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["1"]);
    assert_eq!((report.counts.held, report.counts.deprovisioned), (0, 1));
    assert!(memory.users.lock().unwrap()["ns/it/2/b"].record.active);
}

/// A PMS that filters by modification time: everyone on a full read, `changed` on a read since
/// a watermark; it records what each read asked for.
struct ChangingPms {
    all: Vec<Resident>,
    changed: Vec<Resident>,
    asked: Mutex<Vec<Option<jiff::Timestamp>>>,
}

impl PmsSource for ChangingPms {
    async fn list_residents(&self, _property_id: &str) -> Result<Vec<Resident>, PmsError> {
        Ok(self.all.clone())
    }

    fn reads_changes(&self) -> bool {
        true
    }

    async fn read(&self, _property_id: &str, since: Option<jiff::Timestamp>) -> Result<crate::pms::Listing, PmsError> {
        self.asked.lock().unwrap().push(since);
        let residents = if since.is_some() { self.changed.clone() } else { self.all.clone() };
        Ok(crate::pms::Listing { residents, clock: Some("2026-11-30T10:00:00Z".parse().unwrap()) })
    }
}

/// An incremental run reads from the watermark, looks up only the users of residents that
/// changed and touches only them; the breaker measures against the whole building (one move-out
/// of 20 is 5%, not 100% of the one user looked up); with no change it calls the destination not
/// at all.
#[tokio::test]
async fn an_incremental_run_looks_up_and_touches_only_what_changed() {
    use ResidentStatus::{Current, Past};
    let building: Vec<Resident> = (0..20).map(|i| resident("1", &format!("p{i}"), Current)).collect();
    let memory = Memory::default();
    let mut moved_out = building[3].clone();
    moved_out.status = Past;
    let mut renamed = building[4].clone();
    renamed.last_name = "Newname".into();
    let pms = ChangingPms { all: building.clone(), changed: vec![moved_out, renamed], asked: Mutex::default() };
    let full = run(&pms, &memory, &config(&["1"], 10, false)).await;
    assert_eq!((full.counts.created, full.incremental), (20, false));
    let vendor_clock: jiff::Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
    assert_eq!(full.properties[0].watermark, Some(vendor_clock - jiff::SignedDuration::from_mins(5)));

    let since: jiff::Timestamp = "2026-11-30T09:55:00Z".parse().unwrap();
    let mut incremental = config(&["1"], 10, false);
    incremental.incremental = Some(Incremental { since: BTreeMap::from([("1".to_string(), since)]), building: 20 });
    memory.writes.lock().unwrap().clear();
    let report = run(&pms, &memory, &incremental).await;
    assert_eq!(pms.asked.lock().unwrap().as_slice(), [None, Some(since)]);
    assert_eq!(memory.begins.lock().unwrap().as_slice(), [None, Some(2)]);
    assert_eq!(memory.writes(), ["deactivate ns/it/1/p3", "update ns/it/1/p4"]);
    assert!(report.incremental && report.hold().is_none(), "{:?}", report.guard);
    assert_eq!((report.counts.unchanged, report.counts.held), (0, 0));

    // Nothing changed: no destination call at all.
    let quiet = ChangingPms { all: building, changed: vec![], asked: Mutex::default() };
    memory.writes.lock().unwrap().clear();
    let report = run(&quiet, &memory, &incremental).await;
    assert_eq!(memory.begins.lock().unwrap().len(), 2, "the destination was called");
    assert!(memory.writes().is_empty() && report.fatal.is_none());
    assert_eq!(report.properties[0].residents, 0);
}

#[test]
fn a_watermark_is_the_earlier_of_the_two_clocks_less_an_overlap() {
    let overlap = jiff::SignedDuration::from_mins(5);
    let mark = |clock, ours| watermark(clock, ours, DEFAULT_WATERMARK_OVERLAP);
    let ours: jiff::Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
    let behind: jiff::Timestamp = "2026-11-30T09:58:00Z".parse().unwrap();
    assert_eq!(mark(Some(behind), ours), behind - overlap);
    assert_eq!(mark(None, ours), ours - overlap);
    // A clock ahead of ours, by a minute or by two days, would hide what is stamped until then:
    // ours is used.
    for ahead in ["2026-11-30T10:01:00Z", "2026-12-02T10:00:00Z", "3000-01-01T00:00:00Z"] {
        assert_eq!(mark(Some(ahead.parse().unwrap()), ours), ours - overlap, "{ahead}");
    }
    // A clock far behind ours stamps its records far behind too: believed (reading more is safe).
    let far_behind: jiff::Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
    assert_eq!(mark(Some(far_behind), ours), far_behind - overlap);
}

/// A vendor whose read of several properties at once fails: each property is then read alone,
/// so one property's trouble stays that property's.
struct FailsTogether(Mutex<Vec<String>>);

impl PmsSource for FailsTogether {
    async fn list_residents(&self, property_id: &str) -> Result<Vec<Resident>, PmsError> {
        self.0.lock().unwrap().push(format!("alone {property_id}"));
        match property_id {
            "2" => Err(PmsError::InvalidResponse("down".into())),
            _ => Ok(vec![resident(property_id, "a", ResidentStatus::Current)]),
        }
    }

    async fn read_together(
        &self,
        property_ids: &[String],
        _since: jiff::Timestamp,
    ) -> Option<Result<Vec<crate::pms::Listing>, PmsError>> {
        self.0.lock().unwrap().push(format!("together {}", property_ids.join(",")));
        Some(Err(PmsError::InvalidResponse("down".into())))
    }
}

#[tokio::test]
async fn properties_read_together_fall_back_to_one_by_one_on_failure() {
    let pms = FailsTogether(Mutex::default());
    let since: jiff::Timestamp = "2026-11-30T09:55:00Z".parse().unwrap();
    let mut config = config(&["1", "2"], 100, false);
    let marks = BTreeMap::from([("1".to_string(), since), ("2".to_string(), since)]);
    config.incremental = Some(Incremental { since: marks, building: 2 });
    let report = run(&pms, &Memory::default(), &config).await;
    assert_eq!(pms.0.lock().unwrap().as_slice(), ["together 1,2", "alone 1", "alone 2"]);
    let failed: Vec<bool> = report.properties.iter().map(|p| p.error.is_some()).collect();
    assert_eq!(failed, [false, true]);
    assert!(report.properties[0].watermark.is_some() && report.properties[1].watermark.is_none());
}

/// At a destination that does not schedule access (SCIM; this in-memory one), a date starts access
/// in the property's time zone: a future resident whose move-in day has come gets access while
/// the PMS still says future. Ending stays with the status (one on notice whose move-out day has
/// passed keeps access until the PMS says so). The report names the next boundary. Without a
/// calendar the status alone decides.
#[tokio::test]
async fn a_move_in_day_starts_access_in_the_property_time_zone_and_the_next_boundary_is_named() {
    use ResidentStatus::{Current, Future, Notice};
    let date = |m, d| jiff::civil::date(2026, m, d);
    let with = |person: &str, status, move_in: Option<Date>, move_out: Option<Date>| {
        let mut r = resident("1", person, status);
        (r.move_in, r.move_out) = (move_in, move_out);
        r
    };
    let residents = vec![
        with("arrives-today", Future, Some(date(11, 30)), None),
        with("arrives-later", Future, Some(date(12, 5)), None),
        with("left-yesterday", Notice, None, Some(date(11, 29))),
        with("leaves-soon", Current, None, Some(date(12, 2))),
    ];
    let pms = Pms(BTreeMap::from([("1", Some(residents))]));
    // 07:00 on Nov 30 in New York.
    let time_zone = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let now: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
    let active = |memory: &Memory| -> Vec<(String, bool)> {
        memory.users.lock().unwrap().values().map(|u| (u.record.external_id.clone(), u.record.active)).collect()
    };

    let memory = Memory::default();
    let mut dated = config(&["1"], 100, false);
    (dated.time_zone, dated.now) = (Some(time_zone), now);
    let report = run(&pms, &memory, &dated).await;
    let expected = [("arrives-later", false), ("arrives-today", true), ("leaves-soon", true), ("left-yesterday", true)];
    let expected: Vec<(String, bool)> = expected.iter().map(|(p, a)| (format!("ns/it/1/{p}"), *a)).collect();
    assert_eq!(active(&memory), expected);
    // The end of Dec 2 in New York comes before the start of Dec 5.
    assert_eq!(report.next_boundary, Some("2026-12-03T05:00:00Z".parse().unwrap()));

    let memory = Memory::default();
    let report = run(&pms, &memory, &SyncConfig { now, ..config(&["1"], 100, false) }).await;
    let by_status =
        [("arrives-later", false), ("arrives-today", false), ("leaves-soon", true), ("left-yesterday", true)];
    let by_status: Vec<(String, bool)> = by_status.iter().map(|(p, a)| (format!("ns/it/1/{p}"), *a)).collect();
    assert_eq!(active(&memory), by_status);
    assert_eq!(report.next_boundary, None);
}

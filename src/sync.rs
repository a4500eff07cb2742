//! One sync run: fetch every property → list managed users → plan → adopt or report conflicts →
//! breaker → apply (or, in a dry run, stop at the plan).
//!
//! Generic over [`PmsSource`] and [`Destination`] and free of Kubernetes types, so the controller,
//! the `plan` command and tests share it. Concurrency is bounded on both sides.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::{StreamExt, stream};

use crate::destination::{Begun, Destination, DestinationError, DestinationRun};
use crate::domain::boundary;
use crate::domain::breaker::{self, Guard};
use crate::domain::groups::{self, GroupPlan};
use crate::domain::retention::Outcome;
use crate::domain::{
    Action, Conflict, Deactivations, DeprovisionMode, Plan, Policy, Scope, adopt, desired_users, plan_with,
};
use crate::pms::{PmsError, PmsSource};

/// What to sync.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    pub scope: Scope,
    pub property_ids: Vec<String>,
    pub policy: Policy,
    pub mode: DeprovisionMode,
    /// The breaker's share of managed users (percent) one run may deprovision.
    pub max_percent: u32,
    /// The plan digest an operator approved (`pmssync.io/approve-deprovision`).
    pub approval: Option<String>,
    /// Compute and report the plan; write nothing.
    pub dry_run: bool,
    /// PMS calls in flight at once (per integration).
    pub fetch_concurrency: usize,
    /// Destination writes in flight at once (per integration).
    pub write_concurrency: usize,
    /// When the run must stop: reading and planning are abandoned, and no write starts after
    /// it (writes under way finish, bounded by their own timeouts). `None`: no deadline.
    pub deadline: Option<tokio::time::Instant>,
    /// Deactivate, then delete (`spec.deprovision.deleteAfter`); `None`: never delete this way.
    pub retention: Option<Retention>,
    /// A run narrowed (by a webhook) to these of `property_ids`: the others are neither read nor
    /// touched, as if their fetch had failed, but are not reported. `None`: every property.
    pub only_properties: Option<BTreeSet<String>>,
    /// An incremental run (the vendor filters by modification time): only what changed is read,
    /// looked up and touched. `None`: a full run.
    pub incremental: Option<Incremental>,
    /// Where the next watermark is set, before the vendor's clock ([`watermark`]).
    pub watermark_overlap: std::time::Duration,
    /// The property's time zone: with it, dates move access on their own at a destination that
    /// does not schedule access itself ([`Policy::dates_start_access`](crate::domain::Policy)),
    /// and the report names the next such moment. `None`: the status alone decides, and stale
    /// move-in dates are judged in UTC.
    pub time_zone: Option<jiff::tz::TimeZone>,
    /// When the run started, by our clock. Every rule that needs the time takes it from here,
    /// never from the wall clock itself, so a run (and a test) has exactly one "now".
    pub now: jiff::Timestamp,
}

/// What an incremental run needs.
#[derive(Clone, Debug, Default)]
pub struct Incremental {
    /// Each property's watermark: its residents changed at or after it are read. A property
    /// without one is read in full (and its residents are all "changed").
    pub since: BTreeMap<String, jiff::Timestamp>,
    /// Residents the last full read found: the breaker's denominator at least (an incremental run
    /// sees only the users whose residents changed).
    pub building: u64,
}

/// How far before the vendor's clock the next incremental read starts by default: changes
/// stamped while a read was under way, and clocks that disagree by less than this, are read
/// again, not missed.
pub const DEFAULT_WATERMARK_OVERLAP: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// Our clock and the vendor's may disagree by at most this much before deletes after
/// `deleteAfter` (irreversible) are refused: one of the clocks is wrong, and which one decides
/// whether a user is due.
pub const MAX_DELETE_CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// The watermark after a successful read that started at `started` (our clock): the earlier of
/// the vendor's clock at its first answer and ours, less `overlap`. The earlier one, because the
/// vendor stamps its records by its own clock: a vendor clock behind ours must not skip what it
/// stamped in between, and a vendor clock ahead of ours (broken, or hostile) must not move the
/// watermark into the future and hide changes. Too early only reads some changes twice.
pub fn watermark(
    vendor_clock: Option<jiff::Timestamp>,
    started: jiff::Timestamp,
    overlap: std::time::Duration,
) -> jiff::Timestamp {
    let at = vendor_clock.map_or(started, |vendor| vendor.min(started));
    jiff::SignedDuration::try_from(overlap).ok().and_then(|o| at.checked_sub(o).ok()).unwrap_or(at)
}

/// What deleting deactivated users needs: the record of this integration's deactivations, the
/// period, and the clock.
#[derive(Clone, Debug)]
pub struct Retention {
    pub deactivations: Deactivations,
    pub delete_after: std::time::Duration,
    /// Unix seconds at the start of the run.
    pub now: i64,
}

impl Retention {
    /// Users deactivated at or before this moment are due for deletion.
    fn cutoff(&self) -> i64 {
        self.now.saturating_sub(i64::try_from(self.delete_after.as_secs()).unwrap_or(i64::MAX))
    }
}

/// Deletes after `deleteAfter` that a run refused: our clock and the vendor's disagree by more
/// than [`MAX_DELETE_CLOCK_SKEW`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletesRefused {
    /// Users that were due for deletion and are kept (deactivated).
    pub users: u64,
    /// The vendor's clock less ours.
    pub skew: jiff::SignedDuration,
}

/// Outcome of one property.
#[derive(Debug)]
pub struct PropertyResult {
    pub id: String,
    /// Residents read: all of them, or in an incremental run those that changed.
    pub residents: u64,
    pub error: Option<PmsError>,
    /// Where the next incremental read of this property starts (after a successful read).
    pub watermark: Option<jiff::Timestamp>,
}

/// Counts of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub fetched: u64,
    pub excluded: u64,
    pub desired: u64,
    pub created: u64,
    pub updated: u64,
    pub adopted: u64,
    pub deprovisioned: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Users left untouched: their property failed, or their deprovisioning awaits approval.
    pub held: u64,
    /// Residents not created because a user with their email exists and is not an exact match.
    pub conflicts: u64,
    /// Residents held back because another resident shares their email.
    pub duplicate_emails: u64,
    /// Residents whose raw status the mapping does not know (never given access).
    pub unknown_statuses: u64,
    /// PMS-future residents whose move-in date lies further back than the policy's window
    /// (the status rules: no access, no grant).
    pub stale_move_ins: u64,
    /// Users due for deletion whose delete was refused ([`SyncReport::deletes_refused`]).
    pub deletes_refused: u64,
    /// SCIM groups created, memberships added and removed, removals the breaker held, and
    /// groups left alone because a group of their name is not ours.
    pub groups_created: u64,
    pub memberships_added: u64,
    pub memberships_removed: u64,
    pub memberships_held: u64,
    pub group_conflicts: u64,
}

/// Planned writes of one property (dry runs and `pms-sync plan`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlannedCounts {
    pub create: u64,
    pub update: u64,
    pub adopt: u64,
    pub deprovision: u64,
}

/// Why a run stopped before writing anything.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no property could be fetched")]
    AllPropertiesFailed,
    #[error("could not read destination users: {0}")]
    Destination(DestinationError),
    #[error("the sync deadline passed before the plan was complete; nothing was changed")]
    DeadlineExceeded,
}

/// Everything a run learned; the controller turns it into status, the CLI into a table.
#[derive(Debug, Default)]
pub struct SyncReport {
    pub properties: Vec<PropertyResult>,
    pub counts: Counts,
    /// Failed writes, in no particular order.
    pub write_errors: Vec<DestinationError>,
    /// Set when the run stopped before applying anything.
    pub fatal: Option<RunError>,
    pub conflicts: Vec<Conflict>,
    /// Identities held back because they share an email.
    pub duplicate_emails: Vec<String>,
    /// Identities of PMS-future residents given no access because their move-in date is stale.
    pub stale_move_ins: Vec<String>,
    /// Deletes after `deleteAfter` refused because the clocks disagree.
    pub deletes_refused: Option<DeletesRefused>,
    /// Raw statuses the mapping does not know, with how many residents had each (bounded).
    pub unknown_statuses: BTreeMap<String, u64>,
    /// What the breaker decided (the held actions themselves are in `held_actions`).
    pub guard: Option<Guard>,
    /// Planned writes per property, for dry runs and `pms-sync plan`.
    pub planned: BTreeMap<String, PlannedCounts>,
    /// Planned writes not started because the sync deadline passed.
    pub not_started: u64,
    /// The planned group changes (SCIM groups), carried out after the user writes.
    pub groups: GroupPlan,
    /// With `deleteAfter`: the record of deactivations as this run leaves it, for the caller to
    /// keep (not in a dry run).
    pub deactivations: Option<Deactivations>,
    /// Deactivations the record's bounds kept out (those users are never deleted by it).
    pub unrecorded_deactivations: usize,
    /// The run read only what changed ([`SyncConfig::incremental`]).
    pub incremental: bool,
    /// The next moment a user's access changes by the calendar alone, among the residents read
    /// (a destination that schedules access itself has none).
    pub next_boundary: Option<jiff::Timestamp>,
}

impl SyncReport {
    /// The planned writes over all properties.
    pub fn planned_total(&self) -> PlannedCounts {
        self.planned.values().fold(PlannedCounts::default(), |mut t, p| {
            t.create += p.create;
            t.update += p.update;
            t.adopt += p.adopt;
            t.deprovision += p.deprovision;
            t
        })
    }

    /// The breaker's hold, if any: (count, digest).
    pub fn hold(&self) -> Option<(u64, &str)> {
        match &self.guard {
            Some(Guard::Held { actions, digest, .. }) => Some((actions.len() as u64, digest)),
            _ => None,
        }
    }
}

/// Progress callbacks (the CLI prints them; the controller logs nothing personal either way).
pub trait Progress: Sync {
    /// A property was read: how many residents, or why not.
    fn property_fetched(&self, _id: &str, _result: Result<usize, &PmsError>) {}
}

/// No progress output.
pub struct Quiet;
impl Progress for Quiet {}

/// Fetches every property, plans, resolves first-contact matches and applies the breaker, without
/// writing. Returns the report and the plan to apply (`None` when the run must stop).
pub async fn fetch_and_plan<P: PmsSource, D: Destination>(
    pms: &P,
    destination: &D,
    config: &SyncConfig,
    progress: &dyn Progress,
) -> (SyncReport, Option<Plan>) {
    let (report, planned) = plan_run(pms, destination, config, progress).await;
    (report, planned.map(|(plan, _run)| plan))
}

/// [`fetch_and_plan`], keeping the destination's run to apply the plan with.
async fn plan_run<'a, P: PmsSource, D: Destination>(
    pms: &P,
    destination: &'a D,
    config: &'a SyncConfig,
    progress: &dyn Progress,
) -> (SyncReport, Option<(Plan, D::Run<'a>)>) {
    let mut report = SyncReport::default();
    let read = |id: &String| config.only_properties.as_ref().is_none_or(|only| only.contains(id));
    let to_fetch: Vec<String> = config.property_ids.iter().filter(|id| read(id)).cloned().collect();
    let skipped: BTreeSet<String> = config.property_ids.iter().filter(|id| !read(id)).cloned().collect();
    report.incremental = config.incremental.is_some();
    let fetched = read_properties(pms, config, &to_fetch, progress).await;

    let mut residents = Vec::new();
    let mut failed = BTreeSet::new();
    let mut fetched_by_property = HashMap::new();
    // The vendor's clock furthest from ours, among the answers that carried one.
    let mut vendor_skew: Option<jiff::SignedDuration> = None;
    for (id, result) in fetched {
        match result {
            Ok(listing) => {
                let list = listing.residents;
                fetched_by_property.insert(id.clone(), list.len() as u64);
                if let Some(clock) = listing.clock {
                    let skew = clock.duration_since(config.now);
                    vendor_skew = Some(vendor_skew.map_or(skew, |s| if skew.abs() > s.abs() { skew } else { s }));
                }
                report.properties.push(PropertyResult {
                    id,
                    residents: list.len() as u64,
                    error: None,
                    watermark: Some(watermark(listing.clock, config.now, config.watermark_overlap)),
                });
                residents.extend(list);
            }
            Err(error) => {
                failed.insert(id.clone());
                report.properties.push(PropertyResult { id, residents: 0, error: Some(error), watermark: None });
            }
        }
    }
    if failed.len() == to_fetch.len() {
        // Nothing usable came back: touch nothing, not even the destination's listing.
        report.fatal = Some(RunError::AllPropertiesFailed);
        return (report, None);
    }

    // An incremental run looks up only the users of the residents that changed; with none, it
    // calls the destination not at all.
    let changed: Option<BTreeSet<String>> = config
        .incremental
        .as_ref()
        .map(|_| residents.iter().map(|r| config.scope.external_id(&r.property_id, &r.person_id)).collect());
    let begun = match &changed {
        Some(changed) if changed.is_empty() => return (report, None),
        Some(changed) => destination.begin_for(config.scope.prefix(), changed).await,
        None => destination.begin(config.scope.prefix()).await,
    };
    let Begun { run, managed } = match begun {
        Ok(begun) => begun,
        Err(error) => {
            report.fatal = Some(RunError::Destination(error));
            return (report, None);
        }
    };
    // The run's local date judges stale move-in dates at every destination; dates move access on
    // their own only where the destination does not schedule it (DOOR does) and the property's
    // time zone is known.
    let time_zone = config.time_zone.as_ref().filter(|_| !run.schedules());
    let local = config.time_zone.clone().unwrap_or(jiff::tz::TimeZone::UTC);
    let policy = Policy {
        today: Some(config.now.to_zoned(local).date()),
        dates_start_access: time_zone.is_some(),
        ..config.policy.clone()
    };
    let mut desired = desired_users(&config.scope, residents, &policy);
    report.next_boundary = time_zone.and_then(|tz| boundary::next(&desired.users, tz, config.now));
    // A destination may have no way to hold some users (DOOR has no user without a grant, so a
    // future resident without any date has none there yet): those are not desired there.
    desired.users.retain(|u| run.holds(u));
    report.counts.fetched = desired.fetched;
    report.counts.excluded = desired.excluded;
    report.counts.desired = desired.desired();
    report.counts.duplicate_emails = desired.duplicate_emails.len() as u64;
    report.duplicate_emails = desired.duplicate_emails.iter().cloned().collect();
    report.counts.stale_move_ins = desired.stale_move_ins.len() as u64;
    report.stale_move_ins = std::mem::take(&mut desired.stale_move_ins).into_iter().collect();
    report.counts.unknown_statuses = desired.unknown_statuses.values().sum();
    report.unknown_statuses = desired.unknown_statuses.clone();
    let unknown_by_property = std::mem::take(&mut desired.unknown_by_property);
    // Properties not read this run are left exactly as they are, like failed ones (but their users
    // are not counted as held: nothing is wrong with them).
    let in_skipped = |external_id: &str| config.scope.parse(external_id).is_some_and(|(p, _)| skipped.contains(p));
    let skipped_users = managed.iter().filter(|u| in_skipped(&u.record.external_id)).count() as u64;
    failed.extend(skipped.iter().cloned());
    // Group memberships follow the desired users, except for residents whose data is not usable
    // this run (their property failed, or they share an email): theirs stay as they are.
    let mut frozen: BTreeSet<String> = managed
        .iter()
        .map(|u| &u.record.external_id)
        .filter(|e| config.scope.parse(e).is_some_and(|(property, _)| failed.contains(property)))
        .cloned()
        .collect();
    frozen.extend(desired.duplicate_emails.iter().cloned());
    match run.plan_groups(&config.scope, &desired.users, &frozen).await {
        Ok(groups) => report.groups = groups,
        Err(error) => {
            report.fatal = Some(RunError::Destination(error));
            return (report, None);
        }
    }
    // Deactivate, then delete: forget users no longer inactive, then find those due (a full run
    // only: an incremental one sees too few users to tell who is still inactive).
    let due_for_deletion = match &config.retention {
        Some(retention) if config.incremental.is_some() => {
            report.deactivations = Some(retention.deactivations.clone());
            BTreeSet::new()
        }
        Some(retention) => {
            let inactive: BTreeSet<&str> = managed.iter().filter(|u| !u.record.active).map(|u| u.id.as_str()).collect();
            let mut deactivations = retention.deactivations.clone();
            deactivations.retain_inactive(|id| inactive.contains(id));
            let due = deactivations.due(retention.cutoff());
            report.deactivations = Some(deactivations);
            // A delete cannot be undone: with our clock and the vendor's an hour or more apart,
            // nobody can tell who is due, so nobody is deleted this run (the record is kept).
            match vendor_skew.filter(|s| s.abs() > MAX_DELETE_CLOCK_SKEW) {
                Some(skew) if !due.is_empty() => {
                    report.counts.deletes_refused = due.len() as u64;
                    report.deletes_refused = Some(DeletesRefused { users: due.len() as u64, skew });
                    BTreeSet::new()
                }
                _ => due,
            }
        }
        None => BTreeSet::new(),
    };
    let differs = |existing: &crate::domain::ManagedUser, want: &crate::domain::UserRecord| run.differs(existing, want);
    let mut plan = plan_with(&config.scope, desired, managed, &failed, config.mode, &due_for_deletion, &differs);

    // First contact: a create whose email a destination user already holds is an adoption (exact
    // match, no identity of its own) or a conflict (anything else).
    let emails = adopt::create_emails(&plan);
    if !emails.is_empty() {
        match run.find_by_emails(&emails).await {
            Ok(candidates) => report.conflicts = adopt::resolve(&mut plan, candidates),
            Err(error) => {
                report.fatal = Some(RunError::Destination(error));
                return (report, None);
            }
        }
    }

    let building = config.incremental.as_ref().map_or(0, |i| i.building);
    let fetched = breaker::Fetched { residents: fetched_by_property, unknown: unknown_by_property, building };
    let guard = breaker::guard(&mut plan, &config.scope, config.max_percent, &fetched, config.approval.as_deref());
    report.counts.unchanged = plan.unchanged;
    let held_by_breaker = match &guard {
        Guard::Held { actions, .. } => actions.len() as u64,
        _ => 0,
    };
    report.counts.held = plan.held.saturating_sub(skipped_users) + held_by_breaker;
    report.counts.conflicts = report.conflicts.len() as u64;
    report.planned = planned_by_property(&config.scope, &plan);
    guard_groups(&mut report.groups, &plan, &guard, config.max_percent, building);
    report.counts.memberships_held = report.groups.held;
    report.counts.group_conflicts = report.groups.conflicts.len() as u64;
    report.guard = Some(guard);
    (report, Some((plan, run)))
}

type Read = (String, Result<crate::pms::Listing, PmsError>);

/// Reads `to_fetch`: an incremental run's properties together from the earliest watermark where
/// the vendor can (a superset of each one's changes), else, or when that fails, each alone.
async fn read_properties<P: PmsSource>(
    pms: &P,
    config: &SyncConfig,
    to_fetch: &[String],
    progress: &dyn Progress,
) -> Vec<Read> {
    let since = |id: &str| config.incremental.as_ref().and_then(|i| i.since.get(id).copied());
    let earliest: Option<Vec<jiff::Timestamp>> = to_fetch.iter().map(|id| since(id)).collect();
    if let Some(earliest) = earliest.and_then(|e| e.into_iter().min()).filter(|_| to_fetch.len() > 1)
        && let Some(Ok(listings)) = pms.read_together(to_fetch, earliest).await
        && listings.len() == to_fetch.len()
    {
        let reads: Vec<Read> = to_fetch.iter().cloned().zip(listings.into_iter().map(Ok)).collect();
        for (id, result) in &reads {
            progress.property_fetched(id, result.as_ref().map(|listing| listing.residents.len()));
        }
        return reads;
    }
    stream::iter(to_fetch.iter().cloned())
        .map(|id| async move {
            let result = pms.read(&id, since(&id)).await;
            progress.property_fetched(&id, result.as_ref().map(|listing| listing.residents.len()));
            (id, result)
        })
        .buffered(config.fetch_concurrency.max(1))
        .collect()
        .await
}

/// The breaker for group memberships: a user whose deprovisioning the breaker holds keeps their
/// memberships too, and removals from residents who keep their access are bounded
/// ([`groups::guard`]) — in an incremental run against at least the building's size, as the
/// memberships it sees are only the changed residents'.
fn guard_groups(groups: &mut GroupPlan, plan: &Plan, guard: &Guard, max_percent: u32, building: u64) {
    let held: BTreeSet<&str> = match guard {
        Guard::Held { actions, .. } => actions.iter().map(Action::external_id).collect(),
        _ => BTreeSet::new(),
    };
    for change in &mut groups.changes {
        change.remove.retain(|id| !held.contains(id.as_str()));
    }
    let deprovisioned: BTreeSet<String> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Deactivate(_) | Action::Delete(_)))
        .map(|a| a.external_id().to_string())
        .collect();
    let memberships = groups.memberships.max(building);
    groups::guard(groups, &deprovisioned, memberships, max_percent);
}

fn planned_by_property(scope: &Scope, plan: &Plan) -> BTreeMap<String, PlannedCounts> {
    let mut out: BTreeMap<String, PlannedCounts> = BTreeMap::new();
    for action in &plan.actions {
        let Some((property, _)) = scope.parse(action.external_id()) else { continue };
        let counts = out.entry(property.to_string()).or_default();
        match action {
            Action::Create(_) => counts.create += 1,
            Action::Update { .. } => counts.update += 1,
            Action::Adopt { .. } => counts.adopt += 1,
            Action::Deactivate(_) | Action::Delete(_) => counts.deprovision += 1,
        }
    }
    out
}

/// A full run: fetch, plan and (unless a dry run) apply.
pub async fn run<P: PmsSource, D: Destination>(pms: &P, destination: &D, config: &SyncConfig) -> SyncReport {
    let planning = plan_run(pms, destination, config, &Quiet);
    let planned = match config.deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, planning).await.ok(),
        None => Some(planning.await),
    };
    let Some((mut report, plan)) = planned else {
        return SyncReport { fatal: Some(RunError::DeadlineExceeded), ..SyncReport::default() };
    };
    let Some((plan, destination)) = plan else { return report };
    if config.dry_run {
        return report;
    }
    let planned_writes = plan.actions.len() as u64;
    let deadline = async {
        match config.deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    // Past the deadline no further write starts; those under way finish (a write cut off midway
    // could leave a destination change made but unrecorded).
    let writer = &destination;
    type Applied = (ActionKind, String, Option<String>, Result<(), DestinationError>);
    let results: Vec<Applied> = stream::iter(plan.actions)
        .take_until(deadline)
        .map(|action| async move {
            let result = writer.apply(&action).await;
            let user_id = match &action {
                Action::Create(_) => None,
                Action::Update { existing, .. } | Action::Adopt { existing, .. } => Some(existing.id.clone()),
                Action::Deactivate(existing) | Action::Delete(existing) => Some(existing.id.clone()),
            };
            (ActionKind::of(&action), action.external_id().to_string(), user_id, result)
        })
        .buffer_unordered(config.write_concurrency.max(1))
        .collect()
        .await;
    report.not_started = planned_writes - results.len() as u64;
    // Group memberships follow, once the new users have IDs (none after the deadline).
    if config.deadline.is_none_or(|deadline| tokio::time::Instant::now() < deadline) {
        let outcome = writer.apply_groups(&report.groups).await;
        report.counts.groups_created = outcome.created;
        report.counts.memberships_added = outcome.added;
        report.counts.memberships_removed = outcome.removed;
        report.counts.failed += outcome.errors.len() as u64;
        report.write_errors.extend(outcome.errors);
    }
    // The destination's own bookkeeping (DOOR's identity map) is saved once, after every write,
    // whatever failed: what was done must be remembered.
    let finished = destination.finish().await;
    // The record of deactivations follows what was applied (the caller keeps it).
    if let (Some(deactivations), Some(retention)) = (&mut report.deactivations, &config.retention) {
        let outcomes = results.iter().filter(|(.., result)| result.is_ok()).filter_map(|(kind, _, user_id, _)| {
            let outcome = match kind {
                ActionKind::Create => return None,
                ActionKind::Update | ActionKind::Adopt => Outcome::Rewritten,
                ActionKind::Deactivate => Outcome::Deactivated,
                ActionKind::Delete => Outcome::Deleted,
            };
            Some((user_id.as_deref()?, outcome))
        });
        report.unrecorded_deactivations = deactivations.record(outcomes, retention.now);
    }
    for (kind, external_id, user_id, result) in results {
        // The audit trail a log pipeline can keep: one line per applied action, identities only.
        tracing::info!(
            target: "audit",
            action = kind.verb(),
            identity = %external_id,
            user_id = user_id.as_deref().unwrap_or("-"),
            outcome = if result.is_ok() { "applied" } else { "failed" },
            "destination write"
        );
        match result {
            Ok(()) => match kind {
                ActionKind::Create => report.counts.created += 1,
                ActionKind::Update => report.counts.updated += 1,
                ActionKind::Adopt => report.counts.adopted += 1,
                ActionKind::Deactivate | ActionKind::Delete => report.counts.deprovisioned += 1,
            },
            // A create refused for uniqueness is the conflict the email lookup could not see
            // (e.g. a userName taken without a matching email): report it as one, with IDs.
            Err(DestinationError::Conflict { .. }) if matches!(kind, ActionKind::Create) => {
                report.counts.conflicts += 1;
                report.conflicts.push(Conflict { external_id, user_id: None });
            }
            Err(error) => {
                report.counts.failed += 1;
                report.write_errors.push(error);
            }
        }
    }
    if let Err(error) = finished {
        report.write_errors.push(error);
    }
    report
}

#[derive(Clone, Copy, Debug)]
enum ActionKind {
    Create,
    Update,
    Adopt,
    Deactivate,
    Delete,
}

impl ActionKind {
    fn verb(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Adopt => "adopt",
            Self::Deactivate => "deactivate",
            Self::Delete => "delete",
        }
    }

    fn of(action: &Action) -> Self {
        match action {
            Action::Create(_) => Self::Create,
            Action::Update { .. } => Self::Update,
            Action::Adopt { .. } => Self::Adopt,
            Action::Deactivate(_) => Self::Deactivate,
            Action::Delete(_) => Self::Delete,
        }
    }
}

#[cfg(test)]
mod tests;

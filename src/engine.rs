//! One sync run: fetch every property → list managed users → plan → apply.
//!
//! Generic over [`PmsSource`] and [`Destination`] and free of Kubernetes types, so the controller,
//! the CLI and tests share it. Concurrency is bounded on both sides.

use std::collections::BTreeSet;

use futures::{StreamExt, stream};

use crate::destination::{Destination, DestinationError};
use crate::pms::{PmsError, PmsSource};
use crate::sync::{Action, DeprovisionMode, Exclusions, Plan, Resident, Scope, desired_users, plan};

/// What to sync.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    pub scope: Scope,
    pub property_ids: Vec<String>,
    pub exclusions: Exclusions,
    pub mode: DeprovisionMode,
    /// PMS calls in flight at once (per integration).
    pub fetch_concurrency: usize,
    /// Destination writes in flight at once (per integration).
    pub write_concurrency: usize,
}

/// Outcome of one property.
#[derive(Debug)]
pub struct PropertyResult {
    pub id: String,
    pub residents: u64,
    pub error: Option<PmsError>,
}

/// Counts of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub fetched: u64,
    pub excluded: u64,
    pub desired: u64,
    pub created: u64,
    pub updated: u64,
    pub deprovisioned: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub held: u64,
}

/// Why a run stopped before writing anything.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no property could be fetched")]
    AllPropertiesFailed,
    #[error("could not list destination users: {0}")]
    Destination(DestinationError),
}

/// Everything a run learned; the controller turns it into status.
#[derive(Debug, Default)]
pub struct SyncReport {
    pub properties: Vec<PropertyResult>,
    pub counts: Counts,
    /// Failed writes, in no particular order.
    pub write_errors: Vec<DestinationError>,
    /// Set when the run stopped before applying anything.
    pub fatal: Option<RunError>,
}

impl SyncReport {
    /// Fully successful: every property fetched and every write done.
    pub fn is_success(&self) -> bool {
        self.fatal.is_none() && self.write_errors.is_empty() && self.properties.iter().all(|p| p.error.is_none())
    }
}

/// Fetches every property and plans, without writing. Returns the plan or the report to publish.
pub async fn fetch_and_plan<P: PmsSource, D: Destination>(
    pms: &P,
    destination: &D,
    config: &SyncConfig,
) -> (SyncReport, Option<Plan>) {
    let mut report = SyncReport::default();
    let fetched: Vec<(String, Result<Vec<Resident>, PmsError>)> = stream::iter(config.property_ids.iter().cloned())
        .map(|id| async move {
            let result = pms.list_residents(&id).await;
            (id, result)
        })
        .buffered(config.fetch_concurrency.max(1))
        .collect()
        .await;

    let mut residents = Vec::new();
    let mut failed = BTreeSet::new();
    for (id, result) in fetched {
        match result {
            Ok(list) => {
                report.properties.push(PropertyResult { id, residents: list.len() as u64, error: None });
                residents.extend(list);
            }
            Err(error) => {
                failed.insert(id.clone());
                report.properties.push(PropertyResult { id, residents: 0, error: Some(error) });
            }
        }
    }
    if failed.len() == config.property_ids.len() {
        // Nothing usable came back: touch nothing, not even the destination's listing.
        report.fatal = Some(RunError::AllPropertiesFailed);
        return (report, None);
    }

    let managed = match destination.list_managed(config.scope.prefix()).await {
        Ok(users) => users,
        Err(error) => {
            report.fatal = Some(RunError::Destination(error));
            return (report, None);
        }
    };
    let desired = desired_users(&config.scope, &residents, &config.exclusions);
    drop(residents);
    report.counts.fetched = desired.fetched;
    report.counts.excluded = desired.excluded;
    report.counts.desired = desired.desired();
    let plan = plan(&config.scope, &desired, managed, &failed, config.mode);
    report.counts.unchanged = plan.unchanged;
    report.counts.held = plan.held;
    (report, Some(plan))
}

/// A full run: fetch, plan and apply.
pub async fn run<P: PmsSource, D: Destination>(pms: &P, destination: &D, config: &SyncConfig) -> SyncReport {
    let (mut report, plan) = fetch_and_plan(pms, destination, config).await;
    let Some(plan) = plan else { return report };
    let results: Vec<(ActionKind, Result<(), DestinationError>)> = stream::iter(plan.actions)
        .map(|action| async move {
            let kind = ActionKind::of(&action);
            (kind, destination.apply(&action).await)
        })
        .buffer_unordered(config.write_concurrency.max(1))
        .collect()
        .await;
    for (kind, result) in results {
        match result {
            Ok(()) => match kind {
                ActionKind::Create => report.counts.created += 1,
                ActionKind::Update => report.counts.updated += 1,
                ActionKind::Deprovision => report.counts.deprovisioned += 1,
            },
            Err(error) => {
                report.counts.failed += 1;
                report.write_errors.push(error);
            }
        }
    }
    report
}

#[derive(Clone, Copy, Debug)]
enum ActionKind {
    Create,
    Update,
    Deprovision,
}

impl ActionKind {
    fn of(action: &Action) -> Self {
        match action {
            Action::Create(_) => Self::Create,
            Action::Update { .. } => Self::Update,
            Action::Deactivate(_) | Action::Delete(_) => Self::Deprovision,
        }
    }
}

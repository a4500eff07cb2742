//! pms-sync: keeps building access-control platforms in step with Property Management Systems.
//!
//! Module map (one direction of dependency, top to bottom):
//! - [`api`]: the `PmsIntegration` CRD types (documented field by field; docs/decisions.md).
//! - [`controller`]: kube-runtime wiring; reconcile as a pipeline of small steps.
//! - [`sync`]: one sync run (fetch → plan → apply) over the two traits below; no Kubernetes.
//! - [`domain`]: the pure core — residents, statuses, placeholders, identity, desired users, the
//!   planner, adoption, the breaker; no Kubernetes, no HTTP.
//! - [`pms`]: the [`pms::PmsSource`] trait and one module per PMS (Buildium, Entrata, AppFolio,
//!   Yardi, RealPage, Rent Manager, ResMan, MRI).
//! - [`destination`]: the [`destination::Destination`] trait and one module per target (SCIM,
//!   DOOR).
//! - [`http`]: the shared outbound client (timeouts, retries with backoff and jitter, Retry-After).
//! - [`receiver`]: the webhook receiver (signed `POST`s that queue a sync).
//! - [`credentials`], [`conditions`], [`metrics`], [`server`], [`telemetry`]: support.
//! - [`plan_command`], [`commands`]: the `plan`, `sync`, `approve`, `get`, `suspend` and `resume`
//!   commands.
//! - [`fuzzing`]: entry points that run every vendor-bytes parser (fuzz targets, property tests).
#![forbid(unsafe_code)]

pub mod api;
pub mod commands;
pub mod conditions;
pub mod controller;
pub mod credentials;
pub mod destination;
pub mod domain;
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod plan_command;
pub mod pms;
pub mod receiver;
pub mod recover_command;
pub mod server;
pub mod sync;
pub mod telemetry;

/// The CRD as YAML, exactly as `pms-sync crd` prints it and `crds/pmsintegration.yaml` holds it.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = api::PmsIntegration::crd();
    format!("---\n{}", serde_yaml::to_string(&crd).expect("the CRD always serializes"))
}

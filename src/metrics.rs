//! Prometheus metrics. Every label has a small, fixed set of values: no object names of residents,
//! no free text, nothing derived from `Debug` output.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntegrationLabels {
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    target: &'static str,
    class: &'static str,
}

/// The controller's metrics, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<ResultLabel, Counter>,
    errors: Family<ReasonLabel, Counter>,
    duration: Histogram,
    objects: Family<ActionLabel, Counter>,
    api_calls: Family<CallLabels, Counter>,
    ready: Family<IntegrationLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pms_sync");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by result: synced, failed, skipped (not due), disabled",
            reconciles.clone(),
        );
        let errors = Family::<ReasonLabel, Counter>::default();
        registry.register("reconcile_errors", "Failed reconciles by condition reason", errors.clone());
        // 10 ms .. ~20 min, like Flux's reconcile histogram: a sync of a large portfolio is slow.
        let duration = Histogram::new(exponential_buckets(0.01, 3.0, 12));
        registry.register("reconcile_duration_seconds", "Duration of reconciles that ran a sync", duration.clone());
        let objects = Family::<ActionLabel, Counter>::default();
        registry.register(
            "synced_objects",
            "Destination users by action: created, updated, deprovisioned, failed",
            objects.clone(),
        );
        let api_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "api_calls",
            "Outbound API calls by target (PMS provider or destination) and status class",
            api_calls.clone(),
        );
        // One series per integration (object names only, never resident data): bounded by the
        // number of PmsIntegrations, like kube-state-metrics' per-object series.
        let ready = Family::<IntegrationLabels, Gauge>::default();
        registry.register(
            "integration_ready",
            "1 when the integration's last sync succeeded, else 0; no series for disabled or deleted integrations",
            ready.clone(),
        );
        Self { registry: Arc::new(registry), reconciles, errors, duration, objects, api_calls, ready }
    }
}

impl Metrics {
    pub fn record_reconcile(&self, result: &'static str) {
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn record_error(&self, reason: crate::conditions::Reason) {
        self.errors.get_or_create(&ReasonLabel { reason: reason.as_str() }).inc();
    }

    pub fn observe_duration(&self, seconds: f64) {
        self.duration.observe(seconds);
    }

    pub fn record_objects(&self, action: &'static str, count: u64) {
        if count > 0 {
            self.objects.get_or_create(&ActionLabel { action }).inc_by(count);
        }
    }

    pub fn set_ready(&self, namespace: &str, name: &str, ready: bool) {
        let labels = IntegrationLabels { namespace: namespace.to_string(), name: name.to_string() };
        self.ready.get_or_create(&labels).set(i64::from(ready));
    }

    /// Drops an integration's readiness series (deleted or disabled: neither ready nor failing, so
    /// the shipped "not ready" alert must not fire for it).
    pub fn forget_integration(&self, namespace: &str, name: &str) {
        let labels = IntegrationLabels { namespace: namespace.to_string(), name: name.to_string() };
        self.ready.remove(&labels);
    }

    pub fn record_api_call(&self, target: &'static str, class: &'static str) {
        self.api_calls.get_or_create(&CallLabels { target, class }).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding into a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_with_bounded_labels() {
        let m = Metrics::default();
        m.record_reconcile("synced");
        m.record_objects("created", 3);
        m.record_api_call("buildium", "2xx");
        let text = m.encode();
        assert!(text.contains("pms_sync_reconciles_total{result=\"synced\"} 1"), "{text}");
        assert!(text.contains("pms_sync_synced_objects_total{action=\"created\"} 3"), "{text}");
        assert!(text.contains("pms_sync_api_calls_total{target=\"buildium\",class=\"2xx\"} 1"), "{text}");
    }
}

//! The record of the users an integration deactivated, and when (`domain::retention`): a state
//! map (`state_map`: a ConfigMap in the controller's own namespace, bound to the integration's UID,
//! swept with it). Whoever could write it could get a user deleted early, so it never lives where
//! a tenant can write.
//!
//! Read before every run of an integration with `deprovision.deleteAfter`; written after a run
//! that changed it. IDs and times only.

use super::state_map::{StateMap, state_name};
use crate::destination::DestinationError;
use crate::domain::Deactivations;

const DEACTIVATED: &str = "deactivated";
const SUFFIX: &str = "-deactivations";
const STATE_KIND: &str = "deactivations";

/// The ConfigMap holding the record of integration `namespace/integration`:
/// `<namespace>.<integration>-deactivations`.
pub fn config_map_name(namespace: &str, integration: &str) -> String {
    state_name(namespace, integration, SUFFIX)
}

/// Where one integration's record is kept.
pub struct DeactivationStore {
    map: StateMap,
}

impl DeactivationStore {
    /// The record of `namespace/integration` in `state_namespace`. `uid`: the integration's
    /// (`None` outside the controller: the `plan` command only reads).
    pub fn new(
        client: kube::Client,
        state_namespace: &str,
        namespace: &str,
        integration: &str,
        uid: Option<String>,
    ) -> Self {
        Self { map: StateMap::new(client, state_namespace, (namespace, integration), uid, (STATE_KIND, SUFFIX)) }
    }

    /// The record; empty when there is none, or when it belongs to an earlier integration of the
    /// same name: a new integration never inherits deletions.
    pub async fn load(&self) -> Result<Deactivations, DestinationError> {
        let Some(data) = self.map.read().await? else { return Ok(Deactivations::default()) };
        Deactivations::parse(data.get(DEACTIVATED).map(String::as_str).unwrap_or(""))
            .map_err(|e| self.map.failed("unreadable", e))
    }

    /// Saves `record`; `previous` is what [`load`](Self::load) returned: an unchanged record is no
    /// write.
    pub async fn save(&self, previous: &Deactivations, record: &Deactivations) -> Result<(), DestinationError> {
        if previous == record {
            return Ok(());
        }
        self.map.write([].into(), [(DEACTIVATED, record.render())].into()).await
    }
}

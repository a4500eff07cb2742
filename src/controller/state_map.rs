//! One integration's state in the cluster, of one kind (DOOR's identity map, the record of
//! deactivations): a ConfigMap in the **controller's own namespace** (`--state-namespace`), never
//! in the integration's.
//!
//! What these maps hold decides who gets a door or gets deleted, so whoever can write them could
//! make the controller act for them. A tenant who may write ConfigMaps in their own namespace
//! (common: it takes no Secret access) must not be able to: the maps live where only the controller
//! (and the cluster's administrators) can write, and the chart grants ConfigMap access there only.
//!
//! A ConfigMap cannot be owned across namespaces, so instead of garbage collection by owner
//! reference a sweeper ([`sweep`]) deletes maps whose integration is gone or was recreated. The
//! integration's UID is recorded in each map: a map whose UID differs is treated as absent, so a
//! new integration of the same name never inherits an old one's state. Written by server-side
//! apply. IDs only.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::PmsIntegration;
use crate::destination::DestinationError;

/// Label marking every state map, valued with its kind (for the sweeper and for listings).
pub const STATE_LABEL: &str = "pmssync.io/state";
const UID: &str = "integrationUid";
const NAMESPACE_ANNOTATION: &str = "pmssync.io/integration-namespace";
const NAME_ANNOTATION: &str = "pmssync.io/integration-name";

/// The name of one integration's state ConfigMap of one kind (`suffix`):
/// `<namespace>.<integration><suffix>` (a namespace has no dot, so the name is unique), shortened
/// with a digest when that would pass the 253-character limit of object names.
pub fn state_name(namespace: &str, integration: &str, suffix: &str) -> String {
    let name = format!("{namespace}.{integration}{suffix}");
    if name.len() <= 253 {
        return name;
    }
    let digest = hex(&Sha256::digest(format!("{namespace}/{integration}").as_bytes())[..6]);
    let mut head = format!("{namespace}.{integration}");
    head.truncate(253 - suffix.len() - 13);
    format!("{}-{digest}{suffix}", head.trim_end_matches(['.', '-']))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One integration's state map of one kind.
pub struct StateMap {
    api: Api<ConfigMap>,
    name: String,
    namespace: String,
    integration: String,
    /// The integration's UID: `None` outside the controller (such a map is only read, and cannot
    /// be checked to be this integration's).
    uid: Option<String>,
    kind: &'static str,
}

impl StateMap {
    /// The map of kind `kind` (named `<namespace>.<integration><suffix>`) of integration
    /// `namespace/integration`, kept in `state_namespace`.
    pub fn new(
        client: kube::Client,
        state_namespace: &str,
        (namespace, integration): (&str, &str),
        uid: Option<String>,
        (kind, suffix): (&'static str, &str),
    ) -> Self {
        Self {
            api: Api::namespaced(client, state_namespace),
            name: state_name(namespace, integration, suffix),
            namespace: namespace.to_string(),
            integration: integration.to_string(),
            uid,
            kind,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ConfigMaps of the state namespace.
    pub fn api(&self) -> &Api<ConfigMap> {
        &self.api
    }

    /// The map's data; `None` when there is no map, or when it belongs to an earlier integration
    /// of this name (deleted and recreated before the sweeper ran).
    pub async fn read(&self) -> Result<Option<BTreeMap<String, String>>, DestinationError> {
        let Some(map) = self.api.get_opt(&self.name).await.map_err(|e| self.failed("cannot read", e))? else {
            return Ok(None);
        };
        let data = map.data.unwrap_or_default();
        if let Some(uid) = &self.uid
            && data.get(UID) != Some(uid)
        {
            tracing::info!(map = %self.name, "state map belongs to an earlier integration of this name; ignored");
            return Ok(None);
        }
        Ok(Some(data))
    }

    /// Writes `data` (and the owner's UID), with `labels` beside the kind's.
    pub async fn write(
        &self,
        labels: BTreeMap<&str, &str>,
        mut data: BTreeMap<&str, String>,
    ) -> Result<(), DestinationError> {
        let Some(uid) = &self.uid else {
            return Err(self.failed("will not write", "no owning integration"));
        };
        data.insert(UID, uid.clone());
        let mut all_labels = BTreeMap::from([("app.kubernetes.io/managed-by", "pms-sync"), (STATE_LABEL, self.kind)]);
        all_labels.extend(labels);
        let body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name,
                "labels": all_labels,
                "annotations": {NAMESPACE_ANNOTATION: self.namespace, NAME_ANNOTATION: self.integration},
            },
            "data": data,
        });
        let params = PatchParams::apply("pms-sync").force();
        self.api.patch(&self.name, &params, &Patch::Apply(body)).await.map_err(|e| self.failed("cannot write", e))?;
        Ok(())
    }

    /// A failure naming this map.
    pub fn failed(&self, what: &str, error: impl std::fmt::Display) -> DestinationError {
        DestinationError::Store(format!("{what} ConfigMap {:?}: {error}", self.name))
    }
}

/// Deletes the state ConfigMaps in `state` (identity maps, deactivation records: every kind
/// [`STATE_LABEL`] marks) whose integration, which `in_scope` covers (by namespace and recorded
/// UID), no longer exists or was recreated (another UID). Asks the API server, not a watch cache, so that controllers
/// sharding one namespace by label never delete each other's maps. Returns how many were deleted.
///
/// Gone means confirmed gone: a successful list of the namespace's integrations (which proves
/// the kind is served there) that lacks the name, or shows it with another UID. A `get` answering
/// 404 is not enough: the API server answers so too while a CRD version is not served (during an
/// upgrade), and deleting every map then would leave every grant the maps record open for good.
/// A list that fails stops the sweep, deleting nothing more.
pub async fn sweep(
    client: &kube::Client,
    state: &str,
    in_scope: impl Fn(&str, Option<&str>) -> bool,
) -> Result<usize, kube::Error> {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), state);
    let listed = maps.list(&ListParams::default().labels(STATE_LABEL)).await?;
    let mut deleted = 0;
    // Each namespace's integrations (name → UID), listed once per sweep.
    let mut live: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for map in listed {
        let annotations = map.annotations();
        let (Some(namespace), Some(name)) = (annotations.get(NAMESPACE_ANNOTATION), annotations.get(NAME_ANNOTATION))
        else {
            continue;
        };
        let recorded_uid = map.data.as_ref().and_then(|d: &BTreeMap<String, String>| d.get(UID));
        if !in_scope(namespace, recorded_uid.map(String::as_str)) {
            continue;
        }
        if !live.contains_key(namespace.as_str()) {
            let integrations: Api<PmsIntegration> = Api::namespaced(client.clone(), namespace);
            let listed = integrations.list_metadata(&ListParams::default()).await?;
            let uids = listed.into_iter().map(|i| (i.name_any(), i.metadata.uid.unwrap_or_default())).collect();
            live.insert(namespace.clone(), uids);
        }
        let live_uid = live.get(namespace.as_str()).and_then(|uids| uids.get(name.as_str()));
        if live_uid.is_none() || live_uid != recorded_uid {
            match maps.delete(&map.name_any(), &DeleteParams::default()).await {
                Ok(_) => deleted += 1,
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_namespace_and_stay_within_the_limit() {
        const SUFFIX: &str = "-door-identities";
        assert_eq!(state_name("acme", "harbor", SUFFIX), "acme.harbor-door-identities");
        let long = "a".repeat(250);
        let name = state_name("acme", &long, SUFFIX);
        assert!(name.len() <= 253, "{}", name.len());
        assert!(name.ends_with(SUFFIX));
        assert_ne!(name, state_name("acme", &"a".repeat(249), SUFFIX));
        assert_ne!(name, state_name("acmf", &long, SUFFIX));
    }

    /// A kube client whose API server answers `answer(method, path)` (status, JSON body), and
    /// the requests it was sent.
    /// How the scripted API server answers a request (method, path): status and JSON body.
    type Answer = fn(&str, &str) -> (u16, serde_json::Value);

    fn scripted(answer: Answer) -> (kube::Client, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
            let (method, path) = (request.method().to_string(), request.uri().path().to_string());
            log.lock().unwrap().push(format!("{method} {path}"));
            let (status, body) = answer(&method, &path);
            let response = http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap();
            async move { Ok::<_, std::convert::Infallible>(response) }
        });
        (kube::Client::new(service, "default"), seen)
    }

    fn one_map() -> serde_json::Value {
        json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": [{
            "metadata": {"name": "acme.harbor-door-identities", "namespace": "pms-system",
                         "annotations": {NAMESPACE_ANNOTATION: "acme", NAME_ANNOTATION: "harbor"}},
            "data": {UID: "uid-1"},
        }]})
    }

    fn not_found() -> serde_json::Value {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
               "message": "the server could not find the requested resource"})
    }

    /// While the PmsIntegration kind is not served (a CRD version dropped during an upgrade),
    /// the API server answers 404 for it: that is no proof the integration is gone, and the
    /// sweep deletes nothing. (Before: every map was deleted, leaving their grants open.)
    #[tokio::test]
    async fn an_unserved_kind_deletes_no_state() {
        let (client, seen) = scripted(|_, path| match path {
            "/api/v1/namespaces/pms-system/configmaps" => (200, one_map()),
            _ => (404, not_found()),
        });
        assert!(sweep(&client, "pms-system", |_, _| true).await.is_err());
        let seen = seen.lock().unwrap();
        assert!(seen.iter().all(|r| !r.starts_with("DELETE")), "{seen:?}");
    }

    /// A successful list confirms it: an integration absent from it, or present with another UID
    /// (recreated), loses its map; one present with its UID keeps it.
    #[tokio::test]
    async fn a_listed_absence_or_another_uid_confirms_the_integration_is_gone() {
        fn listing(uid: &str) -> serde_json::Value {
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {},
                   "items": [{"apiVersion": "pmssync.io/v1alpha1", "kind": "PmsIntegration",
                              "metadata": {"name": "harbor", "namespace": "acme", "uid": uid}}]})
        }
        let answers: [Answer; 3] = [
            |method, path| match (method, path) {
                (_, "/api/v1/namespaces/pms-system/configmaps") => (200, one_map()),
                ("DELETE", _) => (200, json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
                _ => (200, listing("uid-2")),
            },
            |method, path| match (method, path) {
                (_, "/api/v1/namespaces/pms-system/configmaps") => (200, one_map()),
                ("DELETE", _) => (200, json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
                _ => (
                    200,
                    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "items": []}),
                ),
            },
            |_, path| match path {
                "/api/v1/namespaces/pms-system/configmaps" => (200, one_map()),
                _ => (200, listing("uid-1")),
            },
        ];
        for (answer, expected) in answers.into_iter().zip([1, 1, 0]) {
            let (client, seen) = scripted(answer);
            assert_eq!(
                sweep(&client, "pms-system", |_, _| true).await.unwrap(),
                expected,
                "{:?}",
                seen.lock().unwrap()
            );
        }
    }
}

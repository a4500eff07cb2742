//! Webhooks across hash shards (`--shard i/K`): a webhook reaches whichever shard the receiver
//! Service picks, and only one shard serves its integration. The shard that receives it, if it is
//! not that one, hands it over the way any user asks for a sync: it verifies the request, then sets
//! the integration's `reconcile.pmssync.io/requestedAt` annotation, which the serving shard watches.
//! Kubernetes carries the hand-over; the shards never talk to each other.
//!
//! Verification is the receiver's own: the integration is found by the `status.webhookPath` its
//! serving shard wrote (every shard watches every integration), the token is read from the
//! integration's webhook Secret, the path must derive from that token (a rotated token's old path
//! is refused), and the signature must match. At most [`RATE_PER_MINUTE`](crate::receiver::RATE_PER_MINUTE) hand-overs per
//! integration and minute. What is lost on the way is the narrowing to named properties: a
//! handed-over webhook is a requested sync of every property (a full read).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};

use super::Shard;
use super::validate::WEBHOOK_TOKEN_KEY;
use crate::api::{PmsIntegration, REQUESTED_AT_ANNOTATION};
use crate::receiver::{self, Refusal, Relay};

/// The hand-over of one shard's controller.
pub struct ShardRelay {
    client: Client,
    shard: Shard,
    /// The watch caches of the controller's scopes.
    stores: Mutex<Vec<Store<PmsIntegration>>>,
    /// Hand-overs per integration (`namespace/name`) in the last minute.
    handed: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl ShardRelay {
    pub fn new(client: Client, shard: Shard) -> Self {
        Self { client, shard, stores: Mutex::default(), handed: Mutex::default() }
    }

    /// Looks for integrations in `store` too.
    pub fn watch(&self, store: Store<PmsIntegration>) {
        self.stores.lock().unwrap_or_else(|e| e.into_inner()).push(store);
    }

    /// The integration another shard serves at `path`.
    fn find(&self, path: &str) -> Option<std::sync::Arc<PmsIntegration>> {
        let stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores.iter().flat_map(Store::state).find(|i| {
            let uid = i.metadata.uid.as_deref().unwrap_or_default();
            i.status.as_ref().and_then(|s| s.webhook_path.as_deref()) == Some(path) && !self.shard.owns(uid)
        })
    }

    /// Counts one hand-over for `key`, unless the minute's are spent.
    fn admit(&self, key: &str) -> Result<(), Refusal> {
        let mut handed = self.handed.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Integrations handed nothing for a minute are forgotten: the map stays bounded.
        handed.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60)));
        let times = handed.entry(key.to_string()).or_default();
        receiver::within_rate(times, now)?;
        times.push_back(now);
        Ok(())
    }

    async fn hand_over(
        &self,
        path: &str,
        signature: Option<&str>,
        body: &[u8],
        check: receiver::Verification,
    ) -> Result<String, Refusal> {
        let integration = self.find(path).ok_or(Refusal::UnknownPath)?;
        let (namespace, name) = (integration.namespace().unwrap_or_default(), integration.name_any());
        let secret = super::validate::webhook_secret_name(&integration.spec).ok_or(Refusal::UnknownPath)?;
        // Every attempt counts, before any Secret is read: a flood of forged requests at one
        // path costs the apiserver at most the minute's hand-overs, not a read each.
        let key = format!("{namespace}/{name}");
        self.admit(&key)?;
        let secrets = super::dereference::read(&self.client, &namespace, &[secret]).await.map_err(|error| {
            tracing::warn!(error = %error, "cannot read a webhook Secret to hand a webhook over");
            Refusal::Busy
        })?;
        let token = secrets.get(secret).and_then(|s| s.get(WEBHOOK_TOKEN_KEY).ok()).ok_or(Refusal::UnknownPath)?;
        if receiver::path(token, &namespace, &name) != path {
            return Err(Refusal::UnknownPath);
        }
        receiver::verify(token.as_bytes(), signature, body, check).ok_or(Refusal::BadSignature)?;
        let requested = format!("webhook-{}", jiff::Timestamp::now());
        let patch = serde_json::json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: requested}}});
        let api: Api<PmsIntegration> = Api::namespaced(self.client.clone(), &namespace);
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|error| {
            tracing::warn!(error = %error, integration = %key, "cannot hand a webhook over to the shard serving it");
            Refusal::Busy
        })?;
        Ok(key)
    }
}

impl Relay for ShardRelay {
    fn relay<'a>(
        &'a self,
        path: &'a str,
        signature: Option<&'a str>,
        body: &'a [u8],
        check: receiver::Verification,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<String, Refusal>> + Send + 'a>> {
        Box::pin(self.hand_over(path, signature, body, check))
    }
}

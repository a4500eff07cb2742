//! What integrations share when they share a vendor: its request budget, and the controller's
//! workers.
//!
//! - **Budgets per account.** A vendor counts requests per account (one set of credentials at one
//!   host), not per building: a company's 300 buildings on one Buildium key share its budget. Every
//!   integration of one account shares one account [`RateLimiter`], at the highest budget any of
//!   them states (`maxRequestsPerMinute`, else the vendor's default); each integration also has its
//!   own share of it at the budget it states. A low budget lowers only its own integration's
//!   share: one integration stating 1 a minute never slows its neighbours to 1 a minute.
//! - **Workers per vendor host, shared by namespace.** A sync holds a worker for as long as its
//!   vendor takes to answer. A slow or rate-limited host could otherwise take every worker, and
//!   integrations of other vendors would wait behind it. [`HostSlots`] lets a host hold at most a
//!   fixed number of running syncs, and each namespace that used the host lately at most its share
//!   of them (all of them while it is the only one), so a noisy tenant cannot hold every slot of a
//!   host its neighbours need; a sync that finds its host (or its share) full is requeued a few
//!   seconds later instead of waiting inside a worker.
//!
//! Accounts are named by a digest of the system, base URL and credentials: the credentials are
//! never held here in the clear, and the digest is never logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::credentials::Credentials;
use crate::http::{RateLimit, RateLimiter};

/// The account a request budget belongs to: `system` (`pms`, `door`) at `base_url` with
/// `credentials`, as a digest.
pub fn account(system: &str, base_url: &str, credentials: &Credentials) -> String {
    let mut hasher = Sha256::new();
    for part in [system, base_url.trim_end_matches('/')] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    credentials.digest_into(&mut hasher);
    let digest = hasher.finalize();
    format!("{system}:{}", super::state_map::hex(&digest[..12]))
}

/// The shared limiters, by account.
#[derive(Default)]
pub struct Budgets {
    accounts: Mutex<HashMap<String, Account>>,
}

struct Account {
    limiter: Arc<RateLimiter>,
    /// The budget each integration (`namespace/name`) using the account states, and its share.
    claims: HashMap<String, (RateLimit, Arc<RateLimiter>)>,
}

impl Account {
    /// The highest rate any claim states.
    fn highest(&self) -> Option<RateLimit> {
        let rate = |l: &RateLimit| f64::from(l.calls) / l.per.as_secs_f64().max(1e-3);
        self.claims.values().map(|(limit, _)| *limit).max_by(|a, b| rate(a).total_cmp(&rate(b)))
    }

    fn follow_claims(&self) {
        if let Some(highest) = self.highest().filter(|l| *l != self.limiter.limit()) {
            self.limiter.set_limit(highest);
        }
    }
}

impl Budgets {
    /// The limiter of `integration` on `account`: its own share at `limit`, within the account's
    /// limiter. An integration uses one account per system: its claim on any other account of the
    /// same system (credentials rotated, base URL changed) is dropped.
    pub fn claim(&self, account: &str, integration: &str, limit: RateLimit) -> Arc<RateLimiter> {
        let system = account.split(':').next().unwrap_or_default();
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.retain(|key, other| {
            if key != account && key.split(':').next() == Some(system) {
                other.claims.remove(integration);
            }
            !other.claims.is_empty() || key == account
        });
        let entry = accounts
            .entry(account.to_string())
            .or_insert_with(|| Account { limiter: Arc::new(RateLimiter::new(limit)), claims: HashMap::new() });
        // The same share from run to run, so that back-to-back runs keep its spacing.
        let share = match entry.claims.get(integration) {
            Some((stated, share)) if *stated == limit => share.clone(),
            _ => Arc::new(RateLimiter::share_of(entry.limiter.clone(), limit)),
        };
        entry.claims.insert(integration.to_string(), (limit, share.clone()));
        entry.follow_claims();
        share
    }

    /// Drops the claims of integrations that `gone` says no longer exist; an account nobody
    /// claims any more is forgotten once its window is idle (until then, a recreated integration
    /// must still see the requests just sent).
    pub fn release(&self, gone: impl Fn(&str) -> bool) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.retain(|_, account| {
            account.claims.retain(|integration, _| !gone(integration));
            account.follow_claims();
            !account.claims.is_empty() || !account.limiter.idle()
        });
    }

    /// Accounts held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Running syncs per vendor host, at most `per_host` each, and per namespace at most its share.
pub struct HostSlots {
    per_host: usize,
    taken: Mutex<HashMap<String, HostUse>>,
}

/// How long a namespace that asked for a host counts among those sharing it.
const SHARING: Duration = Duration::from_secs(600);

#[derive(Default)]
struct HostUse {
    running: usize,
    by_namespace: HashMap<String, usize>,
    /// The namespaces that asked for this host lately, with when they last did.
    asked: HashMap<String, Instant>,
}

/// One running sync's place at its host; freed when dropped.
pub struct Slot<'a> {
    slots: &'a HostSlots,
    host: String,
    namespace: String,
}

impl HostSlots {
    pub fn new(per_host: usize) -> Self {
        Self { per_host: per_host.max(1), taken: Mutex::default() }
    }

    /// A place for one more sync of `namespace` at `host`, unless `per_host` syncs already run
    /// there or the namespace runs its share: `per_host` divided among the namespaces that asked
    /// for the host in the last ten minutes (at least one each; all of it for a lone namespace).
    pub fn try_take(&self, host: &str, namespace: &str) -> Option<Slot<'_>> {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let usage = taken.entry(host.to_string()).or_default();
        usage.asked.retain(|_, at| now.duration_since(*at) < SHARING);
        usage.asked.insert(namespace.to_string(), now);
        let share = (self.per_host / usage.asked.len()).max(1);
        let mine = usage.by_namespace.get(namespace).copied().unwrap_or(0);
        if usage.running >= self.per_host || mine >= share {
            return None;
        }
        usage.running += 1;
        *usage.by_namespace.entry(namespace.to_string()).or_default() += 1;
        Some(Slot { slots: self, host: host.to_string(), namespace: namespace.to_string() })
    }

    /// Syncs running at `host`.
    pub fn running(&self, host: &str) -> usize {
        self.taken.lock().unwrap_or_else(|e| e.into_inner()).get(host).map_or(0, |u| u.running)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut taken = self.slots.taken.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(usage) = taken.get_mut(&self.host) {
            usage.running = usage.running.saturating_sub(1);
            if let Some(mine) = usage.by_namespace.get_mut(&self.namespace) {
                *mine = mine.saturating_sub(1);
                if *mine == 0 {
                    usage.by_namespace.remove(&self.namespace);
                }
            }
            // The entry (and who shares the host) stays while anyone asked lately; bounded by
            // the hosts in use.
            if usage.running == 0 && usage.asked.is_empty() {
                taken.remove(&self.host);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::SecretData;
    use std::collections::BTreeMap;

    fn credentials(secret: &str) -> Credentials {
        let values =
            BTreeMap::from([("clientId".to_string(), "id".to_string()), ("clientSecret".into(), secret.into())]);
        SecretData::new("s", values).take(&["clientId", "clientSecret"]).unwrap()
    }

    #[test]
    fn an_account_is_its_system_host_and_credentials() {
        let a = account("pms", "https://api.buildium.com", &credentials("one"));
        assert_eq!(a, account("pms", "https://api.buildium.com/", &credentials("one")));
        assert_ne!(a, account("pms", "https://api.buildium.com", &credentials("two")));
        assert_ne!(a, account("pms", "https://sandbox.buildium.com", &credentials("one")));
        assert_ne!(a, account("door", "https://api.buildium.com", &credentials("one")));
        assert!(!a.contains("one"), "no credential in the clear: {a}");
    }

    #[test]
    fn integrations_of_one_account_share_its_limiter_each_at_its_own_budget() {
        let budgets = Budgets::default();
        let a = budgets.claim("pms:a", "ns/one", RateLimit::per_minute(300));
        let b = budgets.claim("pms:a", "ns/two", RateLimit::per_minute(100));
        assert!(!Arc::ptr_eq(&a, &b), "each integration has its own share");
        assert_eq!((a.limit(), b.limit()), (RateLimit::per_minute(300), RateLimit::per_minute(100)));
        assert!(Arc::ptr_eq(&a, &budgets.claim("pms:a", "ns/one", RateLimit::per_minute(300))), "kept across runs");
        let other = budgets.claim("pms:b", "ns/three", RateLimit::per_minute(300));
        assert!(!Arc::ptr_eq(&a, &other), "another account has its own budget");
        assert_eq!(budgets.len(), 2);
        budgets.release(|integration| integration == "ns/two");
        assert_eq!(budgets.len(), 2);
    }

    /// One integration's budget of 1 a minute slows that integration only: its neighbour on the
    /// same account keeps its own pace, within the account's.
    #[tokio::test(start_paused = true)]
    async fn a_low_budget_lowers_only_its_own_share() {
        let budgets = Budgets::default();
        let slow = budgets.claim("pms:a", "ns/slow", RateLimit::per_minute(1));
        let fast = budgets.claim("pms:a", "ns/fast", RateLimit::per_minute(60));
        let start = tokio::time::Instant::now();
        slow.acquire().await;
        let slow_again = tokio::spawn(async move { slow.acquire().await });
        for _ in 0..5 {
            fast.acquire().await;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(6), "{:?}", start.elapsed());
        slow_again.await.unwrap();
        assert!(start.elapsed() >= std::time::Duration::from_secs(60), "the slow one waited its minute");
    }

    #[test]
    fn an_integration_moving_to_another_account_leaves_the_old_one() {
        let budgets = Budgets::default();
        budgets.claim("pms:old", "ns/one", RateLimit::per_minute(60));
        budgets.claim("door:x", "ns/one", RateLimit::per_minute(60));
        budgets.claim("pms:new", "ns/one", RateLimit::per_minute(60));
        assert_eq!(budgets.len(), 2, "the old PMS account is dropped, the DOOR one kept");
        budgets.release(|_| true);
        assert!(budgets.is_empty(), "unclaimed, idle accounts are forgotten");
    }

    #[tokio::test]
    async fn an_account_used_in_its_window_outlives_its_last_claim() {
        let budgets = Budgets::default();
        budgets.claim("pms:a", "ns/one", RateLimit::per_minute(1)).acquire().await;
        budgets.release(|_| true);
        assert_eq!(budgets.len(), 1, "a recreated integration must see the request just sent");
    }

    #[test]
    fn a_host_runs_at_most_its_share_of_syncs() {
        let slots = HostSlots::new(2);
        let first = slots.try_take("api.buildium.com", "a");
        let second = slots.try_take("api.buildium.com", "a");
        assert!(first.is_some() && second.is_some(), "a lone namespace gets the whole host");
        assert!(slots.try_take("api.buildium.com", "a").is_none(), "the host is full");
        assert!(slots.try_take("api.entrata.com", "a").is_some(), "other hosts are not held up");
        drop(first);
        assert_eq!(slots.running("api.buildium.com"), 1);
        assert!(slots.try_take("api.buildium.com", "a").is_some());
    }

    /// Once another namespace asks for the host, each gets its share: a noisy namespace holding
    /// the host cannot take the slot its neighbour needs.
    #[test]
    fn namespaces_sharing_a_host_each_get_their_share() {
        let slots = HostSlots::new(2);
        let noisy = slots.try_take("api.buildium.com", "noisy");
        assert!(noisy.is_some());
        let victim = slots.try_take("api.buildium.com", "victim");
        assert!(victim.is_some(), "the neighbour gets the other slot");
        assert!(slots.try_take("api.buildium.com", "noisy").is_none(), "beyond its share");
        drop(victim);
        assert!(slots.try_take("api.buildium.com", "noisy").is_none(), "still beyond its share while shared");
        let again = slots.try_take("api.buildium.com", "victim");
        assert!(again.is_some());
        let four = HostSlots::new(4);
        let held: Vec<_> = ["a", "a", "b", "b"].iter().filter_map(|ns| four.try_take("h", ns)).collect();
        assert_eq!(held.len(), 4, "two each of four");
        assert!(four.try_take("h", "a").is_none());
    }
}

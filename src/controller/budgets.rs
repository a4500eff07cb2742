//! What integrations share when they share a vendor: its request budget, and the controller's
//! workers.
//!
//! - **Budgets per account.** A vendor counts requests per account (one set of credentials at one
//!   host), not per building: a company's 300 buildings on one Buildium key share its budget. Every
//!   integration of one account gets the same [`RateLimiter`]; its limit is the lowest that any of
//!   them states (`maxRequestsPerMinute`, else the vendor's default), so no integration's setting is
//!   exceeded by its neighbours.
//! - **Workers per vendor host.** A sync holds a worker for as long as its vendor takes to answer. A
//!   slow or rate-limited host could otherwise take every worker, and integrations of other
//!   vendors would wait behind it. [`HostSlots`] lets a host hold at most a fixed number of
//!   running syncs; a sync that finds its host full is requeued a few seconds later instead of
//!   waiting inside a worker.
//!
//! Accounts are named by a digest of the system, base URL and credentials: the credentials are
//! never held here in the clear, and the digest is never logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// The budget each integration (`namespace/name`) using the account states.
    claims: HashMap<String, RateLimit>,
}

impl Account {
    /// The lowest rate any claim states.
    fn lowest(&self) -> Option<RateLimit> {
        let rate = |l: &RateLimit| f64::from(l.calls) / l.per.as_secs_f64().max(1e-3);
        self.claims.values().copied().min_by(|a, b| rate(a).total_cmp(&rate(b)))
    }
}

impl Budgets {
    /// The limiter of `account` for `integration`, which states `limit`. An integration uses one
    /// account per system: its claim on any other account of the same system (credentials
    /// rotated, base URL changed) is dropped.
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
        entry.claims.insert(integration.to_string(), limit);
        if let Some(lowest) = entry.lowest().filter(|l| *l != entry.limiter.limit()) {
            entry.limiter.set_limit(lowest);
        }
        entry.limiter.clone()
    }

    /// Drops the claims of integrations that `gone` says no longer exist; an account nobody
    /// claims any more is forgotten once its window is idle (until then, a recreated integration
    /// must still see the requests just sent).
    pub fn release(&self, gone: impl Fn(&str) -> bool) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.retain(|_, account| {
            account.claims.retain(|integration, _| !gone(integration));
            if let Some(lowest) = account.lowest().filter(|l| *l != account.limiter.limit()) {
                account.limiter.set_limit(lowest);
            }
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

/// Running syncs per vendor host, at most `per_host` each.
pub struct HostSlots {
    per_host: usize,
    taken: Mutex<HashMap<String, usize>>,
}

/// One running sync's place at its host; freed when dropped.
pub struct Slot<'a> {
    slots: &'a HostSlots,
    host: String,
}

impl HostSlots {
    pub fn new(per_host: usize) -> Self {
        Self { per_host: per_host.max(1), taken: Mutex::default() }
    }

    /// A place for one more sync at `host`, unless `per_host` syncs already run there.
    pub fn try_take(&self, host: &str) -> Option<Slot<'_>> {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let running = taken.entry(host.to_string()).or_default();
        if *running >= self.per_host {
            return None;
        }
        *running += 1;
        Some(Slot { slots: self, host: host.to_string() })
    }

    /// Syncs running at `host`.
    pub fn running(&self, host: &str) -> usize {
        self.taken.lock().unwrap_or_else(|e| e.into_inner()).get(host).copied().unwrap_or(0)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut taken = self.slots.taken.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = taken.get_mut(&self.host) {
            *running = running.saturating_sub(1);
            if *running == 0 {
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
    fn integrations_of_one_account_share_one_limiter_at_the_lowest_budget() {
        let budgets = Budgets::default();
        let a = budgets.claim("pms:a", "ns/one", RateLimit::per_minute(300));
        let b = budgets.claim("pms:a", "ns/two", RateLimit::per_minute(100));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.limit(), RateLimit::per_minute(100));
        let other = budgets.claim("pms:b", "ns/three", RateLimit::per_minute(300));
        assert!(!Arc::ptr_eq(&a, &other), "another account has its own budget");

        // The lower claim goes away: the account's budget rises to the remaining one.
        budgets.release(|integration| integration == "ns/two");
        assert_eq!(a.limit(), RateLimit::per_minute(300));
        assert_eq!(budgets.len(), 2);
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
        let first = slots.try_take("api.buildium.com");
        let second = slots.try_take("api.buildium.com");
        assert!(first.is_some() && second.is_some());
        assert!(slots.try_take("api.buildium.com").is_none(), "the host is full");
        assert!(slots.try_take("api.entrata.com").is_some(), "other hosts are not held up");
        drop(first);
        assert_eq!(slots.running("api.buildium.com"), 1);
        assert!(slots.try_take("api.buildium.com").is_some());
    }
}

//! Splitting the integrations between K controllers without labelling them: controller `i` of `K`
//! (`--shard i/K`) serves the integrations whose UID hashes to `i` modulo `K`.
//!
//! Every controller watches every integration (the cache is small: specs and statuses) and skips
//! those of other shards before reading anything for them, so the K controllers together serve each
//! integration exactly once, and an integration never moves between shards while K is unchanged
//! (a UID never changes). Changing K moves integrations: stop the old shards before starting the
//! new ones, as with any change of who serves what (each shard still holds its own Lease).
//!
//! The hash is FNV-1a over the UID's bytes: simple, stable across versions and platforms (never
//! Rust's `DefaultHasher`, which may change), and spreads UUIDs evenly.

use std::fmt;
use std::str::FromStr;

/// FNV-1a of `key`: stable across releases and machines.
pub fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Shard `index` of `count` (`0 <= index < count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether the integration with this UID is this shard's.
    pub fn owns(&self, uid: &str) -> bool {
        fnv1a(uid) % u64::from(self.count) == u64::from(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `i/K`: shard `i` (counted from 0) of `K`, with `K` from 1 to 1024.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("{text:?} is not a shard: expected i/K, e.g. 0/3 (shards counted from 0, K from 1 to 1024)");
        let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (index.parse().map_err(|_| bad())?, count.parse().map_err(|_| bad())?);
        if !(1..=1024).contains(&count) || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shards_parse_and_refuse_what_they_cannot_mean() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!("0/1".parse::<Shard>().unwrap().to_string(), "0/1");
        for bad in ["3/3", "1/0", "-1/3", "a/3", "1", "", "0/2000", "1/3/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_hash_is_stable_across_releases() {
        // Changing these values moves integrations between shards on upgrade.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn uuids_spread_evenly_over_shards() {
        let count = 4;
        let mut per_shard = [0usize; 4];
        for i in 0..4000u32 {
            let uid = format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                i.wrapping_mul(2_654_435_761),
                i % 65536,
                i % 4096,
                (i * 7) % 4096,
                u64::from(i) * 31
            );
            let owner = (0..count).filter(|&index| Shard { index, count }.owns(&uid)).collect::<Vec<_>>();
            assert_eq!(owner.len(), 1, "exactly one shard serves {uid}");
            per_shard[owner[0] as usize] += 1;
        }
        assert!(per_shard.iter().all(|n| (800..1200).contains(n)), "{per_shard:?}");
    }

    proptest! {
        #[test]
        fn every_uid_has_exactly_one_shard(uid in ".{0,64}", count in 1u32..64) {
            let owners = (0..count).filter(|&index| Shard { index, count }.owns(&uid)).count();
            prop_assert_eq!(owners, 1);
        }
    }
}

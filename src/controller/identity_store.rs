//! The DOOR identity map of one integration: a state map (`state_map`: a ConfigMap in the
//! controller's own namespace, bound to the integration's UID, swept with it).
//!
//! The map decides which DOOR user a resident is and which grants are ours to revoke, so whoever
//! can write it can make the controller grant a unit door to an address of their choosing, or
//! revoke someone's access: it never lives where a tenant can write.
//!
//! IDs only (see `destination::door::mapping`); written by server-side apply, only when changed.
//!
//! **Large buildings.** A ConfigMap holds at most 1 MiB, about 8,000 residents' lines. A larger
//! map is split over *parts*: ConfigMaps named `<map>-<generation>-<n>`, each at most
//! [`PART_BYTES`], where the generation is a digest of the whole text. The main map then names the
//! generation and the number of parts instead of holding the lines. Crash safety is the single
//! map's: the parts of a new generation are written first and the main map last, so until that one
//! write the old generation (whose parts are still there) is the map; only after it are the old
//! parts deleted. A reader checks that the parts it joined have the digest the main map names: a
//! missing, foreign or mismatched part makes the map unreadable (the run fails, as with any
//! unreadable map), never silently smaller.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams};
use sha2::{Digest, Sha256};

use super::state_map::{STATE_LABEL, StateMap, hex, state_name};
use crate::destination::DestinationError;
use crate::destination::door::mapping::Others;
use crate::destination::door::{Mapping, MappingStore};

const IDENTITIES: &str = "identities";
const GRANTER: &str = "granter";
/// `<generation> <count>` when the lines are in parts.
const PARTS: &str = "parts";
const SUFFIX: &str = "-door-identities";
const STATE_KIND: &str = "door-identities";
const PART_KIND: &str = "door-identities-part";
/// Label naming the DOOR building a map grants in (a digest of the API base URL and the building
/// UUID: the same UUID on another DOOR environment is another building): the maps of one building
/// are read together.
const BUILDING_LABEL: &str = "pmssync.io/door-building";
/// Label of a part, naming the map it belongs to ([`map_key`]).
const MAP_LABEL: &str = "pmssync.io/identity-map";
/// Label of a part, naming its generation.
const GENERATION_LABEL: &str = "pmssync.io/identity-generation";
/// Data key of a part: its place among the generation's parts, from 0.
const INDEX: &str = "index";

/// Largest text kept in one ConfigMap (main or part): half of the API's 1 MiB limit, leaving room
/// for metadata and any growth of a line.
pub const PART_BYTES: usize = 512 * 1024;

/// The [`BUILDING_LABEL`] value of `building` at `base_url`.
pub fn building_key(base_url: &str, building: &str) -> String {
    let digest = Sha256::digest(format!("{}\n{building}", base_url.trim_end_matches('/')).as_bytes());
    hex(&digest[..16])
}

/// The ConfigMap holding the map of integration `namespace/integration`:
/// `<namespace>.<integration>-door-identities`.
pub fn config_map_name(namespace: &str, integration: &str) -> String {
    state_name(namespace, integration, SUFFIX)
}

/// The [`MAP_LABEL`] of the parts of the main map named `name`.
fn map_key(name: &str) -> String {
    hex(&Sha256::digest(name.as_bytes())[..12])
}

/// The generation of a rendered map: a digest of its text.
fn generation(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes())[..8])
}

/// `text` cut after whole lines into pieces of at most `limit` bytes (a longer line is a piece of
/// its own).
fn split_lines(text: &str, limit: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        if end > start && end - start + line.len() > limit {
            pieces.push(&text[start..end]);
            start = end;
        }
        end += line.len();
    }
    if end > start {
        pieces.push(&text[start..end]);
    }
    pieces
}

/// Where one integration's map is kept.
pub struct ConfigMapStore {
    map: StateMap,
    client: kube::Client,
    state_namespace: String,
    namespace: String,
    integration: String,
    uid: Option<String>,
    /// The [`building_key`] of the DOOR building the integration grants in.
    building: String,
    /// [`PART_BYTES`], smaller in tests.
    part_bytes: usize,
}

impl ConfigMapStore {
    /// The map of `namespace/integration`, granting in the DOOR building of [`building_key`]
    /// `building`, kept in `state_namespace`. `uid`: the integration's (`None` outside the
    /// controller: such a store is only read).
    pub fn new(
        client: kube::Client,
        state_namespace: &str,
        namespace: &str,
        integration: &str,
        uid: Option<String>,
        building: &str,
    ) -> Self {
        let map =
            StateMap::new(client.clone(), state_namespace, (namespace, integration), uid.clone(), (STATE_KIND, SUFFIX));
        Self {
            map,
            client,
            state_namespace: state_namespace.to_string(),
            namespace: namespace.to_string(),
            integration: integration.to_string(),
            uid,
            building: building.to_string(),
            part_bytes: PART_BYTES,
        }
    }

    /// Splits maps into parts of at most `bytes` (tests: large maps without large data).
    pub fn with_part_bytes(mut self, bytes: usize) -> Self {
        self.part_bytes = bytes.max(1);
        self
    }

    /// Part `index` of `generation`.
    fn part(&self, generation: &str, index: usize) -> StateMap {
        let suffix = format!("{SUFFIX}-{generation}-{index}");
        let id = (self.namespace.as_str(), self.integration.as_str());
        StateMap::new(self.client.clone(), &self.state_namespace, id, self.uid.clone(), (PART_KIND, &suffix))
    }

    /// Writes the parts of `text` (generation `generation`); returns how many.
    async fn write_parts(&self, generation: &str, text: &str) -> Result<usize, DestinationError> {
        let pieces = split_lines(text, self.part_bytes);
        let key = map_key(self.map.name());
        for (index, piece) in pieces.iter().enumerate() {
            let labels =
                [(BUILDING_LABEL, self.building.as_str()), (MAP_LABEL, key.as_str()), (GENERATION_LABEL, generation)];
            let data = [(IDENTITIES, piece.to_string()), (INDEX, index.to_string())];
            self.part(generation, index).write(labels.into(), data.into()).await?;
        }
        Ok(pieces.len())
    }

    /// Deletes this map's parts other than those of `keep` (`<generation>`, or none).
    async fn delete_parts_except(&self, keep: Option<&str>) -> Result<(), DestinationError> {
        let selector = format!("{STATE_LABEL}={PART_KIND},{MAP_LABEL}={}", map_key(self.map.name()));
        let listed = self
            .map
            .api()
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| self.map.failed("cannot list the parts of", e))?;
        for part in listed {
            let name = part.name_any();
            if keep.is_some() && part.labels().get(GENERATION_LABEL).map(String::as_str) == keep {
                continue;
            }
            match self.map.api().delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(self.map.failed("cannot delete an old part of", e)),
            }
        }
        Ok(())
    }

    /// The text of a map in parts, checked against the generation the main map names.
    async fn read_parts(&self, parts: &str) -> Result<String, DestinationError> {
        let unreadable = |why: String| self.map.failed("unreadable", why);
        let (generation, count) = parts.split_once(' ').ok_or_else(|| unreadable(format!("parts {parts:?}")))?;
        let count: usize = count.parse().map_err(|_| unreadable(format!("parts {parts:?}")))?;
        let mut text = String::new();
        for index in 0..count {
            let part = self.part(generation, index);
            let data = part.read().await?.ok_or_else(|| unreadable(format!("part {} is missing", part.name())))?;
            text.push_str(data.get(IDENTITIES).map(String::as_str).unwrap_or(""));
        }
        if self::generation(&text) != generation {
            return Err(unreadable(format!("its {count} parts do not add up to generation {generation}")));
        }
        Ok(text)
    }
}

/// Joins the listed maps (main maps and parts, of one building) into each main map's text. A
/// map whose parts do not add up to its generation is left out.
fn join_listed(maps: Vec<ConfigMap>) -> Vec<String> {
    let (parts, mains): (Vec<ConfigMap>, Vec<ConfigMap>) =
        maps.into_iter().partition(|m| m.labels().get(STATE_LABEL).map(String::as_str) == Some(PART_KIND));
    // (map, generation, index) → text
    let mut pieces: BTreeMap<(String, String, usize), String> = BTreeMap::new();
    for part in parts {
        let labels = part.labels();
        let (Some(map), Some(generation)) = (labels.get(MAP_LABEL).cloned(), labels.get(GENERATION_LABEL).cloned())
        else {
            continue;
        };
        let mut data = part.data.unwrap_or_default();
        let Some(index) = data.get(INDEX).and_then(|i| i.parse().ok()) else { continue };
        pieces.insert((map, generation, index), data.remove(IDENTITIES).unwrap_or_default());
    }
    let mut texts = Vec::new();
    for main in mains {
        let key = map_key(&main.name_any());
        let mut data = main.data.unwrap_or_default();
        let Some(parts_of) = data.remove(PARTS) else {
            texts.push(data.remove(IDENTITIES).unwrap_or_default());
            continue;
        };
        let Some((generation, count)) = parts_of.split_once(' ') else { continue };
        let count: usize = count.parse().unwrap_or(0);
        let text: Option<String> =
            (0..count).map(|i| pieces.get(&(key.clone(), generation.to_string(), i)).cloned()).collect();
        if let Some(text) = text.filter(|t| self::generation(t) == generation) {
            texts.push(text);
        }
    }
    texts
}

impl MappingStore for ConfigMapStore {
    fn load(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<Mapping>, DestinationError>> + Send + '_>> {
        Box::pin(async move {
            // Absent, or an earlier integration's: rebuilt from DOOR like a lost one.
            let Some(data) = self.map.read().await? else { return Ok(None) };
            let text = match data.get(PARTS) {
                Some(parts) => self.read_parts(parts).await?,
                None => data.get(IDENTITIES).cloned().unwrap_or_default(),
            };
            Mapping::parse(data.get(GRANTER).map(String::as_str), &text)
                .map(Some)
                .map_err(|e| self.map.failed("unreadable", e))
        })
    }

    fn save<'a>(
        &'a self,
        mapping: &'a Mapping,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), DestinationError>> + Send + 'a>> {
        Box::pin(async move {
            let text = mapping.render();
            let granter = (GRANTER, mapping.granter.clone().unwrap_or_default());
            let labels = [(BUILDING_LABEL, self.building.as_str())].into();
            if text.len() <= self.part_bytes {
                self.map.write(labels, [(IDENTITIES, text), granter].into()).await?;
                return self.delete_parts_except(None).await;
            }
            // New parts first, the main map (the commit) last, old parts after it.
            let generation = generation(&text);
            let count = self.write_parts(&generation, &text).await?;
            self.map.write(labels, [(PARTS, format!("{generation} {count}")), granter].into()).await?;
            self.delete_parts_except(Some(&generation)).await
        })
    }

    fn others(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<Others, DestinationError>> + Send + '_>> {
        Box::pin(async move {
            let selector = format!("{STATE_LABEL} in ({STATE_KIND},{PART_KIND}),{BUILDING_LABEL}={}", self.building);
            let listed = self
                .map
                .api()
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| DestinationError::Store(format!("cannot list identity maps: {e}")))?;
            let own = map_key(self.map.name());
            let theirs = listed
                .into_iter()
                .filter(|m| m.name_any() != self.map.name() && m.labels().get(MAP_LABEL) != Some(&own));
            let mut others = Others::new();
            for text in join_listed(theirs.collect()) {
                // Another integration's unreadable map cannot be honoured: a sync of ours failing
                // over it would be worse than that integration's own run reporting it.
                let Ok(mapping) = Mapping::parse(None, &text) else { continue };
                for entry in mapping.entries.into_values() {
                    others.entry(entry.user).or_default().extend(entry.grants);
                }
            }
            Ok(others)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_named_after_its_integration() {
        assert_eq!(config_map_name("acme", "harbor"), "acme.harbor-door-identities");
    }

    #[test]
    fn maps_split_after_whole_lines_within_the_limit() {
        let text = "a/1 u1 g1\nb/2 u2 g2\nc/3 u3 g3\n";
        let pieces = split_lines(text, 20);
        assert_eq!(pieces, ["a/1 u1 g1\nb/2 u2 g2\n", "c/3 u3 g3\n"]);
        assert_eq!(pieces.concat(), text);
        assert_eq!(split_lines(text, 4), ["a/1 u1 g1\n", "b/2 u2 g2\n", "c/3 u3 g3\n"], "a long line alone");
        assert!(split_lines("", 10).is_empty());
    }

    #[test]
    fn a_listed_map_in_parts_is_joined_only_when_its_parts_add_up() {
        let map = |name: &str, labels: serde_json::Value, data: &[(&str, &str)]| -> ConfigMap {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": labels},
                "data": data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            }))
            .unwrap()
        };
        let (one, two) = ("a/1 u1 g1\n", "b/2 u2 g2\n");
        let g = generation(&format!("{one}{two}"));
        let part = |of: &str, index: &str, text: &str| {
            let labels = serde_json::json!({STATE_LABEL: PART_KIND, MAP_LABEL: map_key(of), GENERATION_LABEL: g});
            map(&format!("{of}-{g}-{index}"), labels, &[(IDENTITIES, text), (INDEX, index)])
        };
        let main = serde_json::json!({STATE_LABEL: STATE_KIND});
        let listed = vec![
            part("ns.x-door-identities", "1", two),
            map("ns.x-door-identities", main.clone(), &[(PARTS, &format!("{g} 2"))]),
            part("ns.x-door-identities", "0", one),
            map("ns.y-door-identities", main.clone(), &[(IDENTITIES, "c/3 u3 g3\n")]),
            map("ns.z-door-identities", main, &[(PARTS, &format!("{g} 2"))]),
            part("ns.z-door-identities", "0", one),
        ];
        let texts = join_listed(listed);
        assert_eq!(texts, [format!("{one}{two}"), "c/3 u3 g3\n".to_string()], "z's second part is missing");
    }
}

//! Large DOOR buildings (issue 17): a 20,000-resident identity map kept in parts on the real
//! apiserver, with the single map's crash safety: a new generation's parts are only the map once
//! the main map names them.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use pms_sync::controller::identity_store::{ConfigMapStore, PART_BYTES, building_key, config_map_name};
use pms_sync::destination::door::mapping::Entry;
use pms_sync::destination::door::{Mapping, MappingStore};
use support::STATE_NAMESPACE;

fn uuid(kind: u32, i: u32) -> String {
    format!("{kind:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", i % 0xffff, i % 0xfff, (i / 7) % 0xfff, u64::from(i) * 7919)
}

/// `residents` residents in properties of 1,000, each with a DOOR user, a unit door and a key.
fn building(residents: u32) -> Mapping {
    let entries = (0..residents)
        .map(|i| {
            let grants = BTreeSet::from([uuid(2, i / 2), uuid(3, i)]);
            (format!("{}/{i}", 1000 + i / 1000), Entry { user: uuid(1, i), grants })
        })
        .collect();
    Mapping { granter: Some(uuid(9, 0)), entries }
}

/// The parts of `namespace`'s maps, by name.
async fn parts(maps: &Api<ConfigMap>, namespace: &str) -> BTreeMap<String, ConfigMap> {
    let listed = maps.list(&ListParams::default().labels("pmssync.io/state=door-identities-part")).await.unwrap();
    listed
        .into_iter()
        .filter(|m| m.annotations().get("pmssync.io/integration-namespace").map(String::as_str) == Some(namespace))
        .map(|m| (m.name_any(), m))
        .collect()
}

#[tokio::test]
async fn a_twenty_thousand_resident_map_is_kept_in_parts_and_a_crash_between_them_loses_nothing() {
    let client = support::client().await;
    let ns = support::namespace(&client, "idmap").await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), STATE_NAMESPACE);
    let building_id = building_key("https://door.example", "b7e1c0de-0000-4000-8000-000000000001");
    let store = |name: &str, uid: &str| {
        ConfigMapStore::new(client.clone(), STATE_NAMESPACE, &ns, name, Some(uid.to_string()), &building_id)
    };
    let tower = store("tower", "uid-tower");

    // 20,000 residents: about 2.4 MB of lines, past the 1 MiB a ConfigMap holds.
    let big = building(20_000);
    let size = big.render().len();
    assert!(size > 2 * 1024 * 1024, "{size} bytes");
    tower.save(&big).await.unwrap();
    assert_eq!(tower.load().await.unwrap().as_ref(), Some(&big));
    let main = maps.get(&config_map_name(&ns, "tower")).await.unwrap();
    let data = main.data.unwrap();
    assert!(data.contains_key("parts") && !data.contains_key("identities"), "{:?}", data.keys());
    let first = parts(&maps, &ns).await;
    assert_eq!(first.len(), size.div_ceil(PART_BYTES), "{:?}", first.keys());
    for part in first.values() {
        assert!(part.data.as_ref().unwrap()["identities"].len() <= PART_BYTES);
    }

    // Another integration granting in the same building honours every grant of the big map.
    let annex = store("annex", "uid-annex");
    let others = annex.others().await.unwrap();
    assert_eq!(others.len(), 20_000);
    assert_eq!(others[&uuid(1, 12_345)], BTreeSet::from([uuid(2, 12_345 / 2), uuid(3, 12_345)]));

    // A crash after writing a newer generation's parts, before the main map named them: the
    // parts are there, and the map is still the old one, for this integration and its neighbours.
    for (index, part) in first.values().enumerate() {
        let mut orphan = part.clone();
        orphan.metadata = kube::core::ObjectMeta {
            name: Some(format!("{}-orphan-{index}", config_map_name(&ns, "tower"))),
            labels: part.metadata.labels.clone().map(|mut labels| {
                labels.insert("pmssync.io/identity-generation".into(), "0123456789abcdef".into());
                labels
            }),
            annotations: part.metadata.annotations.clone(),
            ..Default::default()
        };
        maps.create(&PostParams::default(), &orphan).await.unwrap();
    }
    assert_eq!(parts(&maps, &ns).await.len(), 2 * first.len());
    assert_eq!(tower.load().await.unwrap().as_ref(), Some(&big));
    assert_eq!(annex.others().await.unwrap().len(), 20_000);

    // The next save (one resident moved out) commits a new generation and deletes every other
    // part, the orphans included.
    let mut smaller = big.clone();
    smaller.entries.remove("1003/3456");
    tower.save(&smaller).await.unwrap();
    assert_eq!(tower.load().await.unwrap().as_ref(), Some(&smaller));
    let second = parts(&maps, &ns).await;
    assert_eq!(second.len(), first.len());
    assert!(second.keys().all(|name| !first.contains_key(name)), "the old generation is gone");

    // A lost part makes the map unreadable (the run fails), never silently smaller.
    let lost = second.keys().next().unwrap().clone();
    maps.delete(&lost, &DeleteParams::default()).await.unwrap();
    let error = tower.load().await.unwrap_err().to_string();
    assert!(error.contains("missing"), "{error}");
    assert!(annex.others().await.unwrap().is_empty(), "a map that does not add up is not honoured");

    // Shrunk back under the limit, the map is one ConfigMap again and its parts go.
    let small = building(100);
    tower.save(&small).await.unwrap();
    assert_eq!(tower.load().await.unwrap().as_ref(), Some(&small));
    assert!(parts(&maps, &ns).await.is_empty());

    // A recreated integration of the same name (another UID) never inherits the map.
    assert_eq!(store("tower", "uid-recreated").load().await.unwrap(), None);
}

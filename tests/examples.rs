//! The GitOps kit in examples/ stays true: every manifest parses, the argocd-cm snippet carries
//! exactly the tested Lua, and the Grafana dashboard only queries metrics the controller exports.

use std::path::Path;

use pms_sync::metrics::Metrics;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

fn files(dir: &Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

#[test]
fn every_example_manifest_parses() {
    let mut yaml = Vec::new();
    files(Path::new(EXAMPLES), "yaml", &mut yaml);
    assert!(yaml.len() >= 10);
    for path in yaml {
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value: serde_yaml::Value =
                serde::Deserialize::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!value.is_null() || text.trim().is_empty(), "{}: empty document", path.display());
        }
    }
}

#[test]
fn every_example_integration_is_valid() {
    let mut yaml = Vec::new();
    files(Path::new(EXAMPLES), "yaml", &mut yaml);
    let mut seen = Vec::new();
    // Argo CD's Lua test data are deliberately partial objects.
    for path in yaml.into_iter().filter(|p| !p.components().any(|c| c.as_os_str() == "testdata")) {
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value: serde_yaml::Value = serde::Deserialize::deserialize(document).unwrap();
            if value.get("kind").and_then(|k| k.as_str()) != Some("PmsIntegration") {
                continue;
            }
            let obj: pms_sync::api::PmsIntegration =
                serde_yaml::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            pms_sync::controller::validate::validate_spec(&obj.spec, "acme")
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen.push(obj.spec.destination.latch.is_some());
        }
    }
    assert!(seen.contains(&true) && seen.contains(&false), "examples for both destinations: {seen:?}");
}

#[test]
fn the_argocd_cm_snippet_carries_the_tested_lua() {
    let dir = format!("{EXAMPLES}/argocd/resource_customizations/pmssync.io/PmsIntegration");
    let cm: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(format!("{EXAMPLES}/argocd/argocd-cm.yaml")).unwrap()).unwrap();
    let health = cm["data"]["resource.customizations.health.pmssync.io_PmsIntegration"].as_str().unwrap();
    assert_eq!(health, std::fs::read_to_string(format!("{dir}/health.lua")).unwrap());
    let actions: serde_yaml::Value =
        serde_yaml::from_str(cm["data"]["resource.customizations.actions.pmssync.io_PmsIntegration"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        actions["discovery.lua"].as_str().unwrap(),
        std::fs::read_to_string(format!("{dir}/actions/discovery.lua")).unwrap()
    );
    for (i, name) in ["sync-now", "suspend", "resume"].iter().enumerate() {
        assert_eq!(actions["definitions"][i]["name"].as_str(), Some(*name));
        assert_eq!(
            actions["definitions"][i]["action.lua"].as_str().unwrap(),
            std::fs::read_to_string(format!("{dir}/actions/{name}/action.lua")).unwrap()
        );
    }
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let metrics = Metrics::default();
    metrics.record_reconcile("synced");
    metrics.record_error(pms_sync::conditions::Reason::PmsUnavailable);
    metrics.observe_duration(0.5);
    metrics.record_objects("created", 1);
    metrics.record_api_call("buildium", "2xx");
    metrics.set_ready("ns", "name", true);
    let exported: Vec<String> = metrics
        .encode()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{EXAMPLES}/grafana/pms-sync-dashboard.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("pms_sync_"))
            {
                assert!(
                    exported.iter().any(|e| e == word),
                    "{word} (panel {:?}) is not exported: {exported:?}",
                    panel["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10);

    let alerts: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(format!("{EXAMPLES}/prometheus/pms-sync-alerts.yaml")).unwrap())
            .unwrap();
    for rule in alerts["spec"]["groups"][0]["rules"].as_sequence().unwrap() {
        let expr = rule["expr"].as_str().unwrap();
        for word in
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("pms_sync_"))
        {
            assert!(exported.iter().any(|e| e == word), "alert {:?} uses {word}, which is not exported", rule["alert"]);
        }
    }
}

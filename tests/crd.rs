//! The CRD's committed copies (`crds/`, the chart's) must be exactly what `pms-sync crd` prints.

/// Both committed copies, written together by `scripts/crd.sh`.
const COPIES: [&str; 2] = ["crds/pmsintegration.yaml", "charts/pms-sync/files/pmsintegration.yaml"];

#[test]
fn both_committed_copies_of_the_crd_match_the_generated_one() {
    let generated = pms_sync::crd_yaml();
    for copy in COPIES {
        let committed = std::fs::read_to_string(format!("{}/{copy}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{copy}: {e}"));
        assert!(committed == generated, "{copy} is stale: regenerate both copies with scripts/crd.sh");
    }
}

#[test]
fn crd_subcommand_prints_the_crd() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pms-sync")).arg("crd").output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), pms_sync::crd_yaml());
}

#[test]
fn crd_schema_enforces_what_the_api_server_can() {
    use kube::CustomResourceExt;
    let crd = serde_json::to_value(pms_sync::api::PmsIntegration::crd()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let required: Vec<&str> = spec["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(required.contains(&"pms") && required.contains(&"propertyIds") && required.contains(&"destination"));
    assert_eq!(spec["properties"]["propertyIds"]["minItems"], 1);
    assert_eq!(spec["properties"]["propertyIds"]["x-kubernetes-list-type"], "set");
    assert_eq!(spec["properties"]["destination"]["minProperties"], 1);
    let providers = spec["properties"]["pms"]["properties"]["provider"]["enum"].as_array().unwrap();
    assert_eq!(providers.len(), 8);
    assert_eq!(
        spec["properties"]["deprovision"]["properties"]["mode"]["enum"],
        serde_json::json!(["Deactivate", "Delete", "Ignore"])
    );
    assert!(spec["properties"]["interval"]["pattern"].is_string());
    // Every field is documented (kubectl explain).
    fn documented(schema: &serde_json::Value, path: &str) {
        if let Some(props) = schema["properties"].as_object() {
            for (name, child) in props {
                let child_path = format!("{path}.{name}");
                assert!(child["description"].is_string(), "{child_path} has no description");
                documented(child, &child_path);
                documented(&child["items"], &child_path);
            }
        }
    }
    documented(spec, "spec");
}

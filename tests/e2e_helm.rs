//! The Helm chart, for real: linted and installed with Helm 4's library (helm-sdkpy) into the test
//! apiserver; its objects are checked; and the controller, running as the chart's ServiceAccount
//! (impersonation), syncs with exactly the chart's RBAC — which grants nothing more.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, ResourceExt};
use pms_sync::controller::{self, LeaderElection, Settings};
use pms_sync::metrics::Metrics;
use serde_json::{Value, json};
use support::buildium_fake::BuildiumFake;
use support::*;

fn chart() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/charts/pms-sync").to_string()
}

fn helm(args: &[&str]) -> Value {
    let python = std::env::var("PMS_SYNC_HELM_PYTHON").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/pms-sync/venv-helm/bin/python")
    });
    assert!(python.exists(), "helm-sdkpy not installed: run scripts/test-env.sh install (or scripts/test.sh)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helm/chart.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .env("KUBECONFIG", std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A client that acts as `user` (with the groups every service account has).
async fn client_as(namespace: &str, service_account: &str) -> Client {
    let path = std::env::var("PMS_SYNC_TEST_KUBECONFIG").unwrap();
    let mut kubeconfig = Kubeconfig::read_from(path).unwrap();
    for named in &mut kubeconfig.auth_infos {
        if let Some(auth) = named.auth_info.as_mut() {
            auth.impersonate = Some(format!("system:serviceaccount:{namespace}:{service_account}"));
            auth.impersonate_groups = Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ]);
        }
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    Client::try_from(config).unwrap()
}

/// Whether the service account may do `verb` on `resource` (group, subresource) in `namespace`.
async fn allowed(client: &Client, sa: (&str, &str), verb: &str, group: &str, resource: &str, namespace: &str) -> bool {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let review: SubjectAccessReview = serde_json::from_value(json!({
        "spec": {
            "user": format!("system:serviceaccount:{}:{}", sa.0, sa.1),
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", sa.0), "system:authenticated"],
            "resourceAttributes": {"verb": verb, "group": group, "resource": resource, "subresource": subresource, "namespace": namespace}
        }
    }))
    .unwrap();
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await.unwrap();
    answer.status.is_some_and(|s| s.allowed)
}

/// The PodDisruptionBudget `name`, as `policy/v1` where the server has it (1.21 on), else as
/// `policy/v1beta1` (the test apiserver's 1.20): the chart renders whichever is served.
async fn disruption_budget(client: &Client, namespace: &str, name: &str) -> Option<Value> {
    for version in ["v1", "v1beta1"] {
        let resource = kube::api::ApiResource {
            group: "policy".into(),
            version: version.into(),
            api_version: format!("policy/{version}"),
            kind: "PodDisruptionBudget".into(),
            plural: "poddisruptionbudgets".into(),
        };
        let api = Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), namespace, &resource);
        // A version not served answers 404 too, which reads as "none": the next one is asked.
        if let Ok(Some(found)) = api.get_opt(name).await {
            return Some(serde_json::to_value(found.data).unwrap());
        }
    }
    None
}

fn monitor_resource() -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "ServiceMonitor".into(),
        plural: "servicemonitors".into(),
    }
}

/// The prometheus-operator's ServiceMonitor kind, schema-less: enough for the chart's object.
async fn install_service_monitor_crd(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
            "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &crd.metadata.name.clone().unwrap(),
        &kube::api::PatchParams::apply("pms-sync-tests").force(),
        &kube::api::Patch::Apply(&crd),
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while !api
        .get("servicemonitors.monitoring.coreos.com")
        .await
        .unwrap()
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True")
    {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_lints_installs_and_its_rbac_is_enough_and_no_more() {
    let lint = helm(&["lint", &chart()]);
    assert!(lint["Errors"].is_null(), "{lint}");

    let admin = client().await;
    let watched = namespace(&admin, "tenant").await;
    let release_ns = format!("pms-system-{:06x}", fastrand::u32(..0xffffff));
    let release_name = format!("pms-sync-{:06x}", fastrand::u32(..0xffffff));
    let release = release_name.as_str();
    install_service_monitor_crd(&admin).await;
    let values = json!({"watchNamespaces": [watched], "leaderElection": {"enabled": true}, "replicaCount": 2,
        "metrics": {"serviceMonitor": {"enabled": true}}, "networkPolicy": {"enabled": true},
        "receiver": {"ingress": {"enabled": true, "host": "hooks.example.org"}}});
    helm(&["install", &chart(), release, &release_ns, &values.to_string()]);
    let policy: Api<k8s_openapi::api::networking::v1::NetworkPolicy> = Api::namespaced(admin.clone(), &release_ns);
    let policy = policy.get(release).await.expect("the NetworkPolicy").spec.unwrap();
    assert_eq!(policy.policy_types, Some(vec!["Ingress".to_string(), "Egress".to_string()]));
    let admitted: Vec<String> = (policy.ingress.unwrap().iter())
        .flat_map(|rule| rule.ports.clone().unwrap_or_default())
        .filter_map(|p| p.port.map(|p| format!("{p:?}")))
        .collect();
    assert_eq!(admitted, ["Int(8080)", "Int(9292)"], "metrics and the webhook receiver");
    // The webhook receiver: its own Service, and an Ingress exposing /hook/ only.
    let receiver = Api::<k8s_openapi::api::core::v1::Service>::namespaced(admin.clone(), &release_ns)
        .get(&format!("{release}-receiver"))
        .await
        .expect("the receiver Service");
    let receiver = receiver.spec.unwrap();
    assert_eq!(receiver.ports.unwrap()[0].port, 9292);
    // With leader election, webhooks go only to the leader's pod (labelled by the leader).
    assert_eq!(receiver.selector.unwrap().get("pmssync.io/leader").map(String::as_str), Some("true"));
    let ingress = Api::<k8s_openapi::api::networking::v1::Ingress>::namespaced(admin.clone(), &release_ns)
        .get(&format!("{release}-receiver"))
        .await
        .expect("the receiver Ingress");
    let rule = ingress.spec.unwrap().rules.unwrap().remove(0);
    assert_eq!(rule.host.as_deref(), Some("hooks.example.org"));
    assert_eq!(rule.http.unwrap().paths[0].path.as_deref(), Some("/hook/"));
    let monitors =
        kube::Api::<kube::api::DynamicObject>::namespaced_with(admin.clone(), &release_ns, &monitor_resource());
    assert!(monitors.get(release).await.is_ok(), "the ServiceMonitor");

    // The objects, as a platform team expects them.
    let deployment = Api::<Deployment>::namespaced(admin.clone(), &release_ns).get(release).await.unwrap();
    let pod = deployment.spec.as_ref().unwrap().template.spec.clone().unwrap();
    let container = &pod.containers[0];
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
    assert_eq!(security.seccomp_profile.unwrap().type_, "RuntimeDefault");
    assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
    assert!(container.resources.as_ref().unwrap().limits.is_some());
    assert_eq!(pod.service_account_name.as_deref(), Some(release));
    let env: Vec<(String, Option<String>)> =
        container.env.clone().unwrap().into_iter().map(|e| (e.name, e.value)).collect();
    assert!(env.contains(&("WATCH_NAMESPACE".into(), Some(watched.clone()))), "{env:?}");
    assert!(env.contains(&("LEADER_ELECT".into(), Some("true".into()))));
    assert!(env.contains(&("RECEIVER_ADDR".into(), Some("0.0.0.0:9292".into()))), "{env:?}");
    assert!(env.contains(&("LEADER_ELECT_LABEL_POD".into(), Some("true".into()))), "{env:?}");
    // An HA upgrade finishes: a new standby passes readiness, then an old replica goes.
    let strategy = deployment.spec.as_ref().unwrap().strategy.clone().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let rolling = strategy.rolling_update.unwrap();
    assert_eq!((rolling.max_surge, rolling.max_unavailable), (Some(IntOrString::Int(1)), Some(IntOrString::Int(0))));
    let anti = pod.affinity.clone().and_then(|a| a.pod_anti_affinity).expect("anti-affinity with 2 replicas");
    let term = &anti.preferred_during_scheduling_ignored_during_execution.unwrap()[0].pod_affinity_term;
    assert_eq!(term.topology_key, "kubernetes.io/hostname");
    let budget = disruption_budget(&admin, &release_ns, release).await.expect("a PodDisruptionBudget with 2 replicas");
    assert_eq!(budget["spec"]["minAvailable"], 1);
    assert!(
        Api::<Role>::namespaced(admin.clone(), &watched).get(release).await.is_ok(),
        "a Role in the watched namespace"
    );
    assert!(
        Api::<ClusterRole>::all(admin.clone()).get_opt(release).await.unwrap().is_none(),
        "no ClusterRole when namespaced"
    );

    // The controller as the chart's ServiceAccount: it must be able to do its whole job.
    let sa = (release_ns.as_str(), release);
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&admin, &watched).await;
    let restricted = client_as(&release_ns, release).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(restricted.clone(), &watched);
    assert!(
        matches!(pods.list(&Default::default()).await, Err(kube::Error::Api(e)) if e.code == 403),
        "the impersonated client must really be the ServiceAccount"
    );
    let settings = Settings {
        watch_namespaces: vec![watched.clone()],
        startup_spread: Duration::ZERO,
        leader_election: Some(LeaderElection {
            lease_name: "pms-sync-leader".into(),
            namespace: release_ns.clone(),
            identity: "helm-test".into(),
            lease_duration: Duration::from_secs(4),
            renew_grace: Duration::from_secs(1),
            pod: None,
        }),
        state_namespace: release_ns.clone(),
        ..Settings::default()
    };
    let running = tokio::spawn(controller::run(
        restricted,
        settings,
        Metrics::default(),
        Arc::new(AtomicBool::new(false)),
        std::future::pending(),
    ));
    apply_integration(&admin, &watched, &integration(NAME, &fake.url(), &scim.url(), &["101", "102"])).await;
    wait_ready(&admin, &watched, NAME, "True", "Succeeded").await;
    let obj = request_sync(&admin, &watched, NAME).await;
    assert_eq!(ready(&obj), Some(("True".into(), "Succeeded".into())));
    assert_eq!(scim.users().await.len(), 6);
    running.abort();

    // ... and nothing more.
    for (verb, group, resource, ns, expected) in [
        ("watch", "pmssync.io", "pmsintegrations", watched.as_str(), true),
        ("patch", "pmssync.io", "pmsintegrations/status", watched.as_str(), true),
        ("get", "", "secrets", watched.as_str(), true),
        ("create", "events.k8s.io", "events", watched.as_str(), true),
        ("update", "coordination.k8s.io", "leases", release_ns.as_str(), true),
        ("update", "pmssync.io", "pmsintegrations", watched.as_str(), false),
        ("patch", "pmssync.io", "pmsintegrations", watched.as_str(), false),
        ("delete", "pmssync.io", "pmsintegrations", watched.as_str(), false),
        ("create", "", "secrets", watched.as_str(), false),
        ("delete", "", "secrets", watched.as_str(), false),
        ("get", "", "secrets", "kube-system", false),
        ("list", "pmssync.io", "pmsintegrations", "default", false),
        ("create", "", "pods", watched.as_str(), false),
        // The controller's state lives in its own namespace, where tenants cannot write.
        ("patch", "", "configmaps", release_ns.as_str(), true),
        ("create", "", "configmaps", release_ns.as_str(), true),
        ("list", "", "configmaps", release_ns.as_str(), true),
        ("delete", "", "configmaps", release_ns.as_str(), true),
        ("patch", "", "configmaps", watched.as_str(), false),
        ("create", "", "configmaps", watched.as_str(), false),
        ("get", "", "configmaps", watched.as_str(), false),
        ("patch", "", "configmaps", "kube-system", false),
        ("update", "coordination.k8s.io", "leases", watched.as_str(), false),
        // The leader's label on its own pod, in its own namespace only.
        ("patch", "", "pods", release_ns.as_str(), true),
        ("patch", "", "pods", watched.as_str(), false),
        ("delete", "", "pods", release_ns.as_str(), false),
    ] {
        assert_eq!(allowed(&admin, sa, verb, group, resource, ns).await, expected, "{verb} {group}/{resource} in {ns}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_install_is_cluster_wide_single_replica_and_keeps_its_crd() {
    let admin = client().await;
    let release_ns = format!("pms-default-{:06x}", fastrand::u32(..0xffffff));
    let release = format!("pms-sync-{:06x}", fastrand::u32(..0xffffff));
    helm(&["install", &chart(), &release, &release_ns, "{}"]);
    let deployment = Api::<Deployment>::namespaced(admin.clone(), &release_ns).get(&release).await.unwrap();
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert!(disruption_budget(&admin, &release_ns, &release).await.is_none(), "no PodDisruptionBudget for one replica");
    assert!(spec.template.spec.as_ref().unwrap().affinity.is_none(), "no anti-affinity for one replica");
    assert_eq!(
        spec.strategy.unwrap().type_.as_deref(),
        Some("Recreate"),
        "never two controllers without leader election"
    );
    let role = Api::<ClusterRole>::all(admin.clone()).get(&release).await.unwrap();
    let rules = serde_json::to_string(&role.rules).unwrap();
    assert!(!rules.contains("\"*\""), "no wildcard rules: {rules}");
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(admin.clone());
    let crd = crds.get("pmsintegrations.pmssync.io").await.unwrap();
    assert_eq!(
        crd.metadata.annotations.unwrap_or_default().get("helm.sh/resource-policy").map(String::as_str),
        Some("keep")
    );

    // The roles for namespace users, aggregated into Kubernetes' view/edit/admin (the aggregation
    // itself is the controller-manager's, which this test apiserver does not run: the roles are
    // bound directly here). The README's table, as the rendered chart grants it.
    let clusterroles = Api::<ClusterRole>::all(admin.clone());
    let label = |role: &ClusterRole, to: &str| {
        role.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(&format!("rbac.authorization.k8s.io/aggregate-to-{to}")))
            .cloned()
    };
    let view = clusterroles.get(&format!("{release}-view")).await.expect("the view ClusterRole");
    let edit = clusterroles.get(&format!("{release}-edit")).await.expect("the edit ClusterRole");
    for to in ["view", "edit", "admin"] {
        assert_eq!(label(&view, to).as_deref(), Some("true"), "view aggregates to {to}");
    }
    assert_eq!((label(&edit, "edit").as_deref(), label(&edit, "admin").as_deref()), (Some("true"), Some("true")));
    assert_eq!(label(&edit, "view"), None, "viewers get no write");
    let tenant = namespace(&admin, "rbac").await;
    let bindings = Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(admin.clone(), &tenant);
    for (user, role) in [("viewer", "view"), ("editor", "edit"), ("editor", "view")] {
        let binding = serde_json::from_value(json!({
            "metadata": {"name": format!("{user}-{role}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{release}-{role}")},
            "subjects": [{"kind": "ServiceAccount", "name": user, "namespace": tenant}],
        }))
        .unwrap();
        bindings.create(&PostParams::default(), &binding).await.unwrap();
    }
    for (user, verb, resource, expected) in [
        ("viewer", "get", "pmsintegrations", true),
        ("viewer", "list", "pmsintegrations", true),
        ("viewer", "get", "pmsintegrations/status", true),
        ("viewer", "patch", "pmsintegrations", false),
        ("viewer", "patch", "pmsintegrations/status", false),
        ("editor", "create", "pmsintegrations", true),
        ("editor", "patch", "pmsintegrations", true),
        ("editor", "delete", "pmsintegrations", true),
        ("editor", "get", "pmsintegrations/status", true),
        ("editor", "patch", "pmsintegrations/status", false),
        ("editor", "update", "pmsintegrations/status", false),
    ] {
        let sa = (tenant.as_str(), user);
        assert_eq!(
            allowed(&admin, sa, verb, "pmssync.io", resource, &tenant).await,
            expected,
            "{user} {verb} {resource}"
        );
    }
    assert!(!allowed(&admin, (tenant.as_str(), "editor"), "get", "", "secrets", &tenant).await, "no Secrets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_install_runs_one_controller_per_shard_each_with_its_lease() {
    let admin = client().await;
    let release_ns = format!("pms-shards-{:06x}", fastrand::u32(..0xffffff));
    let release = format!("pms-sync-{:06x}", fastrand::u32(..0xffffff));
    let values = json!({"shards": 3, "leaderElection": {"enabled": true}, "controller": {"hostConcurrency": 1}});
    helm(&["install", &chart(), &release, &release_ns, &values.to_string()]);
    let deployments =
        Api::<Deployment>::namespaced(admin.clone(), &release_ns).list(&Default::default()).await.unwrap();
    let mut names: Vec<String> = deployments.iter().map(|d| d.name_any()).collect();
    names.sort();
    assert_eq!(names, (0..3).map(|i| format!("{release}-shard-{i}")).collect::<Vec<_>>());
    for deployment in deployments {
        let index = deployment.name_any().rsplit('-').next().unwrap().to_string();
        let spec = deployment.spec.unwrap();
        let shard_label = |labels: Option<&std::collections::BTreeMap<String, String>>| {
            labels.and_then(|l| l.get("pmssync.io/shard")).cloned()
        };
        assert_eq!(shard_label(spec.selector.match_labels.as_ref()), Some(index.clone()), "own pods only");
        let template = spec.template;
        assert_eq!(shard_label(template.metadata.as_ref().and_then(|m| m.labels.as_ref())), Some(index.clone()));
        let env: std::collections::BTreeMap<String, String> = template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| Some((e.name, e.value?)))
            .collect();
        assert_eq!(env["SHARD"], format!("{index}/3"));
        assert_eq!(env["LEADER_ELECT_LEASE"], format!("pms-sync-leader-shard-{index}"));
        assert_eq!(env["HOST_CONCURRENCY"], "1");
    }
    // Only sharded: patch on PmsIntegrations, to hand a webhook over to the shard serving it.
    let role = Api::<ClusterRole>::all(admin.clone()).get(&release).await.unwrap();
    let rule = role
        .rules
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.resources.as_ref().is_some_and(|resources| resources.iter().any(|x| x == "pmsintegrations")));
    assert_eq!(rule.unwrap().verbs, ["get", "list", "watch", "patch"]);
}

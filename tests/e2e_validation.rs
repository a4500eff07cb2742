//! Bad input never reaches a vendor: on the real apiserver, each bad spec is either refused by the
//! CRD schema or reported by the controller as `Ready=False` with a reason and a message naming
//! the problem, and neither the PMS nor the destination receives a single request.

mod support;

use kube::Api;
use kube::api::{Patch, PatchParams};
use pms_sync::api::PmsIntegration;
use serde_json::{Value, json};
use support::buildium_fake::BuildiumFake;
use support::*;

enum Expect {
    /// The API server refuses the object (schema).
    Refused,
    /// The controller reports `Ready=False` with this reason and a message containing this text.
    Reported(&'static str, &'static str),
}

#[tokio::test]
async fn bad_specs_are_refused_or_reported_without_any_outbound_call() {
    let client = client().await;
    let ns = namespace(&client, "invalid").await;
    let fake = BuildiumFake::start(dataset(), BUILDIUM_ID, BUILDIUM_SECRET).await;
    let scim = ScimServer::full().await;
    standard_secrets(&client, &ns).await;
    create_secret(&client, &ns, "no-secret-key", &[("clientId", BUILDIUM_ID)]).await;
    let _controller = start_controller(&client, &ns);

    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, Expect)> = vec![
        (
            "interval-too-short",
            |m| m["spec"]["interval"] = json!("30s"),
            Expect::Reported("InvalidSpec", "spec.interval"),
        ),
        ("interval-zero", |m| m["spec"]["interval"] = json!("0h"), Expect::Reported("InvalidSpec", "spec.interval")),
        ("interval-not-duration", |m| m["spec"]["interval"] = json!("hourly"), Expect::Refused),
        ("no-properties", |m| m["spec"]["propertyIds"] = json!([]), Expect::Refused),
        ("duplicate-properties", |m| m["spec"]["propertyIds"] = json!(["101", "101"]), Expect::Refused),
        // A list-type set refuses the empty string itself.
        ("empty-property", |m| m["spec"]["propertyIds"] = json!(["101", ""]), Expect::Refused),
        (
            "slash-property",
            |m| m["spec"]["propertyIds"] = json!(["10/1"]),
            Expect::Reported("InvalidSpec", "spec.propertyIds"),
        ),
        (
            "spaced-property",
            |m| m["spec"]["propertyIds"] = json!([" 101"]),
            Expect::Reported("InvalidSpec", "spec.propertyIds"),
        ),
        (
            "non-integer-buildium-property",
            |m| m["spec"]["propertyIds"] = json!(["abc"]),
            Expect::Reported("InvalidSpec", "positive integers"),
        ),
        ("unknown-provider", |m| m["spec"]["pms"]["provider"] = json!("propertyware"), Expect::Refused),
        (
            "mri-with-a-buildium-secret",
            |m| m["spec"]["pms"]["provider"] = json!("mri"),
            Expect::Reported("InvalidSpec", "has no key \"databaseName\""),
        ),
        ("no-destination", |m| m["spec"]["destination"] = json!({}), Expect::Refused),
        (
            "missing-secret",
            |m| m["spec"]["pms"]["credentialsSecretRef"]["name"] = json!("absent"),
            Expect::Reported("CredentialsNotFound", "absent"),
        ),
        (
            "missing-secret-key",
            |m| m["spec"]["pms"]["credentialsSecretRef"]["name"] = json!("no-secret-key"),
            Expect::Reported("InvalidSpec", "clientSecret"),
        ),
        (
            "cross-namespace-secret",
            |m| m["spec"]["pms"]["credentialsSecretRef"]["namespace"] = json!("kube-system"),
            Expect::Reported("InvalidSpec", "cross-namespace"),
        ),
        (
            "bad-secret-name",
            |m| m["spec"]["destination"]["scim"]["credentialsSecretRef"]["name"] = json!("Bad_Name"),
            Expect::Reported("InvalidSpec", "not a valid Secret name"),
        ),
        ("ftp-destination", |m| m["spec"]["destination"]["scim"]["url"] = json!("ftp://example.org"), Expect::Refused),
        (
            "hostless-destination",
            |m| m["spec"]["destination"]["scim"]["url"] = json!("http://"),
            Expect::Reported("InvalidSpec", "spec.destination.scim.url"),
        ),
        (
            "credentials-in-base-url",
            |m| m["spec"]["pms"]["baseUrl"] = json!("https://user:pw@api.buildium.com"),
            Expect::Reported("InvalidSpec", "spec.pms.baseUrl"),
        ),
        (
            "entrata-without-base-url",
            |m| {
                m["spec"]["pms"] = json!({"provider": "entrata", "credentialsSecretRef": {"name": "buildium"}});
            },
            Expect::Reported("InvalidSpec", "baseUrl is required"),
        ),
        (
            "empty-excluded-status",
            |m| m["spec"]["excludedLeaseStatuses"] = json!([" "]),
            Expect::Reported("InvalidSpec", "spec.excludedLeaseStatuses"),
        ),
        ("no-access-roles", |m| m["spec"]["accessRoles"] = json!([]), Expect::Refused),
        ("max-percent-over-100", |m| m["spec"]["deprovision"] = json!({"maxPercent": 150}), Expect::Refused),
        ("unknown-deprovision-mode", |m| m["spec"]["deprovision"] = json!({"mode": "Purge"}), Expect::Refused),
        (
            "delete-after-with-delete",
            |m| m["spec"]["deprovision"] = json!({"mode": "Delete", "deleteAfter": "720h"}),
            Expect::Reported("InvalidSpec", "spec.deprovision.deleteAfter"),
        ),
        ("bad-status-mapping", |m| m["spec"]["pms"]["statusMapping"] = json!({"Holdover": "maybe"}), Expect::Refused),
    ];
    assert!(cases.len() >= 15);

    let api: Api<PmsIntegration> = Api::namespaced(client.clone(), &ns);
    let mut reported = Vec::new();
    for (name, edit, expect) in cases {
        let mut manifest = integration(name, &fake.url(), &scim.url(), &["101"]);
        edit(&mut manifest);
        let result = api.patch(name, &PatchParams::apply("pms-sync-tests").force(), &Patch::Apply(&manifest)).await;
        match expect {
            Expect::Refused => assert!(result.is_err(), "{name}: the API server accepted it"),
            Expect::Reported(reason, text) => {
                result.unwrap_or_else(|e| panic!("{name}: refused by the API server: {e}"));
                reported.push((name, reason, text));
            }
        }
    }
    for (name, reason, text) in reported {
        let obj = wait_ready(&client, &ns, name, "False", reason).await;
        let status = obj.status.unwrap();
        let condition = pms_sync::conditions::get(&status.conditions, "Ready").unwrap();
        assert!(condition.message.contains(text), "{name}: {:?} should mention {text:?}", condition.message);
        assert!(
            pms_sync::conditions::get(&status.conditions, "Stalled").is_some_and(|c| c.status == "True"),
            "{name}: a spec problem stalls until it changes"
        );
        assert!(status.next_sync_time.is_none(), "{name}: no retry of a bad spec");
    }
    assert!(fake.requests().is_empty(), "the PMS was called: {:?}", fake.requests());
    assert!(scim.users().await.is_empty());
}

//! Each PMS connector end to end: the controller on the real apiserver syncs a building from the
//! vendor's fake into scim2-server, applies changes, reports vendor errors clearly and touches no
//! user of a property it could not read.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use support::buildium_fake::Fault;
use support::vendor_fakes::{Vendor, VendorFake};
use support::*;

async fn syncs_a_building(vendor: Vendor, error_reason: &str) {
    let client = client().await;
    let ns = namespace(&client, vendor.provider()).await;
    let fake = VendorFake::start(vendor, dataset()).await;
    // The external ID of dataset tenant `t` at property `p`, by the vendor's own person ID.
    let pid = |p: &str, t: i64| format!("{ns}/{NAME}/{p}/{}", fake.person_id(t));
    fake.set_max_page(2); // several pages where the API pages
    fake.set_fault(101, Some(Fault::Slow(Duration::from_millis(300))));
    let scim = ScimServer::full().await;
    create_secret(&client, &ns, "pms", &vendor.credentials()).await;
    create_secret(&client, &ns, "scim", &[("token", SCIM_TOKEN)]).await;
    let _controller = start_controller(&client, &ns);
    let mut manifest = integration(NAME, &fake.url(), &scim.url(), &["101", "102"]);
    manifest["spec"]["pms"] =
        json!({"provider": vendor.provider(), "credentialsSecretRef": {"name": "pms"}, "baseUrl": fake.url()});
    apply_integration(&client, &ns, &manifest).await;

    // First sync: exactly the attached, non-excluded residents; the future one without access.
    let obj = wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
    let users = scim.users_by_key().await;
    let active: BTreeMap<String, bool> =
        users.iter().map(|(k, u)| (k.clone(), u["active"].as_bool().unwrap_or(false))).collect();
    let expected: BTreeMap<String, bool> = [
        (("101", 1), true),
        (("101", 2), true),
        (("101", 3), false),
        (("101", 6), true),
        (("102", 7), true),
        (("102", 8), true),
    ]
    .into_iter()
    .map(|((p, t), a)| (pid(p, t), a))
    .collect();
    assert_eq!(active, expected, "{vendor:?}");
    assert_eq!(users[&pid("101", 1)]["name"]["givenName"], "Zoë");
    assert_eq!(users[&pid("102", 7)]["name"]["familyName"], "Ó Briain");
    assert_eq!(users[&pid("101", 1)]["emails"][0]["value"], "zoe@example.org");
    assert_eq!(summary(&obj).fetched, 8);
    assert_no_personal_data(&obj);

    // Changes in the PMS are applied (through a 429 with Retry-After); the rest is not rewritten.
    let before = scim.users_by_key().await;
    fake.set_fault(101, Some(Fault::RateLimited { times: 1, retry_after: 1 }));
    fake.update(|d| {
        d.tenant_mut(2).for_each(|t| t.status = "MovedOut".into());
        d.tenant_mut(7).for_each(|t| t.phones = vec![("555-7777".into(), "Cell".into())]);
    });
    let obj = request_sync(&client, &ns, NAME).await;
    let s = summary(&obj);
    assert_eq!((s.updated, s.deprovisioned, s.unchanged), (1, 1, 4), "{vendor:?}");
    let after = scim.users_by_key().await;
    assert_eq!(after[&pid("102", 7)]["phoneNumbers"][0]["value"], "555-7777");
    assert_eq!(after[&pid("101", 2)]["active"], false);
    assert_eq!(before[&pid("101", 1)], after[&pid("101", 1)]);

    // The vendor's own error for one property: reported clearly, its users untouched.
    fake.set_fault(102, Some(Fault::VendorError));
    fake.update(|d| d.tenant_mut(8).for_each(|t| t.status = "MovedOut".into()));
    let obj = request_sync(&client, &ns, NAME).await;
    assert_eq!(ready(&obj).map(|r| r.1).as_deref(), Some(error_reason), "{vendor:?}: {:?}", obj.status);
    let failed = obj.status.as_ref().unwrap().properties.iter().find(|p| p.id == "102").unwrap().error.clone();
    assert!(failed.is_some(), "{vendor:?}");
    assert_eq!(scim.users_by_key().await[&pid("102", 8)], after[&pid("102", 8)]);
    for (_, secret) in vendor.credentials() {
        assert!(!serde_json::to_string(&obj.status).unwrap().contains(secret), "a credential in status");
    }

    // A malformed page (HTTP 200, a proxy's HTML) for one property: the same, never an empty listing.
    fake.set_fault(102, Some(Fault::Malformed));
    let obj = request_sync(&client, &ns, NAME).await;
    assert_eq!(ready(&obj).map(|r| r.1).as_deref(), Some("PmsUnavailable"), "{vendor:?}: {:?}", obj.status);
    let failed = obj.status.as_ref().unwrap().properties.iter().find(|p| p.id == "102").unwrap().error.clone();
    assert!(failed.is_some_and(|e| e.contains("unreadable")), "{vendor:?}");
    assert_eq!(scim.users_by_key().await[&pid("102", 8)], after[&pid("102", 8)]);

    // Rejected credentials: a rotated (wrong) Secret resyncs by itself and stalls, touching nobody.
    fake.set_fault(102, None);
    let wrong: Vec<(&str, &str)> = vendor
        .credentials()
        .into_iter()
        .map(|(k, v)| {
            (k, if k == "username" || k == "pmcId" || k == "clientId" || k == "apiKey" { "wrong" } else { v })
        })
        .collect();
    let untouched = scim.users_by_key().await;
    create_secret(&client, &ns, "pms", &wrong).await;
    let obj = wait_ready(&client, &ns, NAME, "False", "PmsAuthenticationFailed").await;
    assert!(obj.status.unwrap().conditions.iter().any(|c| c.type_ == "Stalled" && c.status == "True"));
    assert_eq!(untouched, scim.users_by_key().await);
    assert!(!fake.requests().is_empty());
}

#[tokio::test]
async fn entrata_syncs_a_building() {
    syncs_a_building(Vendor::Entrata, "PmsUnavailable").await;
}

#[tokio::test]
async fn appfolio_syncs_a_building() {
    syncs_a_building(Vendor::Appfolio, "PmsUnavailable").await;
}

#[tokio::test]
async fn yardi_syncs_a_building() {
    syncs_a_building(Vendor::Yardi, "PmsUnavailable").await;
}

#[tokio::test]
async fn realpage_syncs_a_building() {
    syncs_a_building(Vendor::Realpage, "PmsNotLicensed").await;
}

#[tokio::test]
async fn rentmanager_syncs_a_building() {
    syncs_a_building(Vendor::Rentmanager, "PmsUnavailable").await;
}

#[tokio::test]
async fn resman_syncs_a_building() {
    syncs_a_building(Vendor::Resman, "PmsUnavailable").await;
}

#[tokio::test]
async fn mri_syncs_a_building() {
    syncs_a_building(Vendor::Mri, "PmsUnavailable").await;
}

#[tokio::test]
async fn unknown_statuses_are_reported_never_given_access_and_can_be_mapped() {
    let client = client().await;
    let ns = namespace(&client, "unknown").await;
    let fake = VendorFake::start(Vendor::Yardi, dataset()).await;
    fake.update(|d| d.tenant_mut(8).for_each(|t| t.status = "Month-to-Month Holdover".into()));
    let scim = ScimServer::full().await;
    create_secret(&client, &ns, "pms", &Vendor::Yardi.credentials()).await;
    create_secret(&client, &ns, "scim", &[("token", SCIM_TOKEN)]).await;
    let _controller = start_controller(&client, &ns);
    let mut manifest = integration(NAME, &fake.url(), &scim.url(), &["101", "102"]);
    manifest["spec"]["pms"] =
        json!({"provider": "yardi", "credentialsSecretRef": {"name": "pms"}, "baseUrl": fake.url()});
    apply_integration(&client, &ns, &manifest).await;
    let obj = wait_ready(&client, &ns, NAME, "True", "Succeeded").await;
    assert_eq!(summary(&obj).unknown_statuses, 1);
    let holdover = format!("{ns}/{NAME}/102/{}", fake.person_id(8));
    assert!(!scim.users_by_key().await.contains_key(&holdover), "an unknown status never gets access");
    let notes = warnings(&client, &ns, "UnknownStatus").await;
    assert!(notes.iter().any(|n| n.contains("Month-to-Month Holdover")), "{notes:?}");

    manifest["spec"]["pms"]["statusMapping"] = json!({"month-to-month holdover": "current"});
    apply_integration(&client, &ns, &manifest).await;
    wait_for(&client, &ns, NAME, "the mapped resident", |i| {
        i.status.as_ref().is_some_and(|s| {
            s.observed_generation == i.metadata.generation && s.summary.as_ref().is_some_and(|s| s.created == 1)
        })
    })
    .await;
    assert_eq!(scim.users_by_key().await[&holdover]["active"], true);
}

/// The fakes refuse what the connectors used to send and a real server would not take: Entrata
/// `getLeases` r1, an AppFolio page link POSTed empty, Yardi's `GetResidents` or parameters out of
/// the WSDL's order, RealPage `getresidentlist` without its arguments element; and what the notes
/// say the newer vendors refuse: Rent Manager tenants without a session, ResMan without form
/// fields, MRI without its user name form or asked for XML.
#[tokio::test]
async fn the_fakes_refuse_requests_a_real_server_would_refuse() {
    let http = reqwest::Client::new();
    let creds = |v: Vendor| v.credentials().into_iter().collect::<BTreeMap<_, _>>();

    let entrata = VendorFake::start(Vendor::Entrata, dataset()).await;
    let body = |version: &str| {
        json!({"auth": {"type": "apikey"}, "requestId": "1", "method": {"name": "getLeases", "version": version,
            "params": {"propertyId": "101"}}})
    };
    for (version, refused) in [("r1", true), ("r2", false)] {
        let answer: serde_json::Value = http
            .post(format!("{}/leases", entrata.url()))
            .header("x-api-key", creds(Vendor::Entrata)["apiKey"])
            .json(&body(version))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["response"]["error"].is_object(), refused, "{version}: {answer}");
    }

    let appfolio = VendorFake::start(Vendor::Appfolio, dataset()).await;
    let link = format!("{}/api/v2/reports/tenant_directory.json?page=2&property=101", appfolio.url());
    let (id, secret) = (creds(Vendor::Appfolio)["clientId"], creds(Vendor::Appfolio)["clientSecret"]);
    let empty = http.post(&link).basic_auth(id, Some(secret)).send().await.unwrap();
    assert_eq!(empty.status(), 406, "an empty page-link POST");
    let json_body = http.post(&link).basic_auth(id, Some(secret)).json(&json!({})).send().await.unwrap();
    assert_eq!(json_body.status(), 200);

    let yardi = VendorFake::start(Vendor::Yardi, dataset()).await;
    let old = http
        .post(format!("{}/ItfResidentData.asmx", yardi.url()))
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentData/GetResidents\"")
        .body("<x/>")
        .send()
        .await
        .unwrap();
    assert!(!old.status().is_success(), "GetResidents is not served");
    let out_of_order = http
        .post(format!("{}/ItfResidentTransactions20.asmx", yardi.url()))
        .header("content-type", "text/xml; charset=utf-8")
        .header(
            "SOAPAction",
            "\"http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentTransactions20/GetResidentTransactions_Login\"",
        )
        .body("<YardiPropertyId>101</YardiPropertyId><UserName>u</UserName><Password/><ServerName/><Database/><Platform/><InterfaceEntity/><InterfaceLicense/>")
        .send()
        .await
        .unwrap();
    assert_eq!(out_of_order.status(), 500, "parameters out of the WSDL's order");

    let realpage = VendorFake::start(Vendor::Realpage, dataset()).await;
    let c = creds(Vendor::Realpage);
    let auth = format!(
        "<tem:auth><tem:pmcid>{}</tem:pmcid><tem:siteid>101</tem:siteid><tem:licensekey>{}</tem:licensekey></tem:auth>",
        c["pmcId"], c["licenseKey"]
    );
    for (args, ok) in [("", false), ("<tem:getresidentlistargs><tem:ExtensionData/></tem:getresidentlistargs>", true)] {
        let answer = http
            .post(realpage.url())
            .header("content-type", "text/xml; charset=utf-8")
            .header("SOAPAction", "\"http://tempuri.org/IRPXService/getresidentlist\"")
            .body(format!(
                "<s:Envelope><s:Body><tem:getresidentlist>{auth}{args}</tem:getresidentlist></s:Body></s:Envelope>"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().is_success(), ok, "arguments element {args:?}");
    }

    // Rent Manager: no session token, no tenants.
    let rm = VendorFake::start(Vendor::Rentmanager, dataset()).await;
    let no_token = http.get(format!("{}/Tenants?filters=PropertyID,eq,101", rm.url())).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    // ResMan: the call takes form fields, not a body of another kind.
    let resman = VendorFake::start(Vendor::Resman, dataset()).await;
    let url = format!("{}/MITS/GetResidentTransactions2_0", resman.url());
    let xml_body = http.post(&url).header("content-type", "text/xml").body("<x/>").send().await.unwrap();
    assert!(!xml_body.status().is_success(), "a non-form body");
    // MRI: Basic auth in the `clientId/databaseName/username/partnerKey` form, and JSON asked for.
    let mri = VendorFake::start(Vendor::Mri, dataset()).await;
    let c = creds(Vendor::Mri);
    let user = format!("{}/{}/{}/{}", c["clientId"], c["databaseName"], c["username"], c["partnerKey"]);
    let page = |format: &str, user: &str| {
        http.get(format!("{}/mriapiservices/api.asp", mri.url()))
            .query(&[("$api", "MRI_S-PMRM_ResidentLeaseDetailsByPropertyID"), ("$format", format), ("RMPROPID", "101")])
            .basic_auth(user, Some(c["password"]))
            .send()
    };
    assert_eq!(page("json", c["username"]).await.unwrap().status(), 401, "the plain user name");
    let xml: serde_json::Value = page("xml", &user).await.unwrap().json().await.unwrap();
    assert!(xml["value"][0]["Error"]["Message"].is_string(), "{xml}");
    let json: serde_json::Value = page("json", &user).await.unwrap().json().await.unwrap();
    assert_eq!(json["value"].as_array().map(Vec::len), Some(6));
}

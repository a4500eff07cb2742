use super::*;
use crate::credentials::SecretData;
use crate::domain::{ResidentRole, ResidentStatus};
use crate::pms::soap;

fn sample(name: &str) -> String {
    let path = format!("{}/../shared/vendor-samples/mri/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("the shared MRI sample")
}

fn json_sample(name: &str) -> Value {
    serde_json::from_str(&sample(name)).unwrap()
}

fn people(property_id: &str, page: &Value) -> Vec<Resident> {
    let (rows, _) = read_page(property_id, page).unwrap();
    let mut people = People::default();
    rows.into_iter().for_each(|r| people.push(r));
    people.finish(API).unwrap()
}

/// The XML capture of the same call as records: each `<entry>`'s elements, `<X />` as null.
fn xml_capture_as_page() -> Value {
    let document =
        soap::parse(&sample("MRI_S-PMRM_ResidentLeaseDetailsByPropertyID-response-xml-24-entries.xml")).unwrap();
    let rows: Vec<Value> = document
        .descendants("entry")
        .into_iter()
        .map(|entry| {
            let record = entry.children.iter().map(|c| {
                let text = c.text.trim();
                (c.name.clone(), if text.is_empty() { Value::Null } else { Value::String(text.to_string()) })
            });
            Value::Object(record.collect())
        })
        .collect();
    serde_json::json!({ "value": rows })
}

/// The 24-entry capture of property 500: 13 Current (2 with a move-out already set), 4
/// Co-Resident and 2 Other Resident with `IsCurrent` Y, 5 Old; 3 emails.
#[test]
fn reads_every_entry_of_the_lease_details_capture() {
    let rs = people("500", &xml_capture_as_page());
    assert_eq!(rs.len(), 24);
    let count = |f: &dyn Fn(&Resident) -> bool| rs.iter().filter(|r| f(r)).count();
    assert_eq!(count(&|r| r.status == ResidentStatus::Current), 19);
    assert_eq!(count(&|r| r.status == ResidentStatus::Past), 5);
    assert_eq!(count(&|r| r.role == ResidentRole::Primary), 18);
    assert_eq!(count(&|r| r.role == ResidentRole::CoResident), 4);
    assert_eq!(count(&|r| r.role == ResidentRole::Occupant), 2);
    assert_eq!(count(&|r| r.emails.len() == 1), 3);
    assert_eq!(count(&|r| r.move_out.is_some()), 7);
    assert!(rs.iter().all(|r| r.unit.is_some() && r.lease_id.is_some() && !r.last_name.is_empty()));
    let co = rs.iter().find(|r| r.person_id == "WF00000422").unwrap();
    assert_eq!(
        (co.status, co.role, co.status_raw.as_str()),
        (ResidentStatus::Current, ResidentRole::CoResident, "Current")
    );
    assert_eq!(co.move_in.map(|d| d.to_string()).as_deref(), Some("2008-02-20"), "seven fractional digits");
}

/// The JSON variant: an Old lease holder and an Other Resident whose `IsCurrent` is N; the
/// `nextLink` in its `%24top`/`%24skip` form.
#[test]
fn reads_the_json_envelope_and_its_next_link() {
    let page = json_sample("MRI_S-PMRM_ResidentLeaseDetailsByPropertyID-response.json");
    let (_, next) = read_page("GCNS01", &page).unwrap();
    assert!(next.unwrap().ends_with("%24top=300&%24skip=301"));
    let rs = people("GCNS01", &page);
    let got: Vec<_> = rs.iter().map(|r| (r.person_id.as_str(), r.status, r.role, r.status_raw.as_str())).collect();
    assert_eq!(
        got,
        [
            ("0000000001", ResidentStatus::Past, ResidentRole::Primary, "Old"),
            ("0000000002", ResidentStatus::Past, ResidentRole::Occupant, "Old"),
        ]
    );
    assert_eq!(rs[0].move_out.map(|d| d.to_string()).as_deref(), Some("2020-01-01"));
}

/// The other calls' field names are read too: `NameId` and `EMailAddress` (Residents with
/// IncludePII), `ResidentID`, "New" and `ScheduledMoveInDate` (PendingMoveIns), `UNITID`.
#[test]
fn the_other_endpoints_field_names_are_read() {
    let pii = people("GCNS01", &json_sample("MRI_S-PMRM_Residents-response-json-IncludePII-shape.json"));
    assert_eq!((pii[0].person_id.as_str(), pii[0].unit.as_deref()), ("0000000298", Some("412")));
    let pending = people("GCCH02", &json_sample("MRI_S-PMRM_PendingMoveIns-response.json"));
    assert_eq!((pending[0].status, pending[0].emails.len()), (ResidentStatus::Future, 1));
    assert_eq!(pending[0].move_in.map(|d| d.to_string()).as_deref(), Some("2025-06-18"));
    let by_property = people("GCNS01", &json_sample("MRI_S-PMRM_ResidentsByPropertyID-response.json"));
    assert_eq!(by_property.iter().map(|r| r.unit.as_deref()).collect::<Vec<_>>(), [Some("101"), Some("101")]);
    assert!(by_property.iter().all(|r| r.status == ResidentStatus::Unknown), "one-letter codes are not guessed");
}

#[test]
fn errors_in_200_bodies_and_malformed_pages_fail_the_property() {
    let error = |message: &str| serde_json::json!({"value": [{"Error": {"Message": message}}]});
    let e = read_page("1", &error("Invalid user name or password for partner key XYZ")).unwrap_err();
    assert!(matches!(e, PmsError::Unauthorized { .. }) && !e.to_string().contains("XYZ"), "{e}");
    assert!(matches!(read_page("1", &error("RMPROPID 1 not found")), Err(PmsError::Rejected { .. })));
    assert!(matches!(read_page("1", &serde_json::json!({"odata.metadata": "x"})), Err(PmsError::InvalidResponse(_))));
    let (rows, _) = read_page("1", &serde_json::json!({"value": ["text", {"FirstName": "No ID"}]})).unwrap();
    let mut p = People::default();
    rows.into_iter().for_each(|r| p.push(r));
    assert!(matches!(p.finish(API), Err(PmsError::Incomplete(_))));
}

#[test]
fn the_endpoint_is_found_under_any_form_of_the_farm_url() {
    for base in [
        "https://f.example",
        "https://f.example/",
        "https://f.example/mriapiservices",
        "https://f.example/mriapiservices/api.asp?x=1",
    ] {
        assert_eq!(endpoint(Url::parse(base).unwrap()).as_str(), "https://f.example/mriapiservices/api.asp", "{base}");
    }
}

#[test]
fn next_links_stay_on_the_farm_and_ask_for_json() {
    let endpoint = Url::parse("https://f.example/mriapiservices/api.asp").unwrap();
    let link = "https://f.example/mriapiservices/api.asp?%24api=MRI_S-PMRM_PendingMoveIns&PropertyID=GCCH02&%24format=xml&%24top=300&%24skip=301";
    let next = next_url(&endpoint, link).unwrap();
    let pairs: Vec<(String, String)> = next.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
    assert!(pairs.contains(&("$format".into(), "json".into())) && pairs.contains(&("$skip".into(), "301".into())));
    assert!(next_url(&endpoint, "https://evil.example/mriapiservices/api.asp?_next=1").is_err());
    assert!(next_url(&endpoint, "http://f.example/mriapiservices/api.asp?_next=1").is_err(), "no downgrade");
    assert_eq!(next_url(&endpoint, "api.asp?_next=ae49").unwrap().query(), Some("_next=ae49"));
}

#[tokio::test]
async fn pages_are_followed_with_basic_auth_in_mris_user_name_form() {
    use crate::metrics::Metrics;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let row = |id: &str| serde_json::json!({"ResidentNameID": id, "ResidentStatus": "Current", "IsCurrent": "Y", "UnitID": "1"});
    let auth = format!("Basic {}", "Yy9kYi91L3BrOnB3"); // base64 of "c/db/u/pk:pw"
    Mock::given(method("GET"))
        .and(path("/farm/mriapiservices/api.asp"))
        .and(query_param("$api", API))
        .and(query_param("RMPROPID", "GC 01"))
        .and(query_param("_next", "ae49"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": [row("2")]})))
        .mount(&server)
        .await;
    let next =
        format!("{}/farm/mriapiservices/api.asp?%24api={API}&RMPROPID=GC%2001&%24format=json&_next=ae49", server.uri());
    Mock::given(method("GET"))
        .and(path("/farm/mriapiservices/api.asp"))
        .and(query_param("$format", "json"))
        .and(header("authorization", auth.as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"nextLink": next, "value": [row("1")]})),
        )
        .mount(&server)
        .await;
    let values =
        [("clientId", "c"), ("databaseName", "db"), ("username", "u"), ("password", "pw"), ("partnerKey", "pk")];
    let secret = SecretData::new("s", values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let http = HttpClient::new("mri", Default::default(), Metrics::default());
    let c = Mri::new(DESCRIPTOR.check(Some(&format!("{}/farm", server.uri())), &[], &secret).unwrap(), http);
    let ids: Vec<String> = c.list_residents("GC 01").await.unwrap().into_iter().map(|r| r.person_id).collect();
    assert_eq!(ids, ["1", "2"]);
}

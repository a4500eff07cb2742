//! No Rent Manager response was ever captured: these tenants follow the field lists of the
//! public clients' notes (`rentmanager/request-examples-and-notes.txt`, docs/connectors.md),
//! in varying case and with embeds missing, as a tolerant reader must take them.

use super::*;
use crate::credentials::SecretData;
use crate::domain::{PhoneKind, ResidentRole, ResidentStatus};
use crate::metrics::Metrics;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn tenant(id: u64, status: &str) -> Value {
    json!({
        "TenantID": id, "TenantDisplayID": id, "Name": "Household", "FirstName": "Head", "LastName": "Of House",
        "PropertyID": 12, "Status": status, "RentDueDay": 1,
        "Contacts": [
            {"ContactID": id * 10, "FirstName": "Ana", "LastName": "Ruiz", "IsPrimary": true, "Email": "ana@example.org",
             "PhoneNumbers": [{"PhoneNumber": "555-0100", "PhoneNumberTypeID": 3, "PhoneNumberType": {"Name": "Cell"}}]},
            {"contactid": id * 10 + 1, "firstname": "Ben", "lastname": "Ruiz", "isprimary": false, "ApplicantType": "Occupant"},
            {"ContactID": id * 10 + 2, "FirstName": "Cy", "LastName": "Ruiz", "ApplicantType": "Guarantor"}
        ],
        "Leases": [
            {"LeaseID": 7, "TenantID": id, "UnitID": 301, "MoveInDate": "2019-01-01T00:00:00", "MoveOutDate": "2021-01-01T00:00:00"},
            {"LeaseID": 8, "TenantID": id, "UnitID": 302, "MoveInDate": "2021-02-01T00:00:00", "Unit": {"UnitID": 302, "Name": "4B"}}
        ]
    })
}

fn residents_of(tenant: &Value) -> Vec<Resident> {
    let mut people = People::default();
    map::tenant_residents("12", tenant).into_iter().for_each(|r| people.push(r));
    people.finish("Tenants").unwrap()
}

#[test]
fn a_tenants_contacts_are_its_people_with_the_lease_in_force() {
    let rs = residents_of(&tenant(1, "Current"));
    let got: Vec<_> = rs.iter().map(|r| (r.person_id.as_str(), r.role, r.unit.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("10", ResidentRole::Primary, Some("4B")),
            ("11", ResidentRole::Occupant, Some("4B")),
            ("12", ResidentRole::Guarantor, Some("4B"))
        ]
    );
    assert!(rs.iter().all(|r| r.status == ResidentStatus::Current && r.move_out.is_none()));
    assert_eq!(rs[0].move_in.map(|d| d.to_string()).as_deref(), Some("2021-02-01"));
    assert_eq!((rs[0].emails.len(), rs[0].phones[0].kind), (1, PhoneKind::Mobile));
    assert_eq!(rs[1].first_name, "Ben", "keys in any case");
}

#[test]
fn absent_embeds_and_odd_tenants_are_read_safely() {
    // No embeds at all: the tenant is one person, without a unit.
    let bare = json!({"TenantID": 5, "FirstName": "Solo", "LastName": "Tenant", "Status": "Past"});
    let rs = residents_of(&bare);
    assert_eq!(
        (rs[0].person_id.as_str(), rs[0].status, rs[0].unit.as_deref()),
        ("tenant-5", ResidentStatus::Past, None)
    );
    // A moved-out tenant's latest lease gives the move-out; no primary flag: the first contact.
    let mut past = tenant(2, "Past");
    past["Leases"] = json!([{"LeaseID": 9, "UnitID": 5, "MoveInDate": "2018-01-01", "MoveOutDate": "2020-06-30"}]);
    past["Contacts"][0]["IsPrimary"] = json!(false);
    let rs = residents_of(&past);
    assert_eq!((rs[0].role, rs[0].unit.as_deref()), (ResidentRole::Primary, Some("5")));
    assert_eq!(rs[0].move_out.map(|d| d.to_string()).as_deref(), Some("2020-06-30"));
    // Without an ID, or not an object: the property fails, nobody is dropped.
    for broken in
        [json!({"Status": "Current"}), json!("tenant"), json!({"TenantID": 3, "Contacts": [{"FirstName": "X"}]})]
    {
        let mut people = People::default();
        map::tenant_residents("12", &broken).into_iter().for_each(|r| people.push(r));
        assert!(matches!(people.finish("Tenants"), Err(PmsError::Incomplete(_))), "{broken}");
    }
    for (raw, want) in [
        ("Current", ResidentStatus::Current),
        ("Future", ResidentStatus::Future),
        ("Past", ResidentStatus::Past),
        ("Prospect", ResidentStatus::Applicant),
        ("Hold", ResidentStatus::Unknown),
    ] {
        assert_eq!(normalize(raw), want, "{raw}");
    }
}

#[test]
fn the_token_is_a_json_string() {
    assert_eq!(read_token("\"abc-123\"").as_deref(), Some("abc-123"));
    assert_eq!(read_token("abc-123").as_deref(), Some("abc-123"));
    assert_eq!(read_token("\"\""), None);
    assert_eq!(read_token("<html>error page</html>"), None);
}

fn connector(server: &MockServer, keys: &[(&str, &str)]) -> Rentmanager {
    let secret = SecretData::new("s", keys.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let http = HttpClient::new("rentmanager", Default::default(), Metrics::default());
    Rentmanager::new(DESCRIPTOR.check(Some(&server.uri()), &["12".into()], &secret).unwrap(), http)
}

const LOGIN: [(&str, &str); 3] = [("username", "u"), ("password", "p"), ("locationId", "1")];

#[tokio::test]
async fn logs_in_once_pages_by_total_and_renews_the_token_once_on_401() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/Authentication/AuthorizeUser"))
        .and(body_json(json!({"Username": "u", "Password": "p", "LocationID": 1})))
        .respond_with(ResponseTemplate::new(200).set_body_string("\"token-1\""))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/Authentication/AuthorizeUser"))
        .respond_with(ResponseTemplate::new(200).set_body_string("\"token-2\""))
        .mount(&server)
        .await;
    let full: Vec<Value> = (0..PAGE_SIZE as u64).map(|i| tenant(100 + i, "Current")).collect();
    Mock::given(method("GET"))
        .and(path("/Tenants"))
        .and(query_param("filters", "PropertyID,eq,12"))
        .and(query_param("pageNumber", "1"))
        .and(header("X-RM12Api-ApiToken", "token-1"))
        .and(header("X-RM12Api-LocationID", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&full).insert_header("x-total-results", "501"))
        .mount(&server)
        .await;
    // The session expired between pages: one renewal, then the page.
    Mock::given(method("GET"))
        .and(path("/Tenants"))
        .and(header("X-RM12Api-ApiToken", "token-1"))
        .and(query_param("pageNumber", "2"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"UserMessage": "Token expired", "ErrorCode": 401})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/Tenants"))
        .and(header("X-RM12Api-ApiToken", "token-2"))
        .and(query_param("pageNumber", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([tenant(9, "Current")]))
                .insert_header("x-total-results", "501"),
        )
        .mount(&server)
        .await;
    let rs = connector(&server, &LOGIN).list_residents("12").await.unwrap();
    assert_eq!(rs.len(), 501 * 3);
    let logins =
        server.received_requests().await.unwrap().iter().filter(|r| r.url.path().contains("Authorize")).count();
    assert_eq!(logins, 2, "one login, one renewal");
}

/// A server that caps the page size below the one asked is read to its total; one that stops
/// short of its total fails the property instead of dropping the rest.
#[tokio::test]
async fn pages_are_read_to_the_reported_total_whatever_their_size() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_string("\"t\"")).mount(&server).await;
    for (page, body) in [("1", json!([tenant(1, "Current"), tenant(2, "Current")])), ("2", json!([tenant(3, "Past")]))]
    {
        Mock::given(method("GET"))
            .and(query_param("pageNumber", page))
            .respond_with(ResponseTemplate::new(200).set_body_json(body).insert_header("x-total-results", "3"))
            .mount(&server)
            .await;
    }
    assert_eq!(connector(&server, &LOGIN).list_residents("12").await.unwrap().len(), 9);

    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_string("\"t\"")).mount(&server).await;
    Mock::given(method("GET"))
        .and(query_param("pageNumber", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([tenant(1, "Current")]))
                .insert_header("x-total-results", "3"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])).insert_header("x-total-results", "3"))
        .mount(&server)
        .await;
    let err = connector(&server, &LOGIN).list_residents("12").await.unwrap_err();
    assert!(matches!(err, PmsError::Incomplete(_)), "{err}");
}

#[tokio::test]
async fn rejected_logins_sessions_exhausted_and_errors_are_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"UserMessage": "Invalid user name or password"})))
        .mount(&server)
        .await;
    assert!(matches!(
        connector(&server, &LOGIN).list_residents("12").await,
        Err(PmsError::Unauthorized { status: 401 })
    ));

    let server = MockServer::start().await;
    let exhausted = json!({"UserMessage": "This user has logged in the maximum number of times", "ErrorCode": 1003});
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(400).set_body_json(exhausted)).mount(&server).await;
    let err = connector(&server, &LOGIN).list_residents("12").await.unwrap_err();
    assert!(matches!(&err, PmsError::Rejected { code: Some(c), .. } if c.contains("sessions exhausted")), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "not retried in a loop");

    // A partner token: no login; a 401 is final; an error's code is kept, its messages are not.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("X-RM12Api-PartnerToken", "pt"))
        .and(query_param("filters", "PropertyID,eq,12"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"UserMessage": "Bad filter on Ana Ruiz", "ErrorCode": 2011})),
        )
        .mount(&server)
        .await;
    let partner = connector(&server, &[("partnerToken", "pt"), ("locationId", "1")]);
    let err = partner.list_residents("12").await.unwrap_err();
    assert!(matches!(&err, PmsError::Rejected { status: 400, code: Some(c) } if c == "ErrorCode 2011"), "{err}");
    assert!(!err.to_string().contains("Ana"));
}

use super::*;
use crate::credentials::SecretData;
use crate::domain::{ResidentRole, ResidentStatus};

const MILL_POND: &str = "b342e58c-f5ba-4c63-b050-cf44439bb37d";

fn sample(name: &str) -> String {
    let path = format!("{}/../shared/vendor-samples/resman/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("the shared ResMan sample")
}

fn capture() -> String {
    sample("MITS-GetResidentTransactions2_0-response-first-100-of-283-rt-customers.xml")
}

/// The capture as it came over the wire before the capturing client rewrote it: the MITS
/// document HTML-escaped inside `<Response>`, customers tagged `MITS:Customer`.
fn as_on_the_wire(saved: &str) -> String {
    let start = saved.find("<ResidentTransactions").unwrap();
    let end = saved.find("</ResidentTransactions>").unwrap() + "</ResidentTransactions>".len();
    let document = saved[start..end]
        .replace("<Customer ", "<MITS:Customer ")
        .replace("</Customer>", "</MITS:Customer>")
        .replace("http://www.w3.org/2005/Atom", "http://my-company.com/namespace");
    format!("{}{}{}", &saved[..start], soap::escape(&document), &saved[end..])
}

/// The Mill Pond capture: 100 households, 197 customers (169 current, 19 former, 9 future); one
/// primary per household, 41 not responsible for the lease (occupants), 56 co-residents; 123 with
/// an email (one each). Four people are listed in two households (unit transfers): the core keeps
/// the listing that decides (`domain::desired_users`), so both listings are read here.
#[test]
fn reads_every_person_of_the_captured_property_as_saved_and_as_on_the_wire() {
    let saved = capture();
    for body in [saved.clone(), as_on_the_wire(&saved)] {
        let rs = residents(MILL_POND, &body).unwrap();
        assert_eq!(rs.len(), 197);
        let count = |f: &dyn Fn(&Resident) -> bool| rs.iter().filter(|r| f(r)).count();
        assert_eq!(count(&|r| r.status == ResidentStatus::Current), 169);
        assert_eq!(count(&|r| r.status == ResidentStatus::Past), 19);
        assert_eq!(count(&|r| r.status == ResidentStatus::Future), 9);
        assert_eq!(count(&|r| r.role == ResidentRole::Primary), 100);
        assert_eq!(count(&|r| r.role == ResidentRole::CoResident), 56);
        assert_eq!(count(&|r| r.role == ResidentRole::Occupant), 41);
        assert_eq!(count(&|r| r.emails.len() == 1), 123);
        assert!(rs.iter().all(|r| r.unit.is_some() && r.lease_id.is_some() && !r.first_name.is_empty()));
        assert!(rs.iter().all(|r| r.person_id.len() == 36), "GUIDs");
        // The transfer: former in 1101 (moved out), current in 3308.
        let moved: Vec<_> = rs
            .iter()
            .filter(|r| r.person_id == "0529ec65-1310-47aa-8570-a902b927f92c")
            .map(|r| (r.status, r.unit.as_deref(), r.move_out.is_some()))
            .collect();
        assert_eq!(moved, [(ResidentStatus::Past, Some("1101"), true), (ResidentStatus::Current, Some("3308"), false)]);
        let kinds: Vec<_> = rs.iter().flat_map(|r| r.phones.iter().map(|p| p.kind)).collect();
        assert!(kinds.contains(&crate::domain::PhoneKind::Mobile) && kinds.contains(&crate::domain::PhoneKind::Work));
    }
}

#[test]
fn a_vacant_property_has_nobody() {
    let body = sample("MITS-GetResidentTransactions2_0-response-vacant-units-only.xml");
    assert_eq!(residents("84a9d23e-7a46-4dde-818f-79170b60263b", &body).unwrap().len(), 0);
}

#[test]
fn errors_and_strange_answers_fail_the_property() {
    let saved = capture();
    let err = |body: &str| residents(MILL_POND, body).unwrap_err();
    // Any Status but Success is an error, whatever else the body holds; its texts stay unreported.
    let failed = saved.replacen("<Status>Success</Status>", "<Status>Failed</Status>", 1);
    assert!(matches!(err(&failed), PmsError::Rejected { status: 200, .. }));
    let auth = "<ResMan><Status>Error</Status><ErrorDescription>Invalid ApiKey abc-123</ErrorDescription></ResMan>";
    let e = err(auth);
    assert!(matches!(e, PmsError::Unauthorized { .. }) && !e.to_string().contains("abc-123"), "{e}");
    let missing = "<ResMan><Status>Failed</Status><ErrorDescription>No property for IntegrationPartnerID 31</ErrorDescription></ResMan>";
    assert!(matches!(err(missing), PmsError::Rejected { .. }), "a property error is no credential error");
    // Another property's answer, no Response, no document, not ResMan, not XML.
    assert!(matches!(
        err(&saved.replace(MILL_POND, "00000000-0000-0000-0000-000000000000")),
        PmsError::InvalidResponse(_)
    ));
    assert!(matches!(err("<ResMan><Status>Success</Status></ResMan>"), PmsError::InvalidResponse(_)));
    let empty = "<ResMan><Status>Success</Status><Response>Nothing here</Response></ResMan>";
    assert!(matches!(err(empty), PmsError::InvalidResponse(_)));
    assert!(matches!(err("<html><body>Maintenance</body></html>"), PmsError::InvalidResponse(_)));
    assert!(matches!(err("{\"not\": \"xml\""), PmsError::InvalidResponse(_)));
    // A household cut short (a customer without an ID) fails the property, never drops the person.
    let no_id = saved.replacen("<CustomerID>0529ec65-1310-47aa-8570-a902b927f92c</CustomerID>", "", 1);
    assert!(matches!(err(&no_id), PmsError::Incomplete(_)));
}

#[test]
fn statuses_normalize_loosely() {
    for (raw, want) in [
        ("current resident", ResidentStatus::Current),
        ("former resident", ResidentStatus::Past),
        ("future resident", ResidentStatus::Future),
        ("Notice to Vacate", ResidentStatus::Notice),
        ("Under Eviction", ResidentStatus::Evicted),
        ("Month to Month", ResidentStatus::Current),
        ("Pending", ResidentStatus::Applicant),
        ("Denied", ResidentStatus::Cancelled),
        ("prospect", ResidentStatus::Unknown),
    ] {
        assert_eq!(normalize(raw), want, "{raw}");
    }
}

#[tokio::test]
async fn the_request_is_the_captured_form_post() {
    use crate::metrics::Metrics;
    use wiremock::matchers::{body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/MITS/GetResidentTransactions2_0"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("IntegrationPartnerID=partner&ApiKey=k%26y&AccountID=400"))
        .and(body_string_contains(format!("PropertyID={MILL_POND}")))
        .respond_with(ResponseTemplate::new(200).set_body_string(as_on_the_wire(&capture())))
        .mount(&server)
        .await;
    let values = [("integrationPartnerId", "partner"), ("apiKey", "k&y"), ("accountId", "400")];
    let secret = SecretData::new("s", values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let http = HttpClient::new("resman", Default::default(), Metrics::default());
    let c = Resman::new(DESCRIPTOR.check(Some(&server.uri()), &[], &secret).unwrap(), http);
    assert_eq!(c.list_residents(MILL_POND).await.unwrap().len(), 197);
}

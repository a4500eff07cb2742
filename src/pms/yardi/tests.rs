use super::*;
use crate::credentials::SecretData;
use crate::domain::{ResidentRole, ResidentStatus};

fn sample(name: &str) -> String {
    let path = format!("{}/../shared/vendor-samples/yardi/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("the shared Yardi sample")
}

/// The captured result document wrapped as Voyager answers it: as XML, or as escaped text.
fn response(document: &str, escaped: bool) -> String {
    let document = document.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let inner = if escaped { soap::escape(document) } else { document.to_string() };
    soap::envelope(&format!(
        "<GetResidentTransactions_LoginResponse xmlns=\"{NAMESPACE}\"><{RESULT}>{inner}</{RESULT}></GetResidentTransactions_LoginResponse>"
    ))
}

fn read(body: &str) -> Result<Vec<Resident>, PmsError> {
    residents("rnttrk01", soap::read_result(200, body, RESULT, classify)?)
}

/// The 48-household capture: 71 people, roommates included, with the statuses `Customer@Type`
/// gives them (38 current, 6 applicant, 4 future lease holders; 23 roommates take their
/// household's: 19 current, 3 applicant, 1 future).
#[test]
fn reads_every_person_of_the_48_household_capture() {
    let document = sample("ItfResidentTransactions20-GetResidentTransactions_Login-result-48-customers.xml");
    for escaped in [false, true] {
        let rs = read(&response(&document, escaped)).unwrap();
        assert_eq!(rs.len(), 71, "escaped: {escaped}");
        let count = |f: &dyn Fn(&Resident) -> bool| rs.iter().filter(|r| f(r)).count();
        assert_eq!(count(&|r| r.status == ResidentStatus::Current), 57);
        assert_eq!(count(&|r| r.status == ResidentStatus::Applicant), 9);
        assert_eq!(count(&|r| r.status == ResidentStatus::Future), 5);
        assert_eq!(count(&|r| r.role == ResidentRole::Primary), 48);
        // Roommates: 21 responsible for the lease, two not (`ResponsibleForLease` false).
        assert_eq!(count(&|r| r.role == ResidentRole::CoResident), 21, "roommates");
        assert_eq!(count(&|r| r.role == ResidentRole::Occupant), 2);
        assert_eq!(count(&|r| r.person_id.starts_with('r')), 23);
        assert_eq!(count(&|r| !r.phones.is_empty()), 41, "numbers, not just types");
        assert_eq!(rs.iter().map(|r| r.phones.len()).sum::<usize>(), 52);
        assert_eq!(count(&|r| !r.emails.is_empty()), 17);
        assert!(rs.iter().all(|r| r.unit.is_some() && r.lease_id.is_some() && !r.first_name.is_empty()));
        let roommate = rs.iter().find(|r| r.person_id == "r0002693").unwrap();
        assert_eq!(
            (roommate.status, roommate.unit.as_deref(), roommate.lease_id.as_deref()),
            (ResidentStatus::Applicant, Some("121"), Some("t0012022"))
        );
        assert_eq!(roommate.move_in.map(|d| d.to_string()).as_deref(), Some("2006-03-01"), "0001-01-01 is no date");
        let holder = rs.iter().find(|r| r.person_id == "t0012027").unwrap();
        assert_eq!(holder.move_in.map(|d| d.to_string()).as_deref(), Some("2014-10-01"));
        assert_eq!(holder.move_out, None, "an expected move-out is no move-out");
    }
}

/// The capture's future residents move in on dates years past (2008 and on): at the fixed date
/// below none of them gets access or a scheduled start, at either kind of destination.
#[test]
fn the_captures_stale_future_residents_get_no_access() {
    let document = sample("ItfResidentTransactions20-GetResidentTransactions_Login-result-48-customers.xml");
    let rs = read(&response(&document, false)).unwrap();
    let today = jiff::civil::date(2026, 12, 8);
    assert_eq!(crate::domain::desired::assert_stale_move_ins_get_no_access(&rs, today), 5, "every future resident");
}

/// `GetUnitInformation_Login` puts tenant codes and unit statuses in `RT_Customer/CustomerID`
/// without any `Customers`: units, not people.
#[test]
fn a_roommate_who_moved_out_is_past_while_the_household_stays() {
    let document = r#"<ResidentTransactions xmlns="http://yardi.com/ResidentTransactions20"><Property><RT_Customer>
        <CustomerID>t0000001</CustomerID><Customers>
        <Customer Type="current resident"><CustomerID>t0000001</CustomerID><Property><UnitID>4B</UnitID></Property>
          <Lease><LeaseFromDate>2025-01-01</LeaseFromDate><ActualMoveIn>2025-01-01</ActualMoveIn></Lease></Customer>
        <Customer Type="customer"><CustomerID>r0000002</CustomerID><Lease><ActualMoveIn>2025-01-01</ActualMoveIn>
          <ActualMoveOut>2025-06-30</ActualMoveOut></Lease></Customer>
        <Customer Type="customer"><CustomerID>r0000003</CustomerID><Lease><ActualMoveIn>0001-01-01</ActualMoveIn>
          <ActualMoveOut>0001-01-01</ActualMoveOut></Lease></Customer>
        </Customers></RT_Customer></Property></ResidentTransactions>"#;
    let rs = read(&response(document, false)).unwrap();
    let status = |id: &str| rs.iter().find(|r| r.person_id == id).map(|r| r.status);
    assert_eq!(status("t0000001"), Some(ResidentStatus::Current));
    assert_eq!(status("r0000002"), Some(ResidentStatus::Past));
    assert_eq!(status("r0000003"), Some(ResidentStatus::Current), "0001-01-01 is no move-out");
}

#[test]
fn households_without_customers_are_nobody() {
    let document = sample("ItfResidentTransactions20-GetUnitInformation_Login-result-PhysicalProperty.xml");
    assert_eq!(read(&response(&document, false)).unwrap().len(), 0);
}

#[test]
fn errors_in_200_results_are_told_apart() {
    let messages =
        |text: &str| response(&format!("<Messages><Message messageType=\"Error\">{text}</Message></Messages>"), false);
    assert!(matches!(
        read(&messages("Login failed. Please check login credentials.")),
        Err(PmsError::Unauthorized { .. })
    ));
    assert!(matches!(read(&messages("Invalid Interface Entity")), Err(PmsError::Unauthorized { .. })));
    assert!(matches!(read(&messages("Interface License is not enabled")), Err(PmsError::NotLicensed(_))));
    let bare = soap::envelope(&format!("<x><{RESULT}>Login failed.</{RESULT}></x>"));
    assert!(matches!(read(&bare), Err(PmsError::Unauthorized { .. })));
    let empty = soap::envelope(&format!("<x><{RESULT}><Whatever/></{RESULT}></x>"));
    assert!(matches!(read(&empty), Err(PmsError::InvalidResponse(_))), "no document is no empty property");
}

#[test]
fn statuses_normalize_loosely() {
    for (raw, want) in [
        ("current resident", ResidentStatus::Current),
        ("future resident", ResidentStatus::Future),
        ("applicant", ResidentStatus::Applicant),
        ("Notice", ResidentStatus::Notice),
        ("Eviction", ResidentStatus::Evicted),
        ("Past", ResidentStatus::Past),
        ("former resident", ResidentStatus::Past),
        ("Canceled", ResidentStatus::Cancelled),
        ("Denied", ResidentStatus::Cancelled),
        ("Wait List", ResidentStatus::Applicant),
        ("Waitlist", ResidentStatus::Applicant),
        ("customer", ResidentStatus::Unknown),
        ("Vacant", ResidentStatus::Unknown),
    ] {
        assert_eq!(normalize(raw), want, "{raw}");
    }
}

#[test]
fn service_urls_point_at_the_interface() {
    assert_eq!(
        service_url("https://y.example/v/WebServices"),
        "https://y.example/v/WebServices/ItfResidentTransactions20.asmx"
    );
    assert_eq!(
        service_url("https://y.example/v/WebServices/"),
        "https://y.example/v/WebServices/ItfResidentTransactions20.asmx"
    );
    assert_eq!(
        service_url("https://y.example/v/WebServices/ItfResidentData.asmx"),
        "https://y.example/v/WebServices/ItfResidentTransactions20.asmx"
    );
}

mod requests {
    use super::*;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use wiremock::matchers::{body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn the_request_follows_the_wsdl_order_and_action() {
        let server = MockServer::start().await;
        let document = sample("ItfResidentTransactions20-GetResidentTransactions_Login-result-48-customers.xml");
        Mock::given(method("POST"))
            .and(path("/voyager/ItfResidentTransactions20.asmx"))
            .and(header("SOAPAction", format!("\"{ACTION}\"").as_str()))
            .and(body_string_contains(
                "<Platform>platform-v</Platform><YardiPropertyId>p&amp;1</YardiPropertyId><InterfaceEntity>",
            ))
            .and(body_string_contains("<UserName>u</UserName>"))
            .respond_with(ResponseTemplate::new(200).set_body_string(response(&document, false)))
            .mount(&server)
            .await;
        let keys =
            SECRET_KEYS.iter().map(|k| (k.to_string(), if *k == "username" { "u".into() } else { format!("{k}-v") }));
        let secret = SecretData::new("s", keys.collect::<BTreeMap<_, _>>());
        let http = HttpClient::new("yardi", Default::default(), Metrics::default());
        let base = format!("{}/voyager/", server.uri());
        let c = Yardi::new(DESCRIPTOR.check(Some(&base), &[], &secret).unwrap(), http);
        assert_eq!(c.list_residents("p&1").await.unwrap().len(), 71);
    }
}

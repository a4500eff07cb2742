//! Unknown-but-plausible answers are safe, for every connector (issue 11): a status word never
//! seen before is `unknown` (no access, reported by the sync run), a missing email or phone is no
//! error, an ID of the other JSON type (number vs string) parses, and a response that cannot be
//! read to its end fails the property instead of emptying it.

use std::collections::BTreeMap;
use std::sync::Arc;

use pms_sync::api::PmsProvider;
use pms_sync::credentials::SecretData;
use pms_sync::domain::ResidentStatus;
use pms_sync::http::{HttpClient, HttpSettings, RateLimiter};
use pms_sync::metrics::Metrics;
use pms_sync::pms::{Connector, ConnectorOptions, PmsError, PmsSource};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One vendor's plausible answer: a resident with a status word no capture shows, no email or
/// phone, and IDs of the type the captures do not use.
struct Case {
    provider: PmsProvider,
    secret: &'static [(&'static str, &'static str)],
    /// (path, content type, body); `None` path: any.
    answers: Vec<(Option<&'static str>, &'static str, String)>,
    /// The person ID the resident must come out with.
    person: &'static str,
}

fn cases() -> Vec<Case> {
    let soap = |inner: &str| {
        format!(
            "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>{inner}</soap:Body></soap:Envelope>"
        )
    };
    vec![
        Case {
            provider: PmsProvider::Buildium,
            secret: &[("clientId", "i"), ("clientSecret", "s")],
            answers: vec![
                (
                    Some("/v1/leases"),
                    "application/json",
                    r#"[{"Id": "10", "PropertyId": "101", "UnitNumber": "1A", "LeaseStatus": "Active",
                        "Tenants": [{"Id": "7", "Status": "Sublet"}]}]"#
                        .into(),
                ),
                (Some("/v1/leases/tenants"), "application/json", r#"[{"Id": "7", "FirstName": "A", "LastName": "B"}]"#.into()),
            ],
            person: "7",
        },
        Case {
            provider: PmsProvider::Entrata,
            secret: &[("apiKey", "k")],
            answers: vec![(
                None,
                "application/json",
                r#"{"response": {"code": 200, "result": {"leases": {"lease": [{"id": 10, "leaseIntervalStatus": "Current",
                    "customers": {"customer": [{"id": "7", "customerType": "Primary", "firstName": "A",
                    "leaseCustomerStatus": "Month-to-month holdover"}]}}]}}}}"#
                    .into(),
            )],
            person: "7",
        },
        Case {
            provider: PmsProvider::Appfolio,
            secret: &[("clientId", "i"), ("clientSecret", "s")],
            answers: vec![(
                None,
                "application/json",
                r#"{"results": [{"tenant_id": "7", "property_id": 101, "tenant_name": "B, A", "status": "Holdover"}],
                    "next_page_url": null}"#
                    .into(),
            )],
            person: "7",
        },
        Case {
            provider: PmsProvider::Yardi,
            secret: &[
                ("username", "u"),
                ("password", "p"),
                ("serverName", "s"),
                ("database", "d"),
                ("platform", "SQL Server"),
                ("interfaceEntity", "e"),
                ("interfaceLicense", "l"),
            ],
            answers: vec![(
                None,
                "text/xml",
                soap(
                    "<R><GetResidentTransactions_LoginResult><ResidentTransactions><Property><RT_Customer><CustomerID>7</CustomerID>\
                     <Customers><Customer Type=\"month-to-month\"><CustomerID>7</CustomerID><Name><FirstName>A</FirstName></Name>\
                     </Customer></Customers></RT_Customer></Property></ResidentTransactions></GetResidentTransactions_LoginResult></R>",
                ),
            )],
            person: "7",
        },
        Case {
            provider: PmsProvider::Realpage,
            secret: &[("pmcId", "1"), ("licenseKey", "k")],
            answers: vec![(
                None,
                "text/xml",
                soap(
                    "<getresidentlistResponse><getresidentlistResult><residentlist><resident><residentmemberid>7</residentmemberid>\
                     <leaseid>10</leaseid><firstname>A</firstname><leasestatus>Pending Renewal</leasestatus></resident>\
                     </residentlist></getresidentlistResult></getresidentlistResponse>",
                ),
            )],
            person: "7",
        },
    ]
}

async fn connector(case: &Case, answers: &[(Option<&str>, &str, String)]) -> (MockServer, Connector) {
    let server = MockServer::start().await;
    for (at, content_type, body) in answers {
        let answer = ResponseTemplate::new(200)
            .insert_header("content-type", *content_type)
            .insert_header("x-total-count", "1")
            .set_body_string(body.clone());
        match at {
            Some(p) => Mock::given(path(*p)).respond_with(answer).mount(&server).await,
            None => Mock::given(method("POST")).respond_with(answer).mount(&server).await,
        }
    }
    let secret = SecretData::new(
        "pms",
        case.secret.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    );
    let settings = HttpSettings {
        base_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(50),
        ..HttpSettings::default()
    };
    let http = HttpClient::new("pms", settings, Metrics::default());
    let uri = server.uri();
    let options = ConnectorOptions {
        provider: case.provider,
        base_url: Some(&uri),
        property_ids: &["101".into()],
        max_requests_per_minute: None,
    };
    let config = pms_sync::pms::check(&options, &secret).unwrap();
    let connector = Connector::new(config, http, &|limit| Arc::new(RateLimiter::new(limit)));
    (server, connector)
}

#[tokio::test]
async fn unseen_statuses_missing_contacts_and_other_id_types_are_read_safely() {
    for case in cases() {
        let (_server, connector) = connector(&case, &case.answers).await;
        let residents = connector.list_residents("101").await.unwrap_or_else(|e| panic!("{:?}: {e}", case.provider));
        assert_eq!(residents.len(), 1, "{:?}", case.provider);
        let r = &residents[0];
        assert_eq!(r.person_id, case.person, "{:?}", case.provider);
        assert_eq!(r.status, ResidentStatus::Unknown, "{:?}: {}", case.provider, r.status_raw);
        assert!(!r.status_raw.is_empty(), "{:?}: the word is kept for the report", case.provider);
        assert!(r.emails.is_empty() && r.phones.is_empty(), "{:?}", case.provider);
    }
}

#[tokio::test]
async fn a_response_cut_short_fails_the_property_and_never_empties_it() {
    for case in cases() {
        let cut: Vec<(Option<&str>, &str, String)> = case
            .answers
            .iter()
            .map(|(at, content_type, body)| (*at, *content_type, body[..body.len() / 2].to_string()))
            .collect();
        let (_server, connector) = connector(&case, &cut).await;
        let result = connector.list_residents("101").await;
        assert!(
            matches!(result, Err(PmsError::InvalidResponse(_) | PmsError::Incomplete(_))),
            "{:?}: {:?}",
            case.provider,
            result.map(|r| r.len())
        );
    }
}

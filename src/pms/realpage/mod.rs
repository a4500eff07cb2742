//! RealPage OneSite connector (docs/connectors.md#realpage-onesite): the RPX SOAP gateway, `getresidentlist` once per
//! site, with an `auth` block (`pmcid`, `siteid`, `licensekey`, `system`) and the
//! `<getresidentlistargs><ExtensionData/></getresidentlistargs>` element every public caller sends.
//! A method the license key is not enabled for is reported as such (`NotLicensed`), not as an
//! outage.
//!
//! Evidence (`../shared/vendor-samples/realpage/`): the resident element names, statuses and odd
//! values come from the `getresidentlistinfo` capture of RealPage's sandbox (converted to JSON by
//! the capturing client, so only names and values are real); `getresidentlist` returns the same
//! `resident` records (public callers read `leaseid`, `unitnumber`, `leasestatus` from it), but no
//! capture of its body exists: the reader therefore takes either result element. Faults arrive as
//! HTTP 500 SOAP faults or inside HTTP 200 bodies (`rpx-error-and-fault-responses.json`).

pub mod map;

use crate::domain::Resident;
use crate::http::{HttpClient, RateLimit};
use crate::pms::provider::{BaseUrl, Config, Descriptor, PropertyIds};
use crate::pms::soap::{self, Element};
use crate::pms::{PmsError, PmsSource};
pub use map::normalize;

pub const SECRET_KEYS: [&str; 2] = ["pmcId", "licenseKey"];
/// The RPX gateway; partners usually have their own service path under it: set `baseUrl`.
pub const DEFAULT_BASE_URL: &str = "https://gateway.rpx.realpage.com/rpxgateway/partner/RPX/RPX.svc";
pub const DEFAULT_LIMIT: RateLimit = RateLimit::per_minute(60);
const ACTION: &str = "http://tempuri.org/IRPXService/getresidentlist";
pub const DESCRIPTOR: Descriptor = Descriptor {
    provider: crate::api::PmsProvider::Realpage,
    secret_keys: &[&SECRET_KEYS],
    base_url: BaseUrl::Default(DEFAULT_BASE_URL),
    default_limit: DEFAULT_LIMIT,
    property_ids: PropertyIds::Digits,
    property_ids_are: "RealPage site IDs",
};

pub struct Realpage {
    http: HttpClient,
    url: String,
    pmc_id: String,
    license_key: String,
}

impl Realpage {
    /// A connector for a checked configuration ([`DESCRIPTOR`]).
    pub fn new(config: Config, http: HttpClient) -> Self {
        Self {
            http,
            url: config.base_url.to_string(),
            pmc_id: config.credentials.get("pmcId").to_string(),
            license_key: config.credentials.get("licenseKey").to_string(),
        }
    }

    fn envelope(&self, site_id: &str) -> String {
        soap::envelope(&format!(
            "<tem:getresidentlist xmlns:tem=\"http://tempuri.org/\"><tem:auth><tem:pmcid>{}</tem:pmcid>\
             <tem:siteid>{}</tem:siteid><tem:licensekey>{}</tem:licensekey><tem:system>Onesite</tem:system>\
             </tem:auth><tem:getresidentlistargs><tem:ExtensionData/></tem:getresidentlistargs></tem:getresidentlist>",
            soap::escape(&self.pmc_id),
            soap::escape(site_id),
            soap::escape(&self.license_key)
        ))
    }
}

/// Classifies a fault or error message. The message itself is vendor free text that may echo the
/// request or name a resident: it is read here and never reported.
fn classify(message: &str) -> PmsError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("not authorized to call the method") || lower.contains("not licensed") {
        PmsError::NotLicensed("the license key is not enabled for getresidentlist".into())
    } else if lower.contains("license") || lower.contains("pmcid") || lower.contains("authenticat") {
        PmsError::Unauthorized { status: 401 }
    } else {
        PmsError::Rejected { status: 200, code: Some("RealPage error message".into()) }
    }
}

/// The residents of a `getresidentlistResult` element (or the error it reports).
pub(crate) fn residents(site_id: &str, result: Element) -> Result<Vec<Resident>, PmsError> {
    if let Some(error) =
        result.descendants("error").first().map(|e| e.text.trim().to_string()).filter(|t| !t.is_empty())
    {
        return Err(classify(&error));
    }
    let mut people = super::People::default();
    // `getresidentlistinfo` answers with the same records: read either.
    for row in result.descendants("resident") {
        people.push(map::resident(site_id, row));
    }
    people.finish("getresidentlist")
}

impl PmsSource for Realpage {
    async fn list_residents(&self, site_id: &str) -> Result<Vec<Resident>, PmsError> {
        let envelope = self.envelope(site_id);
        let result = soap::call(&self.http, &self.url, ACTION, envelope, "getresidentlistResult", classify).await?;
        residents(site_id, result)
    }
}

#[cfg(test)]
mod sample_tests {
    use super::*;
    use crate::domain::{ResidentRole, ResidentStatus};
    use serde_json::Value;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../shared/vendor-samples/realpage/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("the shared RealPage sample")).unwrap()
    }

    /// The 300 captured residents, as XML again, through the connector's reader: counts by
    /// (status, role) as the capture's fields and the rules above give them.
    #[test]
    fn reads_the_captured_resident_list() {
        let list = sample("rpx-getresidentlistinfo-response-trimmed-300-of-962.json");
        let list = &list["residents_info"]["data"]["getresidentlistinfoResult"]["residentlist"];
        let xml = crate::fuzzing::envelope("getresidentlistResult", &crate::fuzzing::rebuild_xml("residentlist", list));
        let result = soap::read_result(200, &xml, "getresidentlistResult", classify).unwrap();
        let rs = residents("4589705", result).unwrap();
        assert_eq!(rs.len(), 300);
        let count = |status, role| rs.iter().filter(|r| r.status == status && r.role == role).count();
        use ResidentRole::*;
        use ResidentStatus::*;
        assert_eq!(count(Current, Primary), 28);
        assert_eq!(count(Current, CoResident), 7);
        assert_eq!(count(Current, Guarantor), 3, "guarantors on current leases: no access by default");
        assert_eq!((count(Notice, Primary), count(Notice, CoResident)), (1, 1));
        assert_eq!((count(Evicted, Primary), count(Evicted, CoResident)), (1, 1), "inevict Y");
        assert_eq!((count(Future, Primary), count(Future, CoResident)), (2, 1), "Future Lease opens no door early");
        assert_eq!(count(Applicant, Primary) + count(Applicant, CoResident), 33);
        assert_eq!(rs.iter().filter(|r| r.status == Cancelled).count(), 24);
        assert_eq!(rs.iter().filter(|r| r.status == Past).count(), 198);
        assert_eq!(rs.iter().filter(|r| r.status == Unknown).count(), 0);
        // "Former resident" people on current leases lost access: the person's own status won.
        let former_on_current = rs.iter().filter(|r| r.status == Past && r.status_raw == "Former resident").count();
        assert!(former_on_current >= 3);
        assert!(rs.iter().all(|r| r.lease_id.is_some()), "leaseid is the lease");
        assert_eq!(rs.iter().filter(|r| r.person_id == "54").count(), 2, "one person on two leases");
        // 299 of 300 carry the placeholder email: it reaches the core, which drops it.
        let placeholder = rs.iter().filter(|r| r.emails.iter().any(|e| e == "none@nowhere.com")).count();
        assert_eq!(placeholder, 299);
    }

    /// The capture's "Future Lease" residents (and the signed applicant, who gets no access at
    /// all) open nothing once their move-in date is stale.
    #[test]
    fn the_captures_stale_future_residents_get_no_access() {
        let list = sample("rpx-getresidentlistinfo-response-trimmed-300-of-962.json");
        let list = &list["residents_info"]["data"]["getresidentlistinfoResult"]["residentlist"];
        let xml = crate::fuzzing::envelope("getresidentlistResult", &crate::fuzzing::rebuild_xml("residentlist", list));
        let rs =
            residents("4589705", soap::read_result(200, &xml, "getresidentlistResult", classify).unwrap()).unwrap();
        // Far enough ahead that every captured date is stale.
        let stale = crate::domain::desired::assert_stale_move_ins_get_no_access(&rs, jiff::civil::date(2040, 1, 1));
        // Two "Future Lease" renewals (move-in 2019): 10925 holds the current lease too and keeps
        // access by it; 877's current lease is not among the 300 captured, so by this list alone
        // 877 is a stale move-in.
        assert_eq!(stale, 1);
        let signed = rs.iter().find(|r| r.status_raw == "Applicant - Lease Signed").expect("the signed applicant");
        let scope = crate::domain::Scope::new("ns", "it");
        let policy = crate::domain::Policy { today: Some(jiff::civil::date(2040, 1, 1)), ..Default::default() };
        let set = crate::domain::desired_users(&scope, vec![signed.clone()], &policy);
        assert!(set.users.iter().all(|u| !u.active && u.access_from.is_none()), "a signed applicant gets nothing yet");
    }

    /// The captured faults: HTTP 500 `ActionNotSupported` and HTTP 200 bodies holding `faultcode`.
    #[test]
    fn captured_faults_are_errors_of_the_right_kind() {
        let faults = sample("rpx-error-and-fault-responses.json");
        let mut seen = 0;
        for (call, capture) in faults.as_object().unwrap() {
            let error = if let Some(raw) = capture["raw"].as_str() {
                soap::read_result(500, raw, "getresidentlistResult", classify).unwrap_err()
            } else {
                let body = crate::fuzzing::rebuild_xml("Fault", &capture["data"]);
                let xml = format!(
                    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{body}</s:Body></s:Envelope>"
                );
                let err = soap::read_result(200, &xml, "getresidentlistResult", classify).unwrap_err();
                assert!(matches!(err, PmsError::NotLicensed(_)), "{call}: {err}");
                err
            };
            assert!(!matches!(error, PmsError::InvalidResponse(_)), "{call}: {error}");
            seen += 1;
        }
        assert_eq!(seen, 5);
        // The same fault without its `Fault` wrapper, as the converted capture shows it.
        let bare = "<s:Envelope xmlns:s=\"s\"><s:Body><x><faultcode>s:inv_Param</faultcode>\
                    <faultstring>LicenseKey is not authorized to call the method.</faultstring></x></s:Body></s:Envelope>";
        assert!(matches!(
            soap::read_result(200, bare, "getresidentlistResult", classify),
            Err(PmsError::NotLicensed(_))
        ));
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;
    use crate::credentials::SecretData;
    use crate::metrics::Metrics;
    use std::collections::BTreeMap;
    use wiremock::matchers::{header, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn license_faults_are_reported_as_such_and_credentials_never_echo() {
        let server = MockServer::start().await;
        let fault = |text: &str| {
            ResponseTemplate::new(500).set_body_string(soap::envelope(&format!(
                "<s:Fault xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><faultcode>s:Client</faultcode><faultstring>{text}</faultstring></s:Fault>"
            )))
        };
        Mock::given(method("POST"))
            .and(header("SOAPAction", "\"http://tempuri.org/IRPXService/getresidentlist\""))
            .respond_with(fault("LicenseKey lk-secret-1 is not authorized to call the method getresidentlist"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST")).respond_with(fault("Invalid LicenseKey or PMCID")).mount(&server).await;
        let secret = SecretData::new(
            "s",
            BTreeMap::from([("pmcId".into(), "42".into()), ("licenseKey".into(), "lk-secret-1".into())]),
        );
        let http = HttpClient::new("realpage", Default::default(), Metrics::default());
        let uri = server.uri();
        let c = Realpage::new(DESCRIPTOR.check(Some(&uri), &[], &secret).unwrap(), http);
        let err = c.list_residents("5446271").await.unwrap_err();
        assert!(
            matches!(&err, PmsError::NotLicensed(m) if m.contains("getresidentlist") && !m.contains("lk-secret-1")),
            "{err}"
        );
        assert!(matches!(c.list_residents("5446271").await, Err(PmsError::Unauthorized { .. })));
        assert_eq!(server.received_requests().await.unwrap().len(), 2, "a fault (HTTP 500) is read, not retried");
    }
}

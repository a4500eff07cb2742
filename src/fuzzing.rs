//! Entry points for fuzzing every parser that reads vendor bytes. Each takes a response body as
//! the vendor could send it and runs it through what the connector or destination does with it:
//! parsing, paging checks, mapping to residents or users. None may panic, loop or allocate without
//! bound, whatever the bytes (issue "Hardening"; `FUZZING.md`).
//!
//! Used by the libFuzzer targets in `fuzz/` (long runs, `scripts/fuzz.sh`) and by the property
//! tests in `tests/fuzz_parsers.rs` (a short bounded run in every test run).

use crate::pms::{People, appfolio, buildium, entrata, mri, realpage, rentmanager, resman, soap, yardi};

/// The parsers, by name (the fuzz target and seed directory names).
pub const TARGETS: &[&str] = &[
    "buildium",
    "entrata",
    "appfolio",
    "yardi",
    "realpage",
    "rentmanager",
    "resman",
    "mri",
    "scim",
    "door",
    "token",
    "identity_map",
];

const RESMAN_PROPERTY: &str = "b342e58c-f5ba-4c63-b050-cf44439bb37d";

/// Runs the parser `target` on `bytes`; returns how many records came out (so that the work is
/// not optimized away). Unknown targets do nothing.
pub fn run(target: &str, bytes: &[u8]) -> usize {
    match target {
        "buildium" => buildium_listing(bytes),
        "entrata" => entrata_leases(bytes),
        "appfolio" => appfolio_page(bytes),
        "yardi" => soap_result(bytes, yardi::RESULT, |r| yardi::residents("p1", r)),
        "realpage" => soap_result(bytes, "getresidentlistResult", |r| realpage::residents("1", r)),
        "rentmanager" => rentmanager_tenants(bytes),
        // The captured property's ID: an answer naming another property is refused.
        "resman" => resman::residents(RESMAN_PROPERTY, &String::from_utf8_lossy(bytes)).map_or(0, |r| r.len()),
        "mri" => mri_page(bytes),
        "scim" => crate::destination::scim::parse_for_fuzzing(bytes),
        "door" | "token" => crate::destination::door::client::parse_for_fuzzing(bytes),
        "identity_map" => identity_map(bytes),
        _ => 0,
    }
}

/// Both Buildium listings (`/v1/leases`, `/v1/leases/tenants`) from one body, then the mapping.
fn buildium_listing(bytes: &[u8]) -> usize {
    let leases: Vec<buildium::api::LeaseMessage> = serde_json::from_slice(bytes).unwrap_or_default();
    let tenants: Vec<buildium::api::TenantMessage> = serde_json::from_slice(bytes).unwrap_or_default();
    buildium::map::residents("1", &leases, &tenants).map_or(0, |r| r.len())
}

fn entrata_leases(bytes: &[u8]) -> usize {
    let Ok(document) = serde_json::from_slice(bytes) else { return 0 };
    let Ok(entrata::Page::Leases(leases)) = entrata::leases(document) else { return 0 };
    let mut people = People::default();
    for lease in &leases {
        for row in entrata::map::lease_residents("739084", lease) {
            people.push(row);
        }
    }
    people.finish("getLeases").map_or(0, |r| r.len())
}

fn appfolio_page(bytes: &[u8]) -> usize {
    let Ok(page) = serde_json::from_slice(bytes) else { return 0 };
    let Ok(rows) = appfolio::rows(&page) else { return 0 };
    let mut people = People::default();
    for row in rows {
        people.push(appfolio::map::resident("17", row));
    }
    people.finish("the tenant directory").map_or(0, |r| r.len())
}

/// A `/Tenants` page (a JSON array) → tenants → residents; the same bytes as a login answer.
fn rentmanager_tenants(bytes: &[u8]) -> usize {
    let token = rentmanager::read_token(&String::from_utf8_lossy(bytes)).map_or(0, |t| t.len());
    let Ok(tenants) = serde_json::from_slice::<Vec<serde_json::Value>>(bytes) else { return token };
    let mut people = People::default();
    for tenant in &tenants {
        for row in rentmanager::map::tenant_residents("12", tenant) {
            people.push(row);
        }
    }
    people.finish("Tenants").map_or(0, |r| r.len()) + token
}

/// An MRI page → errors in 200 bodies → rows → residents, and its `nextLink` → the next URL.
fn mri_page(bytes: &[u8]) -> usize {
    let Ok(page) = serde_json::from_slice(bytes) else { return 0 };
    let Ok((rows, next)) = mri::read_page("GCNS01", &page) else { return 0 };
    let link = next.map_or(0, |l| mri::next_url_for_fuzzing(&l));
    let mut people = People::default();
    rows.into_iter().for_each(|r| people.push(r));
    people.finish(mri::API).map_or(0, |r| r.len()) + link
}

fn soap_result(
    bytes: &[u8],
    result: &str,
    residents: impl Fn(soap::Element) -> Result<Vec<crate::domain::Resident>, crate::pms::PmsError>,
) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let on_fault = |_: &str| crate::pms::PmsError::InvalidResponse("fault".into());
    match soap::read_result(200, &text, result, on_fault) {
        Ok(element) => residents(element).map_or(0, |r| r.len()),
        Err(_) => 0,
    }
}

/// The identity map as a ConfigMap holds it: what parses must render and parse back the same.
fn identity_map(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let (granter, body) = text.split_once('\n').unwrap_or(("", &text));
    let Ok(mapping) = crate::destination::door::Mapping::parse(Some(granter), body) else { return 0 };
    let again = crate::destination::door::Mapping::parse(mapping.granter.as_deref(), &mapping.render());
    assert_eq!(again.as_ref().ok(), Some(&mapping), "an identity map must survive render and parse");
    mapping.entries.len()
}

/// Seeds for `target`: small documents of the shapes the connector reads, plus the captured
/// samples under `shared` (`../shared/vendor-samples`) where there are any. SOAP seeds are whole
/// envelopes; AppFolio's captured rows are wrapped in a `results` page.
pub fn seeds(target: &str, shared: Option<&std::path::Path>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = builtin(target).iter().map(|s| s.as_bytes().to_vec()).collect();
    let Some(samples) = shared.map(|s| s.join("vendor-samples")) else { return out };
    let read = |name: &str| std::fs::read(samples.join(name)).ok();
    match target {
        "entrata" => {
            out.extend(read("entrata/getLeases-r2-response-property739084-93-leases.json"));
            out.extend(read("entrata-getleases-response.json"));
        }
        "appfolio" => {
            let rows: serde_json::Value = read("appfolio/reports-v2-single-result-rows-by-report.json")
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            for report in rows.as_object().into_iter().flat_map(|o| o.values()) {
                let page = serde_json::json!({"results": [report["row"].clone()], "next_page_url": null});
                out.push(page.to_string().into_bytes());
            }
        }
        "yardi" => {
            for name in [
                "yardi/ItfResidentTransactions20-GetResidentTransactions_Login-result-48-customers.xml",
                "yardi/ItfResidentTransactions20-GetUnitInformation_Login-result-PhysicalProperty.xml",
                "yardi/ItfResidentData-GetResidents-result-MITS-ResidentData.xml",
                "yardi/ItfResidentData-GetResidentData-result-MITS-ResidentData.xml",
            ] {
                if let Some(document) = read(name) {
                    out.push(envelope(yardi::RESULT, &String::from_utf8_lossy(&document)).into_bytes());
                }
            }
        }
        "resman" => {
            out.extend(read("resman/MITS-GetResidentTransactions2_0-response-first-100-of-283-rt-customers.xml"));
            out.extend(read("resman/MITS-GetResidentTransactions2_0-response-vacant-units-only.xml"));
        }
        "mri" => {
            for name in [
                "mri/MRI_S-PMRM_ResidentLeaseDetailsByPropertyID-response.json",
                "mri/MRI_S-PMRM_ResidentsByPropertyID-response.json",
                "mri/MRI_S-PMRM_Residents-response-json-IncludePII-shape.json",
                "mri/MRI_S-PMRM_PendingMoveIns-response.json",
                "mri/MRI_S-PMRM_ResidentLedger-response.json",
            ] {
                out.extend(read(name));
            }
        }
        "realpage" => {
            let list: serde_json::Value = read("realpage/rpx-getresidentlistinfo-response-trimmed-300-of-962.json")
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let list = &list["residents_info"]["data"]["getresidentlistinfoResult"];
            out.push(
                envelope("getresidentlistResult", &rebuild_xml("residentlist", &list["residentlist"])).into_bytes(),
            );
        }
        _ => {}
    }
    out
}

/// XML rebuilt from a capture that its client converted to JSON (RealPage's samples: child
/// elements became keys, repeated siblings a list, empty elements `null`, attributes `@attributes`
/// and text beside them `#text`). Names, values and order are the capture's; only the markup is
/// ours. Used for fuzz seeds, by the connector's sample tests and by the RealPage fake.
pub fn rebuild_xml(name: &str, value: &serde_json::Value) -> String {
    use serde_json::Value;
    let escape = |t: &str| crate::pms::soap::escape(t);
    match value {
        Value::Array(items) => items.iter().map(|item| rebuild_xml(name, item)).collect(),
        Value::Null => format!("<{name}/>"),
        Value::Object(map) => {
            let attributes: String = map
                .get("@attributes")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(k, _)| !k.starts_with('{'))
                .map(|(k, v)| format!(" {k}=\"{}\"", escape(v.as_str().unwrap_or_default())))
                .collect();
            let mut inner = map.get("#text").and_then(Value::as_str).map(escape).unwrap_or_default();
            for (key, child) in map.iter().filter(|(k, _)| !k.starts_with('@') && !k.starts_with('#')) {
                inner.push_str(&rebuild_xml(key, child));
            }
            format!("<{name}{attributes}>{inner}</{name}>")
        }
        Value::String(text) => format!("<{name}>{}</{name}>", escape(text)),
        other => format!("<{name}>{other}</{name}>"),
    }
}

/// `result` wrapped in a SOAP envelope, as a Voyager or RPX response carries it.
pub fn envelope(result: &str, inner: &str) -> String {
    let inner = inner.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\
         <soap:Body><Response><{result}>{inner}</{result}></Response></soap:Body></soap:Envelope>"
    )
}

fn builtin(target: &str) -> &'static [&'static str] {
    match target {
        "buildium" => &[
            r#"[{"Id": 10, "PropertyId": 1, "UnitNumber": "4B", "LeaseStatus": "Active", "LeaseFromDate": "2025-01-01",
                "Tenants": [{"Id": 1, "Status": "Current", "MoveInDate": "2025-01-01"}, {"Id": 2, "Status": "MovedOut"}],
                "MoveOutData": [{"TenantId": 2, "MoveOutDate": "2026-12-31", "NoticeGivenDate": "2026-10-01"}],
                "Cosigners": [{"Id": 9, "FirstName": "G", "LastName": "H"}]}]"#,
            r#"[{"Id": 1, "FirstName": "A", "LastName": "B", "Email": "a@example.org",
                "PhoneNumbers": [{"Number": "555-0100", "Type": "Cell"}], "Leases": [{"Id": 10, "PropertyId": 1, "LeaseStatus": "Future"}]}]"#,
        ],
        "entrata" => &[
            r#"{"response": {"result": {"leases": {"lease": [{"id": "1", "leaseStatusTypeId": "4", "unitSpaces": {"unitSpace": [{"unitSpace": "2B"}]},
                "customers": {"customer": [{"id": "7", "customerType": "Primary", "firstName": "A", "lastName": "B", "leaseCustomerStatus": "Current",
                "phones": {"phone": [{"phoneNumber": "555", "phoneType": "Mobile"}]}}]}}]}}}}"#,
            r#"{"response": {"error": {"code": 301, "message": "Invalid API key"}}}"#,
        ],
        "appfolio" => &[
            r#"{"results": [{"selected_tenant_id": 812, "property_id": 17, "unit": "2B", "first_name": "A", "last_name": "B",
                "emails": "a@example.org; b@example.org", "phone_numbers": "Mobile: 555-0100, Home: 555-0101", "status": "4",
                "tenant_type": "Financially Responsible", "move_in": "01/15/2025"}], "next_page_url": "/x?page=2"}"#,
        ],
        "yardi" => &[
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetResidentTransactions_LoginResponse>
               <GetResidentTransactions_LoginResult><ResidentTransactions xmlns="http://yardi.com/ResidentTransactions20"><Property>
               <RT_Customer><CustomerID>t1</CustomerID><Customers><Customer Type="current resident"><CustomerID>t1</CustomerID>
               <Property><UnitID>101</UnitID></Property><Name><FirstName>A</FirstName><LastName>B</LastName></Name>
               <Address Type="current"><Email>a@example.org</Email></Address><Phone Type="cell"><PhoneNumber>5550100</PhoneNumber></Phone>
               <Lease><LeaseFromDate>2025-01-15</LeaseFromDate><ActualMoveIn>2025-01-15</ActualMoveIn></Lease></Customer>
               <Customer Type="customer"><CustomerID>r2</CustomerID><Lease><ActualMoveIn>0001-01-01</ActualMoveIn></Lease></Customer>
               </Customers></RT_Customer></Property></ResidentTransactions></GetResidentTransactions_LoginResult>
               </GetResidentTransactions_LoginResponse></soap:Body></soap:Envelope>"#,
            r#"<soap:Envelope xmlns:soap="s"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>Login failed</faultstring></soap:Fault></soap:Body></soap:Envelope>"#,
            r#"<Envelope><Body><GetResidentTransactions_LoginResult>&lt;Messages&gt;&lt;Message messageType="Error"&gt;Invalid&lt;/Message&gt;&lt;/Messages&gt;</GetResidentTransactions_LoginResult></Body></Envelope>"#,
            r#"<Envelope><Body><GetResidentTransactions_LoginResult>Login failed.</GetResidentTransactions_LoginResult></Body></Envelope>"#,
        ],
        "realpage" => &[
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getresidentlistResponse><getresidentlistResult>
               <residents><resident><residentmemberid>5</residentmemberid><residentid>9</residentid><leaseid>3</leaseid>
               <leasestatus>Current</leasestatus><firstname>A</firstname><lastname>B</lastname><email>a@example.org</email>
               <unitnumber>101</unitnumber><moveindate>2025-01-15T00:00:00</moveindate><noticegivendate>0001-01-01</noticegivendate>
               </resident></residents></getresidentlistResult></getresidentlistResponse></s:Body></s:Envelope>"#,
        ],
        "rentmanager" => &[
            r#"[{"TenantID": 1, "Status": "Current", "Contacts": [{"ContactID": 10, "FirstName": "A", "LastName": "B", "IsPrimary": true,
                "Email": "a@example.org", "PhoneNumbers": [{"PhoneNumber": "555-0100", "PhoneNumberType": {"Name": "Cell"}}]},
                {"contactid": 11, "ApplicantType": "Occupant"}], "Leases": [{"LeaseID": 7, "UnitID": 3, "MoveInDate": "2025-01-01T00:00:00",
                "Unit": {"Name": "4B"}}]}, {"TenantID": 2, "Status": "Past"}]"#,
            r#""rm-session-token""#,
        ],
        "resman" => &[
            r#"<ResMan><Status>Success</Status><PropertyID>b342e58c-f5ba-4c63-b050-cf44439bb37d</PropertyID><Response>&lt;ResidentTransactions&gt;&lt;Property&gt;
               &lt;RT_Customer&gt;&lt;CustomerID&gt;h1&lt;/CustomerID&gt;&lt;Customers&gt;&lt;MITS:Customer Type="current resident"&gt;
               &lt;CustomerID&gt;c1&lt;/CustomerID&gt;&lt;MITS:Name&gt;&lt;MITS:FirstName&gt;A&lt;/MITS:FirstName&gt;&lt;/MITS:Name&gt;
               &lt;/MITS:Customer&gt;&lt;/Customers&gt;&lt;/RT_Customer&gt;&lt;/Property&gt;&lt;/ResidentTransactions&gt;</Response></ResMan>"#,
            r#"<ResMan><Status>Failed</Status><ErrorDescription>Invalid ApiKey</ErrorDescription></ResMan>"#,
        ],
        "mri" => &[
            r#"{"odata.metadata": "m", "nextLink": "https://f.example/mriapiservices/api.asp?%24format=xml&_next=ae49",
                "value": [{"ResidentNameID": "0000000001", "ResidentStatus": "Co-Resident", "IsCurrent": "Y", "UnitID": "101",
                "Email": "a@example.org", "CellPhoneNumber": "555", "OccupyDate": "2018-01-12T00:00:00.0000000"}]}"#,
            r#"{"value": [{"Error": {"Message": "Invalid user name"}}]}"#,
        ],
        "scim" => &[
            r#"{"totalResults": 2, "startIndex": 1, "Resources": [{"id": "u1", "externalId": "ns/it/1/7", "userName": "a@example.org",
                "name": {"givenName": "A", "familyName": "B"}, "emails": [{"value": "a@example.org", "primary": true}],
                "phoneNumbers": [{"value": "555", "type": "mobile"}], "active": true}]}"#,
            r#"{"patch": {"supported": true}, "filter": {"supported": true, "maxResults": 200}}"#,
            r#"{"totalResults": 1, "Resources": [{"id": "g1", "displayName": "Harbor View unit 4B",
                "externalId": "ns/it/group/Harbor View unit 4B", "members": [{"value": "u1"}, {"display": "no value"}]}]}"#,
        ],
        "door" => &[
            r#"{"users": [{"userUuid": "u", "firstName": "A", "lastName": "B", "email": "", "phone": "+15550100",
                "accesses": [{"doorUuid": "d", "startTime": "2026-01-01T00:00:00Z", "endTime": null, "granter": {"type": "PARTNER", "uuid": "p"}}]}],
                "nextPageToken": "2"}"#,
            r#"{"accesses": [{"userUuid": "u", "keyUuid": "k", "startTime": "2026-01-01T00:00:00Z", "endTime": "9999-12-31T23:59:59Z",
                "granter": {"type": "PARTNER", "uuid": "p"}}]}"#,
            r#"{"doors": [{"uuid": "d", "name": "4B", "accessibilityType": "PRIVATE"}]}"#,
        ],
        "token" => &[
            r#"{"access_token": "t", "token_type": "Bearer", "expires_in": 86400}"#,
            r#"{"access_token": "t", "expires_in": 9223372036854775807}"#,
            r#"{"access_token": "t"}"#,
        ],
        "identity_map" => &[
            "9b1d0000-0000-4000-8000-0000000000a1\n101/1 a0000000-0000-4000-8000-000000000001 d1,k1\n101/2 a2 \n",
            "\n102/7 u7 d7\n",
        ],
        _ => &[],
    }
}

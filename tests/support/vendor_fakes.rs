//! Stateful fakes of Entrata, AppFolio, Yardi Voyager and RealPage OneSite, built from the shapes
//! the vendors document (pms-apis.md §1–4; Entrata's from the real `getLeases` sample). They serve
//! the same [`Dataset`] as the Buildium fake, in each vendor's vocabulary, with paging where the
//! API pages, errors in 200 bodies, SOAP faults, and injected faults (401, 429, 5xx, slowness).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::buildium_fake::{ControlledFake, Controls, Dataset, Fault, Lease, Tenant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Entrata,
    Appfolio,
    Yardi,
    Realpage,
}

impl Vendor {
    pub fn provider(self) -> &'static str {
        match self {
            Vendor::Entrata => "entrata",
            Vendor::Appfolio => "appfolio",
            Vendor::Yardi => "yardi",
            Vendor::Realpage => "realpage",
        }
    }

    /// The Secret keys and values the fake accepts.
    pub fn credentials(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Vendor::Entrata => vec![("apiKey", "entrata-key-9Qd")],
            Vendor::Appfolio => vec![("clientId", "af-client"), ("clientSecret", "af-secret-77x")],
            Vendor::Yardi => vec![
                ("username", "yardi-user"),
                ("password", "yardi-pass-55k"),
                ("serverName", "afqoml_test"),
                ("database", "afqoml_test"),
                ("platform", "SQL Server"),
                ("interfaceEntity", "Door Sync"),
                ("interfaceLicense", "LICENSE-3Zt"),
            ],
            Vendor::Realpage => vec![("pmcId", "4248314"), ("licenseKey", "rp-license-8Hq")],
        }
    }
}

struct Inner {
    controls: Controls,
    credentials: BTreeMap<String, String>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running vendor fake. Dropping it stops the server.
pub struct VendorFake {
    vendor: Vendor,
    addr: SocketAddr,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VendorFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VendorFake {
    pub async fn start(vendor: Vendor, data: Dataset) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            controls: Controls::new(data),
            credentials: vendor.credentials().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }));
        let app = Router::new()
            .route("/leases", post(entrata))
            .route("/api/v2/reports/tenant_directory.json", post(appfolio))
            .route("/ItfResidentData.asmx", post(yardi))
            .route("/rpx", post(realpage))
            .with_state(inner.clone());
        let (addr, task) = super::buildium_fake::serve("127.0.0.1:0".parse().unwrap(), app).await;
        Self { vendor, addr, inner, task }
    }

    /// What to put in `spec.pms.baseUrl`.
    pub fn url(&self) -> String {
        match self.vendor {
            Vendor::Realpage => format!("http://{}/rpx", self.addr),
            _ => format!("http://{}", self.addr),
        }
    }
}

impl ControlledFake for VendorFake {
    fn with_controls<R>(&self, f: impl FnOnce(&mut Controls) -> R) -> R {
        f(&mut self.inner.lock().unwrap().controls)
    }
}

/// What the injected fault of a property asks for, consuming a rate-limit count.
async fn fault_for(state: &Shared, property: i64) -> Option<Fault> {
    let fault = state.lock().unwrap().controls.take_fault(&[property]);
    if let Some(Fault::Slow(delay)) = fault {
        tokio::time::sleep(delay).await;
        return None;
    }
    fault
}

/// Transport-level faults every vendor answers the same way.
fn transport_fault(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::ServerError => Some((StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response()),
        Fault::RateLimited { retry_after, .. } => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded").into_response();
            r.headers_mut().insert("retry-after", retry_after.to_string().parse().unwrap());
            Some(r)
        }
        _ => None,
    }
}

fn us_date(iso: &Option<String>) -> Option<String> {
    let iso = iso.as_deref()?;
    let (y, rest) = iso.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    Some(format!("{m}/{d}/{y}"))
}

fn leases_of(data: &Dataset, property: i64) -> Vec<Lease> {
    data.properties.iter().filter(|p| p.id == property).flat_map(|p| p.leases.clone()).collect()
}

/// A tenant's status in the vendor's words; any other status passes through as written.
fn person_status(t: &Tenant, current: &str, future: &str, past: &str) -> String {
    match t.status.as_str() {
        "Current" => current,
        "Future" => future,
        "MovedOut" => past,
        other => other,
    }
    .to_string()
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

// ---- Entrata: JSON-RPC, errors in 200 bodies, page_no/per_page ----

fn entrata_error(code: u32, message: &str) -> Response {
    axum::Json(json!({"response": {"error": {"code": code, "message": message}}})).into_response()
}

async fn entrata(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return entrata_error(400, "Invalid JSON"),
    };
    let property: i64 = request["method"]["params"]["propertyId"].as_str().and_then(|p| p.parse().ok()).unwrap_or(-1);
    let query = query.unwrap_or_default();
    let (ok, max_page) = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/leases?{query} property={property}"));
        let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
        (Some(key) == inner.credentials.get("apiKey").map(String::as_str), inner.controls.max_page)
    };
    if !ok || request["auth"]["type"] != "apikey" {
        return entrata_error(113, "Authorization failed: invalid API key");
    }
    if request["method"]["name"] != "getLeases" {
        return entrata_error(301, "Method not found");
    }
    match fault_for(&state, property).await {
        Some(Fault::Unauthorized) => return entrata_error(113, "Authorization failed: invalid API key"),
        Some(Fault::VendorError) => return entrata_error(500, "Internal error while processing the request"),
        Some(f) => {
            if let Some(r) = transport_fault(&f) {
                return r;
            }
        }
        None => {}
    }
    let param =
        |name: &str| between(&format!("&{query}&"), &format!("&{name}="), "&").and_then(|v| v.parse::<usize>().ok());
    let page_no = param("page_no").unwrap_or(1).max(1);
    let per_page = param("per_page").unwrap_or(usize::MAX).min(max_page);
    let leases = leases_of(&state.lock().unwrap().controls.data, property);
    let page: Vec<Value> =
        leases.iter().skip((page_no - 1) * per_page).take(per_page).map(|l| entrata_lease(property, l)).collect();
    axum::Json(json!({"response": {"requestId": request["requestId"], "code": 200,
        "result": {"currencyCode": "USD", "leases": {"lease": page}}}}))
    .into_response()
}

fn entrata_lease(property: i64, l: &Lease) -> Value {
    let (type_id, interval) = match l.status.as_str() {
        "Active" => ("4", "Current"),
        "Future" => ("3", "Future"),
        _ => ("6", "Past"),
    };
    let customer = |t: &Tenant, kind: &str, status: String| {
        json!({"id": t.id, "customerType": kind, "relationshipName": kind, "firstName": t.first_name, "lastName": t.last_name,
            "nameFull": format!("{}, {}", t.last_name, t.first_name), "emailAddress": t.email, "leaseCustomerStatus": status,
            "moveInDate": us_date(&t.move_in),
            "phones": {"phone": t.phones.iter().map(|(n, _)| json!({"phoneTypeName": "Primary", "phoneType": "personal", "phoneNumber": n, "countryCode": 1})).collect::<Vec<_>>()}})
    };
    let mut customers: Vec<Value> = l
        .tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            customer(t, if i == 0 { "Primary" } else { "Responsible" }, person_status(t, "Current", "Future", "Past"))
        })
        .collect();
    customers.extend(l.cosigners.iter().map(|c| customer(c, "Guarantor", interval.to_string())));
    json!({"id": l.id.to_string(), "leaseStatusTypeId": type_id, "propertyId": property.to_string(), "leaseIntervalStatus": interval,
        "moveInDate": us_date(&l.from), "isMonthToMonth": 0, "unitId": (l.id * 10).to_string(),
        "unitSpaces": {"unitSpace": [{"unitSpaceId": l.id * 11, "unitSpace": l.unit}]},
        "customers": {"customer": customers},
        "leaseIntervals": {"leaseInterval": [{"id": l.id * 7, "startDate": us_date(&l.from), "endDate": us_date(&l.to),
            "leaseIntervalTypeName": "Application", "leaseIntervalStatusTypeName": interval}]}})
}

// ---- AppFolio: Reports API v2, Basic auth, next_page_url ----

async fn appfolio(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let query = query.unwrap_or_default();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    let (authorized, max_page) = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/api/v2/reports/tenant_directory.json?{query}"));
        let expected = format!("{}:{}", inner.credentials["clientId"], inner.credentials["clientSecret"]);
        let given = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "));
        let decoded = given.and_then(base64_decode);
        (decoded.as_deref() == Some(expected.as_str()), inner.controls.max_page)
    };
    if !authorized {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "Unauthorized"}))).into_response();
    }
    // The first request names the property in its JSON filters; page links carry it in the query.
    let (property, page) = if body.is_empty() {
        let p = between(&format!("&{query}&"), "&property=", "&").and_then(|v| v.parse().ok()).unwrap_or(-1);
        let n = between(&format!("&{query}&"), "&page=", "&").and_then(|v| v.parse().ok()).unwrap_or(1usize);
        (p, n)
    } else {
        let filters: Value = serde_json::from_slice(&body).unwrap_or_default();
        let p = filters["properties"]["properties_ids"][0].as_str().and_then(|v| v.parse().ok()).unwrap_or(-1);
        (p, 1)
    };
    match fault_for(&state, property).await {
        Some(Fault::Unauthorized) => {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "Unauthorized"}))).into_response();
        }
        Some(Fault::VendorError) => {
            return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"error": "Invalid filters"}))).into_response();
        }
        Some(f) => {
            if let Some(r) = transport_fault(&f) {
                return r;
            }
        }
        None => {}
    }
    let leases = leases_of(&state.lock().unwrap().controls.data, property);
    let rows: Vec<Value> = leases
        .iter()
        .flat_map(|l| l.tenants.iter().map(move |t| (l, t)))
        .map(|(l, t)| {
            json!({"selected_tenant_id": t.id, "occupancy_id": l.id, "property_id": property, "unit": l.unit,
                "first_name": t.first_name, "last_name": t.last_name, "emails": t.email.clone().unwrap_or_default(),
                "phone_numbers": t.phones.iter().map(|(n, _)| format!("Mobile: {n}")).collect::<Vec<_>>().join(", "),
                "status": person_status(t, "Current", "Future", "Past"), "tenant_type": "Financially Responsible",
                "move_in": us_date(&t.move_in), "lease_from": us_date(&l.from), "lease_to": us_date(&l.to)})
        })
        .collect();
    let start = (page - 1) * max_page;
    let next = (start + max_page < rows.len())
        .then(|| format!("http://{host}/api/v2/reports/tenant_directory.json?page={}&property={property}", page + 1));
    let results: Vec<Value> = rows.into_iter().skip(start).take(max_page).collect();
    axum::Json(json!({"results": results, "next_page_url": next})).into_response()
}

fn base64_decode(text: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|a| *a == c)? as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---- Yardi Voyager: SOAP ItfResidentData, Messages in 200, faults ----

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn soap(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

fn soap_fault(message: &str) -> Response {
    let body = soap(&format!(
        "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>{}</faultstring></soap:Fault>",
        xml(message)
    ));
    (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

fn soap_ok(body: String) -> Response {
    (StatusCode::OK, [("content-type", "text/xml; charset=utf-8")], soap(&body)).into_response()
}

async fn yardi(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).to_string();
    let action = headers.get("soapaction").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let field = |name: &str| between(&body, &format!("<{name}>"), &format!("</{name}>")).unwrap_or("").to_string();
    let property: i64 = field("YardiPropertyId").parse().unwrap_or(-1);
    let authorized = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/ItfResidentData.asmx {action} property={property}"));
        [
            ("UserName", "username"),
            ("Password", "password"),
            ("ServerName", "serverName"),
            ("Database", "database"),
            ("Platform", "platform"),
            ("InterfaceEntity", "interfaceEntity"),
            ("InterfaceLicense", "interfaceLicense"),
        ]
        .iter()
        .all(|(element, key)| field(element) == xml(&inner.credentials[*key]))
    };
    if !action.ends_with("ItfResidentData/GetResidents\"") {
        return soap_fault("Server did not recognize the value of HTTP Header SOAPAction.");
    }
    let messages = |text: &str| {
        format!(
            "<GetResidentsResponse xmlns=\"http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentData\"><GetResidentsResult>\
             <Messages><Message messageType=\"Error\">{}</Message></Messages></GetResidentsResult></GetResidentsResponse>",
            xml(text)
        )
    };
    if !authorized {
        return soap_ok(messages("Login failed. Please check login credentials and try again."));
    }
    match fault_for(&state, property).await {
        Some(Fault::Unauthorized) => {
            return soap_ok(messages("Login failed. Please check login credentials and try again."));
        }
        Some(Fault::VendorError) => {
            return soap_fault("Server was unable to process request. ---> Invalid YardiPropertyId");
        }
        Some(f) => {
            if let Some(r) = transport_fault(&f) {
                return r;
            }
        }
        None => {}
    }
    let leases = leases_of(&state.lock().unwrap().controls.data, property);
    let mut residents = String::new();
    for l in &leases {
        for t in &l.tenants {
            let optional = |name: &str, value: Option<String>| {
                value.map(|v| format!("<{name}>{}</{name}>", xml(&v))).unwrap_or_default()
            };
            let phones: String = t
                .phones
                .iter()
                .map(|(n, kind)| format!("<Phone Type=\"{kind}\"><PhoneNumber>{}</PhoneNumber></Phone>", xml(n)))
                .collect();
            // Element order varies between Voyager versions: names before status here.
            residents.push_str(&format!(
                "<Resident tCode=\"{}\"><FirstName>{}</FirstName><LastName>{}</LastName><Status>{}</Status>{}{phones}\
                 <UnitCode>{}</UnitCode>{}{}{}</Resident>",
                t.id,
                xml(&t.first_name),
                xml(&t.last_name),
                person_status(t, "Current", "Future", "Past"),
                optional("Email", t.email.clone()),
                xml(&l.unit),
                optional("LeaseFromDate", us_date(&l.from)),
                optional("LeaseToDate", us_date(&l.to)),
                optional("MoveInDate", us_date(&t.move_in)),
            ));
        }
    }
    let document = format!(
        "<MITS-ResidentData><PropertyResidents><Residents>{residents}</Residents></PropertyResidents></MITS-ResidentData>"
    );
    // Odd property IDs get the result as an XML element, even ones as escaped text: both happen.
    let result = if property % 2 == 1 { document } else { xml(&document) };
    soap_ok(format!(
        "<GetResidentsResponse xmlns=\"http://tempuri.org/YSI.Interfaces.WebServices/ItfResidentData\">\
         <GetResidentsResult>{result}</GetResidentsResult></GetResidentsResponse>"
    ))
}

// ---- RealPage OneSite: RPX SOAP gateway, auth block, license faults ----

async fn realpage(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).to_string();
    let action = headers.get("soapaction").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let field =
        |name: &str| between(&body, &format!("<tem:{name}>"), &format!("</tem:{name}>")).unwrap_or("").to_string();
    let property: i64 = field("siteid").parse().unwrap_or(-1);
    let authorized = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/rpx {action} site={property}"));
        field("pmcid") == inner.credentials["pmcId"] && field("licensekey") == xml(&inner.credentials["licenseKey"])
    };
    if action != "\"http://tempuri.org/IRPXService/getresidentlist\"" {
        return soap_fault("The message with Action '' cannot be processed at the receiver.");
    }
    if !authorized {
        return soap_fault("Invalid LicenseKey or PMCID.");
    }
    match fault_for(&state, property).await {
        Some(Fault::Unauthorized) => return soap_fault("Invalid LicenseKey or PMCID."),
        Some(Fault::VendorError) => {
            return soap_fault("LicenseKey is not authorized to call the method getresidentlist.");
        }
        Some(f) => {
            if let Some(r) = transport_fault(&f) {
                return r;
            }
        }
        None => {}
    }
    let leases = leases_of(&state.lock().unwrap().controls.data, property);
    let iso = |d: &Option<String>| d.as_ref().map(|d| format!("{d}T00:00:00")).unwrap_or_default();
    let mut residents = String::new();
    for l in &leases {
        for (i, t) in l.tenants.iter().enumerate() {
            residents.push_str(&format!(
                "<resident><residentid>{}</residentid><residentmemberid>{}</residentmemberid><unitid>{}</unitid><unitnumber>{}</unitnumber>\
                 <firstname>{}</firstname><lastname>{}</lastname><email>{}</email><cellphone>{}</cellphone><leasestatus>{}</leasestatus>\
                 <headofhousehold>{}</headofhousehold><begindate>{}</begindate><enddate>{}</enddate><moveindate>{}</moveindate>\
                 <rent>1500.00</rent><balance>0.00</balance></resident>",
                l.id,
                t.id,
                l.id * 10,
                xml(&l.unit),
                xml(&t.first_name),
                xml(&t.last_name),
                xml(t.email.as_deref().unwrap_or("")),
                xml(t.phones.first().map(|(n, _)| n.as_str()).unwrap_or("")),
                person_status(t, "Current", "Applicant - Lease Signed", "Former"),
                i == 0,
                iso(&l.from),
                iso(&l.to),
                iso(&t.move_in),
            ));
        }
    }
    soap_ok(format!(
        "<getresidentlistResponse xmlns=\"http://tempuri.org/\"><getresidentlistResult><residentlist>{residents}</residentlist>\
         </getresidentlistResult></getresidentlistResponse>"
    ))
}

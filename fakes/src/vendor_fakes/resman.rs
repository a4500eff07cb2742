//! ResMan MITS `POST /MITS/GetResidentTransactions2_0`: form fields `IntegrationPartnerID`,
//! `ApiKey`, `AccountID`, `PropertyID`; a `<ResMan>` envelope whose `<Status>` is the error signal;
//! the MITS document HTML-escaped inside `<Response>` with `MITS:`-prefixed elements.
//! Shape: `resman/MITS-GetResidentTransactions2_0-response-first-100-of-283-rt-customers.xml`
//! (envelope, `RT_Customer` households with their own GUIDs, `Customer@Type` current/former/future
//! resident, emails inside `Address`, `Phone@Type`, `Lease` dates) and the request notes. The
//! error body of a failed Status was never captured: the fake's wording is its own.

use std::collections::HashMap;

use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};

use super::{Shared, injected_fault, leases_of, person_status, xml};

/// A GUID-shaped ID for a dataset number (households and people carry GUIDs in the capture).
pub(super) fn guid(kind: u32, id: i64) -> String {
    format!("{kind:08x}-0000-4000-8000-{id:012x}")
}

fn envelope(status: &str, property: &str, inner: &str) -> Response {
    let body = format!(
        "<ResMan><MethodName>GetResidentTransactions2_0</MethodName><Status>{status}</Status><AccountID>400</AccountID>\
         <PropertyID>{}</PropertyID>{inner}</ResMan>",
        xml(property)
    );
    ([("content-type", "text/xml; charset=utf-8")], body).into_response()
}

pub(super) async fn transactions(State(state): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let property_text = field("PropertyID");
    let property: i64 = property_text.parse().unwrap_or(-1);
    let authorized = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!("/MITS/GetResidentTransactions2_0 property={property_text}"));
        let creds = &inner.credentials;
        field("IntegrationPartnerID") == creds["integrationPartnerId"]
            && field("ApiKey") == creds["apiKey"]
            && field("AccountID") == creds["accountId"]
    };
    let failed = |description: &str| {
        envelope("Failed", &property_text, &format!("<ErrorDescription>{}</ErrorDescription>", xml(description)))
    };
    if !authorized {
        return failed("Invalid IntegrationPartnerID or ApiKey for this AccountID.");
    }
    if let Some(answer) = injected_fault(
        &state,
        property,
        || failed("Invalid IntegrationPartnerID or ApiKey for this AccountID."),
        || failed("Property not found."),
    )
    .await
    {
        return answer;
    }
    let inner = state.lock().unwrap();
    let mut households = String::new();
    for l in leases_of(&inner.controls.data, property) {
        let mut customers = String::new();
        for t in &l.tenants {
            let kind = person_status(t, "current resident", "future resident", "former resident");
            let email = t.email.as_ref().map(|e| format!("<MITS:Email>{}</MITS:Email>", xml(e))).unwrap_or_default();
            let phones: String = t
                .phones
                .iter()
                .map(|(n, kind)| {
                    let kind = if kind == "Cell" { "cell" } else { "home" };
                    format!("<MITS:Phone Type=\"{kind}\"><MITS:PhoneNumber>{}</MITS:PhoneNumber></MITS:Phone>", xml(n))
                })
                .collect();
            let date = |name: &str, value: &Option<String>| {
                value.as_ref().map(|v| format!("<MITS:{name}>{v}</MITS:{name}>")).unwrap_or_default()
            };
            let moved_out = match t.status.as_str() {
                "MovedOut" => date("ActualMoveOut", &t.move_out.clone().or_else(|| Some("2025-06-30".into()))),
                _ => String::new(),
            };
            customers.push_str(&format!(
                "<MITS:Customer Type=\"{kind}\"><MITS:Description></MITS:Description><CustomerID>{}</CustomerID>\
                 <MITS:Property><MITS:PrimaryID>{property}</MITS:PrimaryID><MITS:MarketingName>Harbor View</MITS:MarketingName>\
                 <MITS:UnitID>{}</MITS:UnitID></MITS:Property><MITS:Name><MITS:FirstName>{}</MITS:FirstName><MITS:MiddleName />\
                 <MITS:LastName>{}</MITS:LastName></MITS:Name><MITS:Address Type=\"property\"><MITS:Address1>1 Harbor Way</MITS:Address1>\
                 <MITS:Address2>{}</MITS:Address2><MITS:City>Boston</MITS:City>{email}</MITS:Address>{phones}<MITS:Lease>\
                 <MITS:CurrentRent>985.00</MITS:CurrentRent>{}{}{}{}{moved_out}<MITS:ResponsibleForLease>true</MITS:ResponsibleForLease>\
                 </MITS:Lease></MITS:Customer>",
                guid(2, t.id),
                xml(&l.unit),
                xml(&t.first_name),
                xml(&t.last_name),
                xml(&l.unit),
                date("ExpectedMoveInDate", &t.move_in),
                date("LeaseFromDate", &l.from),
                date("LeaseToDate", &l.to),
                date("ActualMoveIn", &t.move_in.clone().filter(|_| t.status != "Future")),
            ));
        }
        households.push_str(&format!(
            "<RT_Customer><CustomerID>{}</CustomerID><Customers>{customers}</Customers><RT_Unit><UnitID>{}</UnitID>\
             <NumberOccupants Total=\"{}\" /></RT_Unit><PaymentAccepted>Yes</PaymentAccepted><RTServiceTransactions /></RT_Customer>",
            guid(1, l.id),
            xml(&l.unit),
            l.tenants.len(),
        ));
    }
    let document = format!(
        "<ResidentTransactions xmlns:MITS=\"http://my-company.com/namespace\"><Property><PropertyID>\
         <MITS:Identification Type=\"other\"><MITS:PrimaryID>{property}</MITS:PrimaryID></MITS:Identification>\
         </PropertyID>{households}</Property></ResidentTransactions>"
    );
    envelope("Success", &property_text, &format!("<Response>{}</Response>", xml(&document)))
}

//! MRI API Services `GET /mriapiservices/api.asp?$api=MRI_S-PMRM_ResidentLeaseDetailsByPropertyID&$format=json&RMPROPID=…`
//! with Basic auth (`clientId/databaseName/username/partnerKey`), the OData-style envelope
//! (`odata.metadata`, `value[]`, `nextLink` with `%24top`/`%24skip`), every value a string.
//! Shape: `mri/MRI_S-PMRM_ResidentLeaseDetailsByPropertyID-response.json` (a captured row is the
//! template: every field, in its order) and the XML capture's statuses (Current, Co-Resident,
//! Old) with `IsCurrent`. Errors in HTTP 200 as `value[0].Error.Message` follow the one (hand
//! written) client mock there is.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Shared, injected_fault, leases_of, sample};

const API: &str = "MRI_S-PMRM_ResidentLeaseDetailsByPropertyID";

/// The captured first row: every field a lease-details row has (read once).
fn template() -> &'static Value {
    static ROW: OnceLock<Value> = OnceLock::new();
    ROW.get_or_init(|| sample("mri/MRI_S-PMRM_ResidentLeaseDetailsByPropertyID-response.json")["value"][0].clone())
}

fn error_in_200(message: &str) -> Response {
    axum::Json(json!({"value": [{"Error": {"Message": message}}]})).into_response()
}

pub(super) async fn api(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let q = |name: &str| query.get(name).cloned().unwrap_or_default();
    let property_text = q("RMPROPID");
    let property: i64 = property_text.parse().unwrap_or(-1);
    let authorized = {
        let mut inner = state.lock().unwrap();
        inner.controls.requests.push(format!(
            "/mriapiservices/api.asp {} property={property_text} skip={}",
            q("$api"),
            q("$skip")
        ));
        let c = &inner.credentials;
        let user = format!("{}/{}/{}/{}", c["clientId"], c["databaseName"], c["username"], c["partnerKey"]);
        super::basic_auth(&headers) == Some(format!("{user}:{}", c["password"]))
    };
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    if q("$api") != API || q("$format") != "json" {
        return error_in_200("The API or format is not available to this partner.");
    }
    if let Some(answer) = injected_fault(
        &state,
        property,
        || error_in_200("Login failed: invalid user name or password."),
        || error_in_200("RMPROPID is not a valid property."),
    )
    .await
    {
        return answer;
    }
    let inner = state.lock().unwrap();
    let mut rows = Vec::new();
    for l in leases_of(&inner.controls.data, property) {
        let head = l.tenants.iter().find(|t| t.status != "MovedOut").or(l.tenants.first()).map(|t| t.id);
        for t in &l.tenants {
            let mut row = template().clone();
            let text = |v: Option<&String>| v.map_or(Value::Null, |v| Value::String(v.clone()));
            let date = |v: &Option<String>| v.as_ref().map_or(Value::Null, |d| Value::String(format!("{d}T00:00:00")));
            let gone = t.status == "MovedOut";
            let (status, current) = match (Some(t.id) == head, t.status.as_str()) {
                (_, "MovedOut") => ("Old", "N"),
                (_, "Future") => ("New", "N"),
                (true, _) => ("Current", "Y"),
                (false, _) => ("Co-Resident", "Y"),
            };
            let cell = t.phones.iter().find(|(_, k)| k == "Cell").map(|(n, _)| n);
            let home = t.phones.iter().find(|(_, k)| k != "Cell").map(|(n, _)| n);
            for (key, value) in [
                ("ResidentNameID", Value::String(format!("{:010}", t.id))),
                ("PropertyID", Value::String(property_text.clone())),
                ("UnitID", Value::String(l.unit.clone())),
                ("LeaseID", Value::String(l.id.to_string())),
                ("FirstName", Value::String(t.first_name.clone())),
                ("LastName", Value::String(t.last_name.clone())),
                ("ResidentStatus", Value::String(status.into())),
                ("IsCurrent", Value::String(current.into())),
                ("Email", text(t.email.as_ref())),
                ("PhoneNumber", text(home)),
                ("CellPhoneNumber", text(cell)),
                ("LeaseStart", date(&l.from)),
                ("LeaseEnd", date(&l.to)),
                ("OccupyDate", date(&t.move_in)),
                (
                    "ResidentVacateDate",
                    if gone { date(&t.move_out.clone().or(Some("2025-06-30".into()))) } else { Value::Null },
                ),
                ("LeaseMoveOut", Value::Null),
                ("DateNotified", Value::Null),
            ] {
                row[key] = value;
            }
            rows.push(row);
        }
    }
    let top = inner.controls.max_page.min(300);
    let skip: usize = q("$skip").parse().unwrap_or(0);
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let next = (skip + top < rows.len()).then(|| {
        format!(
            "http://{host}/mriapiservices/api.asp?%24api={API}&RMPROPID={property_text}&%24format=json&%24top={top}&%24skip={}",
            skip + top
        )
    });
    let page: Vec<Value> = rows.into_iter().skip(skip).take(top).collect();
    let metadata = format!(
        "http://{host}/mriapiservices/api.asp?$api={API}&$metadata#MRI.{0}-container/{0}",
        API.to_ascii_lowercase()
    );
    let mut body = json!({"odata.metadata": metadata, "value": page});
    if let Some(next) = next {
        body["nextLink"] = Value::String(next);
    }
    axum::Json(body).into_response()
}

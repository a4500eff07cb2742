//! Rent Manager 12: `POST /Authentication/AuthorizeUser` answering the token as a JSON string,
//! `GET /Tenants` with `filters`, `embeds`, `pageSize`/`pageNumber`, a bare JSON array and
//! `x-total-results`; errors as `{UserMessage, DeveloperMessage, ErrorCode}`.
//! Shape: `rentmanager/request-examples-and-notes.txt` only — no response was ever captured, so
//! the tenant, contact and lease fields are the notes' field lists; each person of the dataset is
//! one tenant account (status is per tenant) with one contact. Embeds not asked for are left out,
//! as the notes say tenants alone carry no phone, email, unit or move-in.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Shared, injected_fault, leases_of, person_status};

fn error(status: StatusCode, message: &str, code: u32) -> Response {
    let body = json!({"UserMessage": message, "DeveloperMessage": message, "ErrorCode": code, "Errors": []});
    (status, axum::Json(body)).into_response()
}

pub(super) async fn authorize(State(state): State<Shared>, body: axum::body::Bytes) -> Response {
    let login: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = state.lock().unwrap();
    inner.controls.requests.push("/Authentication/AuthorizeUser".into());
    let creds = &inner.credentials;
    let location_ok = login["LocationID"].as_u64().map(|n| n.to_string()) == creds.get("locationId").cloned();
    if login["Username"].as_str() != creds.get("username").map(String::as_str)
        || login["Password"].as_str() != creds.get("password").map(String::as_str)
        || !location_ok
    {
        return error(StatusCode::UNAUTHORIZED, "Invalid username, password or location", 401);
    }
    inner.sessions += 1;
    let token = format!("rm-session-{}", inner.sessions);
    inner.tokens.push(token.clone());
    (StatusCode::OK, axum::Json(Value::String(token))).into_response()
}

pub(super) async fn tenants(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    // Query names are case-insensitive on Rent Manager's side.
    let q = |name: &str| query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    let property: i64 = q("filters")
        .and_then(|f| f.strip_prefix("PropertyID,eq,").map(|id| id.trim().parse().unwrap_or(-1)))
        .unwrap_or(-1);
    {
        let mut inner = state.lock().unwrap();
        inner
            .controls
            .requests
            .push(format!("/Tenants property={property} page={}", q("pageNumber").unwrap_or_default()));
        let token_ok = header("x-rm12api-apitoken").is_some_and(|t| inner.tokens.contains(&t));
        let location_ok = header("x-rm12api-locationid") == inner.credentials.get("locationId").cloned();
        if !token_ok || !location_ok {
            return error(StatusCode::UNAUTHORIZED, "Authorization has been denied for this request.", 401);
        }
    }
    if let Some(answer) = injected_fault(
        &state,
        property,
        || error(StatusCode::UNAUTHORIZED, "Authorization has been denied.", 401),
        || error(StatusCode::BAD_REQUEST, "The filter PropertyID is not valid.", 2011),
    )
    .await
    {
        return answer;
    }
    let embeds: Vec<String> =
        q("embeds").unwrap_or_default().split(',').map(|e| e.trim().to_ascii_lowercase()).collect();
    let has = |e: &str| embeds.iter().any(|x| x == e);
    let inner = state.lock().unwrap();
    let mut rows = Vec::new();
    for l in leases_of(&inner.controls.data, property) {
        for t in &l.tenants {
            let mut tenant = json!({
                "TenantID": 7000 + t.id, "TenantDisplayID": t.id, "Name": format!("{} {}", t.first_name, t.last_name),
                "FirstName": t.first_name, "LastName": t.last_name, "PropertyID": property,
                "Status": person_status(t, "Current", "Future", "Past"), "RentDueDay": 1, "RentPeriod": "Monthly",
            });
            if has("contacts") {
                let mut contact = json!({"ContactID": t.id, "FirstName": t.first_name, "LastName": t.last_name,
                    "IsPrimary": true, "Email": t.email, "ApplicantType": "Primary"});
                if has("contacts.phonenumbers") {
                    contact["PhoneNumbers"] = t
                        .phones
                        .iter()
                        .map(|(n, kind)| {
                            let name = if kind == "Cell" { "Cell" } else { "Home" };
                            json!({"PhoneNumber": n, "PhoneNumberTypeID": if name == "Cell" { 3 } else { 1 },
                                "PhoneNumberType": {"Name": name}, "IsPrimary": true})
                        })
                        .collect();
                }
                tenant["Contacts"] = json!([contact]);
            }
            if has("leases") {
                let mut lease = json!({"LeaseID": l.id, "TenantID": 7000 + t.id, "UnitID": l.id * 10,
                    "PropertyID": property, "MoveInDate": t.move_in.as_ref().map(|d| format!("{d}T00:00:00")),
                    "MoveOutDate": t.move_out.as_ref().map(|d| format!("{d}T00:00:00"))});
                if has("leases.unit") {
                    lease["Unit"] = json!({"UnitID": l.id * 10, "Name": l.unit});
                }
                tenant["Leases"] = json!([lease]);
            }
            rows.push(tenant);
        }
    }
    let total = rows.len();
    let size =
        q("pageSize").and_then(|s| s.parse::<usize>().ok()).unwrap_or(1000).clamp(1, 1000).min(inner.controls.max_page);
    let page = q("pageNumber").and_then(|s| s.parse::<usize>().ok()).unwrap_or(1).max(1);
    let body: Vec<Value> = rows.into_iter().skip((page - 1) * size).take(size).collect();
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert("x-total-results", total.to_string().parse().unwrap());
    response
}

//! Buildium Open API v1 wire types (the subset of `LeaseMessage` and `TenantMessage` we read).
//! Every field is optional: a missing field must not fail a whole property's parse. IDs are
//! integers in the spec; one sent as a numeric string is read too (issue 11: an ID of another
//! type must parse), anything else is no ID.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LeaseMessage {
    #[serde(deserialize_with = "lenient_id")]
    pub id: Option<i64>,
    #[serde(deserialize_with = "lenient_id")]
    pub property_id: Option<i64>,
    pub unit_number: Option<String>,
    pub lease_from_date: Option<String>,
    pub lease_to_date: Option<String>,
    /// `Active`, `Past`, `Future`.
    pub lease_status: Option<String>,
    pub is_eviction_pending: Option<bool>,
    pub current_tenants: Option<Vec<TenantMessage>>,
    pub tenants: Option<Vec<LeaseTenantMessage>>,
    pub move_out_data: Option<Vec<LeaseMoveOutDataMessage>>,
    /// `CosignerMessage`s: the same person fields as a tenant.
    pub cosigners: Option<Vec<TenantMessage>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LeaseTenantMessage {
    #[serde(deserialize_with = "lenient_id")]
    pub id: Option<i64>,
    /// `MovedOut`, `Current`, `Future`.
    pub status: Option<String>,
    pub move_in_date: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LeaseMoveOutDataMessage {
    #[serde(deserialize_with = "lenient_id")]
    pub tenant_id: Option<i64>,
    pub move_out_date: Option<String>,
    pub notice_given_date: Option<String>,
}

/// `Debug` shows the ID only: the rest is personal data.
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TenantMessage {
    #[serde(deserialize_with = "lenient_id")]
    pub id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub alternate_email: Option<String>,
    pub phone_numbers: Option<Vec<PhoneNumberMessage>>,
    pub leases: Option<Vec<LeaseMessage>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PhoneNumberMessage {
    pub number: Option<String>,
    /// `NotSet`, `Home`, `Office`, `Cell`, `Personal`, `Fax`, `Other`.
    #[serde(rename = "Type")]
    pub kind: Option<String>,
}

/// `ApiErrorResponse`: only the machine-readable code is kept (`UserMessage` may echo input).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ApiErrorResponse {
    pub error_code: Option<String>,
}

impl std::fmt::Debug for TenantMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantMessage").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A listed record's `Id`, for the paging consistency check.
pub trait Identified {
    fn record_id(&self) -> Option<i64>;
}

impl Identified for LeaseMessage {
    fn record_id(&self) -> Option<i64> {
        self.id
    }
}

impl Identified for TenantMessage {
    fn record_id(&self) -> Option<i64> {
        self.id
    }
}

/// An integer ID sent as a number or as a numeric string; `None` for null or anything else.
fn lenient_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

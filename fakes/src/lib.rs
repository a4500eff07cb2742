//! Stateful fakes of the vendors' APIs, held to evidence none of the connectors wrote: Buildium's
//! and DOOR's OpenAPI specs, and the captured responses of `../shared/vendor-samples/`. Used by the
//! end-to-end tests (`tests/support/`) and by the local demo's `pms-sync-sandbox`.

pub mod buildium_fake;
pub mod door_fake;
pub mod scim_fake;
pub mod traffic;
pub mod vendor_fakes;

//! `pms-sync recover NAME`: rebuilds the DOOR identity map of an integration whose map was lost
//! (deleted, not restored from a backup), so that its next sync revokes what moved-out residents
//! still hold instead of leaving it open for good.
//!
//! The controller stops such an integration (`Ready=False`, reason `StateLost`) rather than start
//! afresh: only what the map records is ours to revoke. This command reads the integration's PMS
//! residents of the attached properties (current or past: whatever the PMS lists) and DOOR's users
//! of the building, matches them by email (exactly one DOOR user per email, never guessed), takes
//! the grants our partner holds for each on the building's doors and keys, and shows the plan:
//! counts and IDs only. Confirmed, it saves the map (bound to the integration's UID) and requests
//! a sync. DOOR users with our partner's grants whom no resident matches are listed, not
//! recorded: a person decides about them.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::Api;

use crate::api::{PmsIntegration, REQUESTED_AT_ANNOTATION};
use crate::commands::{self, FAILED, OK, Target};
use crate::controller::identity_store::{ConfigMapStore, building_key};
use crate::controller::{build, dereference, validate};
use crate::destination::door::MappingStore;
use crate::domain::{Scope, placeholder};
use crate::http::{HttpClient, HttpSettings, RateLimiter};
use crate::metrics::Metrics;
use crate::pms::PmsSource;

pub struct RecoverArgs {
    pub target: Target,
    /// Our partner UUID in DOOR, when the building's grants come from several partners.
    pub granter: Option<String>,
    /// Save without asking.
    pub yes: bool,
    /// Where the controller keeps its state.
    pub state_namespace: String,
}

pub async fn run(args: RecoverArgs) -> u8 {
    recover(&args).await.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        FAILED
    })
}

async fn recover(args: &RecoverArgs) -> Result<u8, String> {
    let client = kube::Client::try_default().await.map_err(|e| format!("no cluster to talk to: {e}"))?;
    let namespace = args.target.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
    let name = &args.target.name;
    let api: Api<PmsIntegration> = Api::namespaced(client.clone(), &namespace);
    let obj = api.get(name).await.map_err(|e| format!("cannot read {namespace}/{name}: {e}"))?;
    let names = validate::secret_names(&obj.spec);
    let secrets = dereference::read(&client, &namespace, &names).await.map_err(|e| e.to_string())?;
    let validated = validate::validate(&obj.spec, &namespace, |n| secrets.get(n))
        .map_err(|f| format!("{}: {}", f.reason, f.message))?;
    let Some((url, uuid)) = validated.spec.door_building() else {
        return Err(format!("{namespace}/{name} is not a DOOR integration: it keeps no identity map to recover"));
    };
    let store = Arc::new(ConfigMapStore::new(
        client.clone(),
        &args.state_namespace,
        &namespace,
        name,
        obj.metadata.uid.clone(),
        &building_key(url, uuid),
    ));
    if store.load().await.map_err(|e| e.to_string())?.is_some() {
        println!("{namespace}/{name} has its identity map: nothing to recover");
        return Ok(OK);
    }

    let http = |target| HttpClient::new(target, HttpSettings::default(), Metrics::default());
    let limiter = |_: String, limit| Arc::new(RateLimiter::new(limit));
    let parts = || build::DoorParts { tokens: Default::default(), store: store.clone(), expects_map: false };
    let (connector, target) = build::clients(&validated, http, &limiter, parts);
    let crate::destination::Target::Door(door) = target else {
        return Err(format!("{namespace}/{name} is not a DOOR integration"));
    };
    let scope = Scope::new(&namespace, name);
    let residents = residents(&connector, &scope, &validated.spec.property_ids).await?;
    eprintln!("read {} residents with an email from {} properties", residents.len(), validated.spec.property_ids.len());
    let rebuilt = door.rebuild(scope.prefix(), &residents, args.granter.as_deref()).await.map_err(|e| e.to_string())?;

    println!("recovery plan for {namespace}/{name} (DOOR building {uuid}):");
    let granter = rebuilt.mapping.granter.as_deref().unwrap_or("none: no partner grants in the building");
    println!("  partner: {granter}");
    println!(
        "  residents matched to a DOOR user with our grants: {} ({} grants recorded)",
        rebuilt.mapping.entries.len(),
        rebuilt.grants()
    );
    for (identity, entry) in &rebuilt.mapping.entries {
        println!("    {}{identity} -> DOOR user {} ({} grants)", scope.prefix(), entry.user, entry.grants.len());
    }
    if !rebuilt.ambiguous.is_empty() {
        println!("  left out, several DOOR users share their email: {}", rebuilt.ambiguous.join(", "));
    }
    if !rebuilt.unmatched_users.is_empty() {
        println!(
            "  DOOR users with our grants in the building whom no resident matches (not recorded, so never revoked by \
             the controller; look at them in DOOR): {}",
            rebuilt.unmatched_users.join(", ")
        );
    }
    println!("once saved, the next sync keeps the grants of residents with access and revokes the others'.");
    if !args.yes && !commands::confirm("save this identity map and request a sync? [y/N] ")? {
        println!("not saved");
        return Ok(FAILED);
    }
    door.save_rebuilt(&rebuilt).await.map_err(|e| e.to_string())?;
    let token = format!("recover-{}", jiff::Timestamp::now());
    commands::annotate(&api, name, REQUESTED_AT_ANNOTATION, &token).await?;
    println!("saved the identity map of {namespace}/{name} and requested a sync ({token})");
    Ok(OK)
}

/// Each attached property's residents, as (identity, email): every status the PMS lists, the
/// first usable email of each (placeholders dropped, as a sync does), each identity once.
async fn residents(
    connector: &crate::pms::Connector,
    scope: &Scope,
    properties: &[String],
) -> Result<Vec<(String, String)>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for property in properties {
        let listed = connector.list_residents(property).await.map_err(|e| format!("property {property}: {e}"))?;
        for mut resident in listed {
            placeholder::scrub(&mut resident);
            let identity = scope.external_id(&resident.property_id, &resident.person_id);
            let Some(email) = resident.emails.iter().map(|e| e.trim()).find(|e| !e.is_empty()) else { continue };
            if seen.insert(identity.clone()) {
                out.push((identity, email.to_string()));
            }
        }
    }
    Ok(out)
}

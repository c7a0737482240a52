//! The changes an operator makes to the key directory — init, rotate, revoke, prune — each under
//! the writers' lock, each recorded in `audit.log`. Private key files are written before
//! `keys.json` names them and deleted only after it no longer does, so a loader never meets a
//! listed key without its file.

use std::path::Path;
use std::time::Duration;

use service_kit::duration::millis;
use service_kit::Clock;

use super::audit::{os_user, AuditEntry, AuditVerb};
use super::material::PrivateKey;
use super::ring::KeyRingConfig;
use super::schedule::{KeyMeta, KeyState};
use super::store::KeyDir;
use super::{KeyError, Kid};

/// Creates a first key, active at once, if the directory has no keys (used by `stack` in
/// development and by `identity keys init`). Returns the kid created, or None if keys existed.
pub fn ensure_initialized(dir: &Path, clock: &Clock) -> Result<Option<String>, KeyError> {
    match init(dir, clock, &os_user()) {
        Ok(kid) => Ok(Some(kid.to_string())),
        Err(KeyError::AlreadyInitialized { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates the directory (mode 0700) and a first key, active at once; refuses if keys exist.
pub fn init(dir: &Path, clock: &Clock, actor: &str) -> Result<Kid, KeyError> {
    let keys = KeyDir::new(dir);
    keys.create()?;
    let _lock = keys.lock_exclusive()?;
    let mut schedule = keys.read_schedule_or_empty()?;
    if !schedule.keys.is_empty() {
        return Err(KeyError::AlreadyInitialized {
            path: keys.keys_json_path(),
        });
    }
    let now = clock.now_millis();
    let key = PrivateKey::generate();
    // The audit line goes first: a change the log does not show cannot happen.
    keys.append_audit(&AuditEntry::new(
        now,
        AuditVerb::Init,
        key.kid(),
        actor,
        None,
    ))?;
    keys.write_private_key(&key)?;
    schedule
        .keys
        .push(KeyMeta::new(key.kid().clone(), now, now));
    keys.write_schedule(&schedule)?;
    Ok(key.kid().clone())
}

/// What `rotate` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    /// The new key, pending until `activates_at`.
    pub kid: Kid,
    /// When it starts signing (ms since the epoch); older keys retire then.
    pub activates_at: i64,
}

/// Adds a new key that is published now and signs from now + `lead`; every older key retires
/// when it activates. Refuses a lead shorter than [`KeyRingConfig::minimum_lead`] unless `force`.
pub fn rotate(
    dir: &Path,
    clock: &Clock,
    config: &KeyRingConfig,
    lead: Duration,
    force: bool,
    actor: &str,
) -> Result<Rotated, KeyError> {
    if lead < config.minimum_lead() && !force {
        return Err(KeyError::LeadTooShort {
            lead_secs: lead.as_secs(),
            minimum_secs: config.minimum_lead().as_secs(),
        });
    }
    let keys = KeyDir::new(dir).group_readable(config.group_readable);
    let _lock = keys.lock_exclusive()?;
    let mut schedule = keys.read_schedule()?;
    let now = clock.now_millis();
    let activates_at = now.saturating_add(millis(lead));
    let key = PrivateKey::generate();
    let mut reason = format!(
        "signs from {}",
        service_kit::timefmt::rfc3339_millis(activates_at)
    );
    if lead < config.minimum_lead() {
        reason.push_str(&format!(
            "; forced: lead {}s is below the {}s minimum",
            lead.as_secs(),
            config.minimum_lead().as_secs()
        ));
    }
    keys.append_audit(&AuditEntry::new(
        now,
        AuditVerb::Rotate,
        key.kid(),
        actor,
        Some(reason),
    ))?;
    keys.write_private_key(&key)?;
    for older in schedule
        .keys
        .iter_mut()
        .filter(|k| k.revoked_at.is_none() && k.activates_at < activates_at)
    {
        if older.retires_at.is_none_or(|r| r > activates_at) {
            older.retires_at = Some(activates_at);
        }
    }
    schedule
        .keys
        .push(KeyMeta::new(key.kid().clone(), now, activates_at));
    keys.write_schedule(&schedule)?;
    Ok(Rotated {
        kid: key.kid().clone(),
        activates_at,
    })
}

/// What `revoke` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// The key revoked.
    pub kid: Kid,
    /// The key made to sign at once, when the revoked key was the signer.
    pub replacement: Option<Kid>,
}

/// Revokes `kid` at once (unpublished from the next JWKS). If it was signing, a fresh key signs
/// from now. Refuses to revoke the only published key unless `force`.
pub fn revoke(
    dir: &Path,
    clock: &Clock,
    config: &KeyRingConfig,
    kid: &Kid,
    reason: &str,
    force: bool,
    actor: &str,
) -> Result<Revoked, KeyError> {
    let keys = KeyDir::new(dir).group_readable(config.group_readable);
    let _lock = keys.lock_exclusive()?;
    let mut schedule = keys.read_schedule()?;
    let now = clock.now_millis();
    let index = schedule
        .keys
        .iter()
        .position(|k| &k.kid == kid)
        .ok_or_else(|| KeyError::UnknownKid(kid.to_string()))?;
    if schedule.state(index, now) == KeyState::Revoked {
        return Err(KeyError::AlreadyRevoked(kid.to_string()));
    }
    let published: Vec<usize> = schedule
        .published(now, config.retired_window_ms())
        .collect();
    if published == [index] && !force {
        return Err(KeyError::OnlyPublishedKey(kid.to_string()));
    }
    let was_signing = schedule.signer_index(now) == Some(index);
    let replacement = was_signing.then(PrivateKey::generate);
    // The audit lines go first: a change the log does not show cannot happen.
    keys.append_audit(&AuditEntry::new(
        now,
        AuditVerb::Revoke,
        kid,
        actor,
        Some(reason.to_owned()),
    ))?;
    if let Some(new) = &replacement {
        let why = format!("replaces revoked key {kid}, signs at once");
        keys.append_audit(&AuditEntry::new(
            now,
            AuditVerb::Rotate,
            new.kid(),
            actor,
            Some(why),
        ))?;
    }
    let revoked = &mut schedule.keys[index];
    revoked.revoked_at = Some(now);
    revoked.revoked_reason = Some(reason.to_owned());
    if let Some(key) = &replacement {
        keys.write_private_key(key)?;
        schedule
            .keys
            .push(KeyMeta::new(key.kid().clone(), now, now));
    }
    keys.write_schedule(&schedule)?;
    let replacement = replacement.map(|key| key.kid().clone());
    Ok(Revoked {
        kid: kid.clone(),
        replacement,
    })
}

/// Removes the private key files of revoked keys (their entries stay, so `list` still shows
/// them) and retired keys no longer published (file and entry). Returns the kids pruned.
pub fn prune(
    dir: &Path,
    clock: &Clock,
    config: &KeyRingConfig,
    actor: &str,
) -> Result<Vec<Kid>, KeyError> {
    let keys = KeyDir::new(dir).group_readable(config.group_readable);
    let _lock = keys.lock_exclusive()?;
    let mut schedule = keys.read_schedule()?;
    let now = clock.now_millis();
    let window = config.retired_window_ms();
    let mut revoked = Vec::new();
    let mut expired = Vec::new();
    for (index, key) in schedule.keys.iter().enumerate() {
        match schedule.state(index, now) {
            KeyState::Revoked if keys.pem_path(&key.kid).exists() => revoked.push(key.kid.clone()),
            KeyState::Retired if schedule.is_prunable(index, now, window) => {
                expired.push(key.kid.clone())
            }
            _ => {}
        }
    }
    let pruned: Vec<(&Kid, &str)> = revoked
        .iter()
        .map(|k| (k, "revoked"))
        .chain(
            expired
                .iter()
                .map(|k| (k, "retired past the publication window")),
        )
        .collect();
    // The audit lines go first: a change the log does not show cannot happen.
    for (kid, why) in &pruned {
        keys.append_audit(&AuditEntry::new(
            now,
            AuditVerb::Prune,
            kid,
            actor,
            Some((*why).to_owned()),
        ))?;
    }
    if !expired.is_empty() {
        schedule.keys.retain(|k| !expired.contains(&k.kid));
        keys.write_schedule(&schedule)?;
    }
    for (kid, _) in &pruned {
        keys.remove_private_key(kid)?;
    }
    Ok(revoked.into_iter().chain(expired).collect())
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;

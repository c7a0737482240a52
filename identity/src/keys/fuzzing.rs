//! Entry points for the fuzz targets in `fuzz/` (not an API): the key directory's files read
//! from bytes, as the loader reads them, without a directory.

use super::material::PrivateKey;
use super::schedule::Schedule;
use super::KeyRingConfig;

/// Most keys whose rules are evaluated: they cost O(keys³) per moment, and a real ring has a few.
const RULES_UP_TO_KEYS: usize = 16;

/// `keys.json`: parsed and checked as the loader does; if accepted, every rule the ring and
/// `identity keys list` compute is evaluated around each moment the file names, and the schedule
/// must read back unchanged from what `write_schedule` would write.
pub fn keys_json(text: &str) {
    let Ok(schedule) = Schedule::parse(text) else {
        return;
    };
    let written = serde_json::to_string_pretty(&schedule).unwrap_or_default();
    assert_eq!(
        Schedule::parse(&written).as_ref(),
        Ok(&schedule),
        "keys.json does not read back as written"
    );
    if schedule.keys.len() > RULES_UP_TO_KEYS {
        return;
    }
    let window = KeyRingConfig::default().retired_window_ms();
    let moments = schedule.keys.iter().flat_map(|key| {
        [
            Some(key.created_at),
            Some(key.activates_at),
            key.retires_at,
            key.revoked_at,
        ]
        .into_iter()
        .flatten()
    });
    for at in moments.flat_map(|at| {
        [
            at.saturating_sub(1),
            at,
            at.saturating_add(1),
            at.saturating_add(window),
        ]
    }) {
        let _ = schedule.signer(at);
        for index in 0..schedule.keys.len() {
            let _ = (
                schedule.state(index, at),
                schedule.is_prunable(index, at, window),
            );
            let _ = schedule.keys[index].kid.fingerprint();
        }
        let _ = schedule.published(at, window).count();
    }
}

/// `<kid>.pem`: decoded as the loader does; a key that decodes must encode and decode back to
/// the same kid.
pub fn private_key_pem(text: &str) {
    let Some(key) = PrivateKey::from_pkcs8_pem(text) else {
        return;
    };
    let pem = key.to_pkcs8_pem().unwrap_or_default();
    let back = PrivateKey::from_pkcs8_pem(&pem).map(|back| back.kid().clone());
    assert_eq!(
        back.as_ref(),
        Some(key.kid()),
        "a decoded key does not encode back"
    );
}

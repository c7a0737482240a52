//! The audit trail of key changes: one JSON object per line in `audit.log`, saying when, what,
//! which key, who and why. It records schedule changes only, never key material.

use serde::Serialize;

use super::Kid;

/// The changes the audit log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditVerb {
    /// The first key was made.
    Init,
    /// A new key was scheduled.
    Rotate,
    /// A key was revoked.
    Revoke,
    /// A key's files were removed.
    Prune,
}

/// One line of `audit.log`.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// When, RFC 3339 UTC.
    pub time: String,
    /// What was done.
    pub verb: AuditVerb,
    /// To which key.
    pub kid: Kid,
    /// Who did it: the operating-system user.
    pub actor: String,
    /// Why, if said.
    pub reason: Option<String>,
}

impl AuditEntry {
    /// An entry at `now_millis` by `actor`.
    pub fn new(
        now_millis: i64,
        verb: AuditVerb,
        kid: &Kid,
        actor: &str,
        reason: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            time: service_kit::timefmt::rfc3339_millis(now_millis),
            verb,
            kid: kid.clone(),
            actor: actor.to_owned(),
            reason,
        }
    }
}

/// The operating-system user running this process: `USER`, else `LOGNAME`, else the numeric uid.
/// Only who made a change depends on the environment, never what the change is.
pub fn os_user() -> String {
    use std::os::unix::fs::MetadataExt;
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|user| !user.trim().is_empty())
        .or_else(|| {
            std::fs::metadata("/proc/self")
                .ok()
                .map(|m| format!("uid {}", m.uid()))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_one_json_object_with_the_five_fields() {
        let kid = Kid::of_public_key(&[3; 32]);
        let entry = AuditEntry::new(0, AuditVerb::Revoke, &kid, "alice", Some("leaked".into()));
        let json = serde_json::to_value(&entry).expect("an entry serializes");
        assert_eq!(
            json,
            serde_json::json!({"time":"1970-01-01T00:00:00.000Z","verb":"revoke","kid":kid.as_str(),"actor":"alice","reason":"leaked"})
        );
    }

    #[test]
    fn someone_is_always_named() {
        assert!(!os_user().is_empty());
    }
}

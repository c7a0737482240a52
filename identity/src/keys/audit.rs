//! The audit trail of key changes: one JSON object per line in `audit.log`, saying when, what,
//! which key, who (user name and numeric uid) and why. It records schedule changes only, never
//! key material, and each line is written before the change it describes.

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
    /// Who did it: the operating-system user of `uid`.
    pub actor: String,
    /// The numeric uid of the process that made the change (no environment variable can fake it).
    pub uid: u32,
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
            uid: current_uid(),
            reason,
        }
    }
}

/// The real uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: getuid takes no argument, cannot fail and touches no memory of ours.
    unsafe { libc::getuid() }
}

/// The operating-system user running this process: the name the user database gives its uid
/// (`$USER` is not consulted: anyone can set it), else `uid N`.
pub fn os_user() -> String {
    let uid = current_uid();
    user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
}

/// The user database's name for `uid` (getpwuid_r, so NSS sources count), if it has one.
fn user_name(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: `passwd` is plain old data; getpwuid_r fills it in before we read it.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and `buffer.len()` is the buffer's size.
    let status = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success `pw_name` points to a NUL-terminated string inside `buffer`, alive here.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    name.to_str()
        .ok()
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
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
            serde_json::json!({"time":"1970-01-01T00:00:00.000Z","verb":"revoke","kid":kid.as_str(),"actor":"alice","uid":current_uid(),"reason":"leaked"})
        );
    }

    #[test]
    fn someone_is_always_named() {
        assert!(!os_user().is_empty());
    }

    #[test]
    fn the_actor_is_the_user_database_name_of_the_uid_not_the_user_variable() {
        // Compare with the database's own answer, read without libc.
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let uid = current_uid().to_string();
        let expected = passwd
            .lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.get(2) == Some(&uid.as_str()))
            .map(|fields| fields[0].to_owned());
        let Some(expected) = expected else {
            eprintln!("skipping: uid {uid} has no /etc/passwd line");
            return;
        };
        assert_eq!(os_user(), expected);
    }
}

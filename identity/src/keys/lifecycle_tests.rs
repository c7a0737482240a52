//! Unit tests of the operator's changes to the key directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::keys::store::KeyDir;
use crate::keys::tests_support;

fn audit_lines(dir: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(dir.join("audit.log"))
        .expect("audit.log exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn init_creates_a_0700_directory_a_0600_key_and_an_audit_line() {
    let parent = tempfile::tempdir().expect("a temp dir");
    let dir = parent.path().join("keys");
    let clock = Clock::adjustable();
    let kid = init(&dir, &clock, "alice").expect("init");
    assert_eq!(
        fs::metadata(&dir).expect("dir").permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        fs::metadata(dir.join(kid.pem_file_name()))
            .expect("pem")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let audit = audit_lines(&dir);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["verb"], "init");
    assert_eq!(audit[0]["kid"], kid.as_str());
    assert_eq!(audit[0]["actor"], "alice");
}

#[test]
fn ensure_initialized_creates_once_then_reports_keys_exist() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    let created = ensure_initialized(dir.path(), &clock).expect("creates");
    assert!(created.is_some());
    assert_eq!(ensure_initialized(dir.path(), &clock).expect("no-op"), None);
    assert_eq!(
        KeyDir::new(dir.path())
            .read_schedule()
            .expect("reads")
            .keys
            .len(),
        1
    );
}

#[test]
fn rotate_retires_the_signer_when_the_new_key_activates() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    let config = KeyRingConfig::default();
    let old = init(dir.path(), &clock, "test").expect("init");
    let rotated = rotate(
        dir.path(),
        &clock,
        &config,
        config.minimum_lead(),
        false,
        "test",
    )
    .expect("rotates");
    let schedule = KeyDir::new(dir.path()).read_schedule().expect("reads");
    assert_eq!(
        schedule.find(&old).and_then(|k| k.retires_at),
        Some(rotated.activates_at)
    );
    assert_eq!(schedule.find(&rotated.kid).and_then(|k| k.retires_at), None);
    assert_eq!(audit_lines(dir.path())[1]["verb"], "rotate");
}

#[test]
fn rotate_refuses_a_lead_shorter_than_max_age_plus_refresh_unless_forced() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    let config = KeyRingConfig::default();
    init(dir.path(), &clock, "test").expect("init");
    let short = config.minimum_lead() - std::time::Duration::from_secs(1);
    assert!(matches!(
        rotate(dir.path(), &clock, &config, short, false, "test"),
        Err(KeyError::LeadTooShort { .. })
    ));
    assert_eq!(
        KeyDir::new(dir.path())
            .read_schedule()
            .expect("reads")
            .keys
            .len(),
        1,
        "nothing changed"
    );
    assert!(rotate(dir.path(), &clock, &config, short, true, "test").is_ok());
}

#[test]
fn revoking_a_pending_key_makes_no_replacement_and_is_audited_with_its_reason() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    let config = KeyRingConfig::default();
    init(dir.path(), &clock, "test").expect("init");
    let pending = tests_support::rotate(dir.path(), &clock);
    let revoked = revoke(
        dir.path(),
        &clock,
        &config,
        &pending,
        "mistake",
        false,
        "bob",
    )
    .expect("revokes");
    assert_eq!(revoked.replacement, None);
    assert!(matches!(
        revoke(dir.path(), &clock, &config, &pending, "again", false, "bob"),
        Err(KeyError::AlreadyRevoked(_))
    ));
    let last = audit_lines(dir.path()).pop().expect("a line");
    assert_eq!(
        (
            last["verb"].as_str(),
            last["reason"].as_str(),
            last["actor"].as_str()
        ),
        (Some("revoke"), Some("mistake"), Some("bob"))
    );
}

#[test]
fn prune_removes_revoked_files_and_expired_keys_but_nothing_still_published() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    let config = KeyRingConfig::default();
    let first = init(dir.path(), &clock, "test").expect("init");
    let lead = config.default_lead();
    let second = rotate(dir.path(), &clock, &config, lead, false, "test")
        .expect("rotates")
        .kid;
    let third = rotate(dir.path(), &clock, &config, lead + lead, false, "test")
        .expect("rotates")
        .kid;
    revoke(
        dir.path(),
        &clock,
        &config,
        &third,
        "not needed",
        false,
        "test",
    )
    .expect("revokes");
    assert_eq!(
        prune(dir.path(), &clock, &config, "test").expect("prunes"),
        vec![third.clone()]
    );
    assert!(!dir.path().join(third.pem_file_name()).exists());
    assert!(
        KeyDir::new(dir.path())
            .read_schedule()
            .expect("reads")
            .find(&third)
            .is_some(),
        "revoked entry kept"
    );

    clock.advance(lead + config.retired_window());
    assert_eq!(
        prune(dir.path(), &clock, &config, "test").expect("prunes"),
        vec![first.clone()]
    );
    let schedule = KeyDir::new(dir.path()).read_schedule().expect("reads");
    assert!(schedule.find(&first).is_none());
    assert!(schedule.find(&second).is_some());
    assert!(!dir.path().join(first.pem_file_name()).exists());
    assert!(prune(dir.path(), &clock, &config, "test")
        .expect("prunes")
        .is_empty());
    let verbs: Vec<String> = audit_lines(dir.path())
        .iter()
        .map(|l| l["verb"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        verbs,
        ["init", "rotate", "rotate", "revoke", "prune", "prune"]
    );
}

#[test]
fn audit_lines_carry_the_uid_and_are_written_before_the_change() {
    let parent = tempfile::tempdir().expect("a temp dir");
    let dir = parent.path().join("keys");
    let clock = Clock::adjustable();
    let config = KeyRingConfig::default();
    let first = init(&dir, &clock, "alice").expect("init");
    let line = &audit_lines(&dir)[0];
    assert_eq!(
        line["uid"],
        serde_json::json!(crate::keys::audit::current_uid())
    );
    assert_eq!(line["actor"], "alice");

    // Make the schedule write fail (a directory where its temp file must go): the revoke fails,
    // and its audit line is there already, since it is written first.
    fs::create_dir(dir.join(".keys.json.tmp")).expect("blocker");
    let refused = revoke(&dir, &clock, &config, &first, "leaked", true, "bob");
    assert!(refused.is_err(), "the schedule write fails");
    let lines = audit_lines(&dir);
    assert_eq!(
        lines.len(),
        3,
        "init, then revoke and the replacement's rotate: {lines:?}"
    );
    assert_eq!(lines[1]["verb"], "revoke");
    assert_eq!(lines[1]["actor"], "bob");
    assert!(lines[1]["uid"].is_u64());
    assert_eq!(lines[2]["verb"], "rotate");
    let schedule = KeyDir::new(&dir).read_schedule().expect("reads");
    assert!(
        schedule.keys.iter().all(|k| k.revoked_at.is_none()),
        "the change itself did not happen"
    );
}

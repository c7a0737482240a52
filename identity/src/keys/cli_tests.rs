//! Unit tests of `identity keys`: each verb's exit code and output, usage errors and help.

use super::*;
use clap::Parser;

use crate::keys::tests_support;

#[derive(clap::Parser, Debug)]
struct Cli {
    #[command(flatten)]
    keys: KeysArgs,
}

fn args(dir: &Path, rest: &[&str]) -> KeysArgs {
    let mut argv = vec![
        "identity-keys",
        "--keys-dir",
        dir.to_str().expect("a UTF-8 temp path"),
    ];
    argv.extend_from_slice(rest);
    Cli::try_parse_from(argv).expect("valid arguments").keys
}

#[test]
fn init_refuses_a_second_time_with_exit_1() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = dir.path().join("keys");
    let clock = Clock::adjustable();
    assert_eq!(run(args(&keys, &["init"]), &clock), 0);
    assert_eq!(run(args(&keys, &["init"]), &clock), 1);
    let before = std::fs::read_dir(&keys).expect("listed").count();
    let audit = std::fs::read_to_string(keys.join("audit.log")).expect("audit log");
    assert_eq!(run(args(&keys, &["init", "--if-missing"]), &clock), 0);
    assert_eq!(
        std::fs::read_dir(&keys).expect("listed").count(),
        before,
        "--if-missing adds no file"
    );
    assert_eq!(
        std::fs::read_to_string(keys.join("audit.log")).expect("audit log"),
        audit,
        "nor an audit line"
    );
    let mode =
        std::fs::metadata(&keys).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    assert_eq!(mode.expect("created") & 0o777, 0o700);
}

#[test]
fn list_json_is_an_array_newest_first_with_the_five_fields() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    let first = lifecycle::init(dir.path(), &clock, "test").expect("init");
    clock.advance(Duration::from_secs(1));
    let second = tests_support::rotate(dir.path(), &clock);
    let out = list(dir.path(), &clock, true)
        .map_err(|_| "list failed")
        .expect("lists");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["kid"], second.as_str());
    assert_eq!(rows[0]["state"], "pending");
    assert_eq!(rows[0]["retires_at"], serde_json::Value::Null);
    assert_eq!(rows[1]["kid"], first.as_str());
    assert_eq!(rows[1]["state"], "active");
    assert_eq!(rows[1]["retires_at"], rows[0]["activates_at"]);
    for row in rows {
        let mut fields: Vec<&str> = row
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["activates_at", "created_at", "kid", "retires_at", "state"]
        );
        assert!(row["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24));
    }
}

#[test]
fn rotate_with_a_short_lead_is_refused_unless_forced() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    lifecycle::init(dir.path(), &clock, "test").expect("init");
    assert_eq!(
        run(args(dir.path(), &["rotate", "--lead", "30s"]), &clock),
        1
    );
    assert_eq!(
        run(
            args(dir.path(), &["rotate", "--lead", "30s", "--force"]),
            &clock
        ),
        0
    );
    assert_eq!(run(args(dir.path(), &["rotate"]), &clock), 0);
}

#[test]
fn a_malformed_kid_is_bad_usage_and_an_unknown_one_is_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    lifecycle::init(dir.path(), &clock, "test").expect("init");
    assert_eq!(
        run(
            args(dir.path(), &["revoke", "../x", "--reason", "test"]),
            &clock
        ),
        2
    );
    let unknown = Kid::of_public_key(&[5; 32]);
    assert_eq!(
        run(
            args(
                dir.path(),
                &["revoke", unknown.as_str(), "--reason", "test"]
            ),
            &clock
        ),
        1
    );
}

#[test]
fn verbs_on_a_directory_without_keys_fail_with_exit_1() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    for verb in [&["list"][..], &["jwks"], &["rotate"], &["prune"]] {
        assert_eq!(run(args(dir.path(), verb), &clock), 1, "{verb:?}");
    }
}

#[test]
fn every_verb_answers_help() {
    for verb in [
        "init", "list", "jwks", "rotate", "revoke", "prune", "verify",
    ] {
        let help = Cli::try_parse_from(["identity-keys", verb, "--help"])
            .expect_err("--help stops parsing");
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp, "{verb}");
        assert!(help.to_string().contains("Usage"), "{verb}: {help}");
    }
}

#[test]
fn the_list_table_shows_each_keys_fingerprint() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    let kid = lifecycle::init(dir.path(), &clock, "test").expect("init");
    let table = list(dir.path(), &clock, false)
        .map_err(|_| "list failed")
        .expect("lists");
    let mut lines = table.lines();
    assert!(lines
        .next()
        .is_some_and(|header| header.ends_with("FINGERPRINT")));
    let row = lines.next().expect("one key");
    assert!(row.starts_with(kid.as_str()), "{row}");
    assert!(row.contains("active"), "{row}");
    assert!(row.ends_with(&kid.fingerprint()), "{row}");
    assert_eq!(kid.fingerprint().len(), 16);
}

#[test]
fn verify_exits_0_for_a_good_token_and_1_once_it_fails_a_check() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Clock::adjustable();
    lifecycle::init(dir.path(), &clock, "test").expect("init");
    let ring = KeyRing::load(dir.path(), KeyRingConfig::default(), clock.clone()).expect("loads");
    let now = clock.now_unix();
    let token = ring
        .sign(&shared_claims::Claims {
            email_verified: false,
            ..tests_support::claims(now)
        })
        .expect("signs");
    assert_eq!(run(args(dir.path(), &["verify", &token]), &clock), 0);
    let exact = [
        "verify",
        &token,
        "--method",
        "GET",
        "--path",
        "/api/profile",
        "--json",
    ];
    assert_eq!(run(args(dir.path(), &exact), &clock), 0);
    let other_path = ["verify", &token, "--path", "/api/orders"];
    assert_eq!(run(args(dir.path(), &other_path), &clock), 1);
    let other_audience = ["verify", &token, "--audience", "billing"];
    assert_eq!(run(args(dir.path(), &other_audience), &clock), 1);
    clock.advance(Duration::from_secs(120));
    assert_eq!(run(args(dir.path(), &["verify", &token]), &clock), 1);
}

#[test]
fn the_flags_may_come_after_the_verb() {
    let parsed = Cli::try_parse_from(["identity-keys", "list", "--json", "--keys-dir", "/tmp/k"])
        .expect("valid");
    assert!(parsed.keys.json);
    assert_eq!(parsed.keys.keys_dir, PathBuf::from("/tmp/k"));
}

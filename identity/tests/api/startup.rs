//! The `identity` binary refuses to start when mail has nowhere or two places to go (DESIGN §8),
//! or a social provider is incompletely configured (§17):
//! exit 1 and one line naming the variables, before it opens a store or a key.

use std::process::Command;

/// Runs `identity` with only the given mail settings; returns its exit code and stderr.
fn start_with(mail_settings: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_identity"))
        .env_remove("SMTP_URL")
        .env_remove("DEV_MAILBOX")
        .env("IDENTITY_ADDR", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/identity.db", dir.path().display()),
        )
        .env("KEYS_DIR", dir.path().join("keys"))
        .envs(mail_settings.iter().copied())
        .output()
        .expect("identity runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_refused_in_one_line_naming_both((code, stderr): (Option<i32>, String)) {
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("SMTP_URL") && stderr.contains("DEV_MAILBOX"),
        "{stderr}"
    );
}

#[test]
fn identity_refuses_to_start_with_neither_smtp_url_nor_dev_mailbox() {
    assert_refused_in_one_line_naming_both(start_with(&[]));
    assert_refused_in_one_line_naming_both(start_with(&[("DEV_MAILBOX", "false")]));
}

#[test]
fn identity_refuses_to_start_with_both_smtp_url_and_dev_mailbox() {
    assert_refused_in_one_line_naming_both(start_with(&[
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("DEV_MAILBOX", "true"),
    ]));
}

#[test]
fn identity_refuses_to_start_with_an_incomplete_social_provider_naming_the_variable() {
    let (code, stderr) = start_with(&[
        ("DEV_MAILBOX", "true"),
        ("SOCIAL_PROVIDERS", "corp"),
        ("SOCIAL_CORP_CLIENT_ID", "gatehouse"),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("SOCIAL_CORP_CLIENT_SECRET"), "{stderr}");
}

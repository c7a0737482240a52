//! Mail links end to end: email verification and password reset through edge, delivered by
//! identity to a real SMTP server (Python's aiosmtpd, started per test) or, without `SMTP_URL`,
//! to the development outbox and `/dev/mailbox`. Waiting for a mail polls the mailbox with a
//! deadline; "no mail" is asserted only after a later control mail has arrived, never by waiting
//! blindly. `durable_mail` reuses the SMTP sink.

use std::net::TcpListener;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::Response;
use serde_json::{json, Value};
use test_support::eventually;

use crate::support::{
    api_status, assert_code, claims_of, json_of, post_raw, unique_email, Browser, Setup, Store,
    TestStack, PASSWORD,
};

mod outbox;
mod refusals;
mod reset;
mod sink;
mod verification;

pub(crate) use sink::{free_port, is_to, smtp_url_on, SmtpSink};

const NEW_PASSWORD: &str = "a brand new passphrase";
pub(crate) const RESET_MESSAGE: &str =
    "If this email exists in our system, check your email for the reset link";
pub(crate) const VERIFY_SUBJECT: &str = "Confirm your email address";
pub(crate) const RESET_SUBJECT: &str = "Reset your password";
/// The subject of the same link mailed to a user who has no password yet (social sign-in only).
pub(crate) const SET_PASSWORD_SUBJECT: &str = "Set a password for your account";
/// How long a mail may take to arrive before the test fails.
pub(crate) const MAIL_DEADLINE: Duration = Duration::from_secs(20);

/// A stack whose identity mails through `sink`.
async fn stack_with_smtp(store: Store, sink: &SmtpSink) -> Option<TestStack> {
    let mut setup = Setup::new(store).await?;
    setup.use_smtp(sink.url());
    Some(setup.start().await)
}

/// The link in a mail's text that contains `marker`.
pub(crate) fn link_in(text: &str, marker: &str) -> String {
    text.split_whitespace()
        .find(|word| word.starts_with("http") && word.contains(marker))
        .unwrap_or_else(|| panic!("no link with {marker} in {text:?}"))
        .to_owned()
}

/// The path and query of an absolute link (the links carry edge's PUBLIC_URL; tests reach edge
/// on its own port).
pub(crate) fn path_of(link: &str) -> String {
    let url = reqwest::Url::parse(link).expect("an absolute link");
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

pub(crate) fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location")
        .to_str()
        .expect("ASCII")
        .to_owned()
}

pub(crate) async fn request_reset(browser: &Browser, email: &str) -> (u16, Value) {
    json_of(
        browser
            .post_json(
                "/api/auth/request-password-reset",
                json!({ "email": email }),
            )
            .await,
    )
    .await
}

async fn reset(browser: &Browser, token: &str, new_password: &str) -> (u16, Value) {
    let body = json!({ "token": token, "newPassword": new_password });
    json_of(browser.post_json("/api/auth/reset-password", body).await).await
}

/// Follows a mailed reset link and returns the token edge hands to the reset page.
pub(crate) async fn token_from_reset_link(browser: &Browser, link: &str) -> String {
    let response = browser.get(&path_of(link)).await;
    assert_eq!(response.status(), 302);
    let target = location(&response);
    let token = target
        .strip_prefix("/reset-password?token=")
        .unwrap_or_else(|| panic!("redirected to {target}"));
    token.to_owned()
}
/// identity's development outbox once it holds at least `count` mails (mails asked for by
/// request are composed after the answer), newest first.
async fn outbox_with(stack: &TestStack, count: usize) -> Vec<Value> {
    eventually(
        MAIL_DEADLINE,
        &format!("the outbox has {count} mails"),
        || async {
            let messages = outbox(stack).await;
            if messages.len() >= count {
                Ok(messages)
            } else {
                Err(format!("it has {}", messages.len()))
            }
        },
    )
    .await
}

/// identity's development outbox, newest first.
pub(crate) async fn outbox(stack: &TestStack) -> Vec<Value> {
    let response = reqwest::get(format!("{}/v1/dev/outbox", stack.stack.identity.url()))
        .await
        .expect("identity answers");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    body["messages"].as_array().expect("messages").clone()
}

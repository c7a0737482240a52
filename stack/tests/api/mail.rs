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

mod refusals;
mod sink;

pub(crate) use sink::{free_port, is_to, smtp_url_on, SmtpSink};

const NEW_PASSWORD: &str = "a brand new passphrase";
pub(crate) const RESET_MESSAGE: &str =
    "If this email exists in our system, check your email for the reset link";
pub(crate) const VERIFY_SUBJECT: &str = "Confirm your email address";
pub(crate) const RESET_SUBJECT: &str = "Reset your password";
/// How long a mail may take to arrive before the test fails.
pub(crate) const MAIL_DEADLINE: Duration = Duration::from_secs(20);
pub(crate) const POLL: Duration = Duration::from_millis(25);

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

async fn sign_up_mails_a_verification_link_that_verifies_once(store: Store) {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let Some(stack) = stack_with_smtp(store, &sink).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("Vera");
    assert_eq!(
        browser.sign_up("Vera", &email, PASSWORD).await.status(),
        200
    );

    let mail = sink.wait_for(&email, VERIFY_SUBJECT, 1).await.remove(0);
    assert_eq!(mail["from"], "Gatehouse <no-reply@localhost>");
    let link = link_in(
        mail["text"].as_str().expect("text"),
        "/api/auth/verify-email?token=",
    );
    assert!(link.ends_with("&callbackURL=/verify-email"), "{link}");
    assert!(mail["html"]
        .as_str()
        .expect("html")
        .contains(&link.replace('&', "&amp;")));
    let (_, session) = json_of(browser.get("/api/auth/get-session").await).await;
    assert_eq!(session["user"]["emailVerified"], false);

    let followed = browser.get(&path_of(&link)).await;
    assert_eq!(followed.status(), 302);
    assert_eq!(location(&followed), "/verify-email");
    let (_, session) = json_of(browser.get("/api/auth/get-session").await).await;
    assert_eq!(session["user"]["emailVerified"], true);
    let session_token = browser.session_token().expect("signed in");
    let token = stack
        .exchange(&session_token, "GET", "/api/profile", &browser.user_agent)
        .await;
    assert_eq!(claims_of(&token)["email_verified"], true);

    let again = browser.get(&path_of(&link)).await;
    assert_eq!(again.status(), 302);
    assert_eq!(location(&again), "/verify-email?error=INVALID_TOKEN");
    let without_callback = path_of(&link).replace("&callbackURL=/verify-email", "");
    let (status, body) = json_of(browser.get(&without_callback).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );

    // With SMTP_URL set, neither the outbox nor the mailbox page exists.
    assert_eq!(browser.get("/dev/mailbox").await.status(), 404);
    let outbox = reqwest::get(format!("{}/v1/dev/outbox", stack.stack.identity.url()))
        .await
        .expect("identity answers");
    assert_eq!(outbox.status(), 404);
}

async fn a_reset_link_sets_a_new_password_and_ends_every_session(store: Store) {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let Some(stack) = stack_with_smtp(store, &sink).await else {
        return;
    };
    let email = unique_email("Rosa");
    let laptop = stack.browser();
    assert_eq!(laptop.sign_up("Rosa", &email, PASSWORD).await.status(), 200);
    let phone = Browser::new(
        &stack.edge(),
        &stack.public_url,
        "Mozilla/5.0 (iPhone) GatehouseTest/2.0",
    );
    assert_eq!(phone.sign_in(&email, PASSWORD).await.status(), 200);
    assert_eq!(
        (api_status(&laptop).await, api_status(&phone).await),
        (200, 200)
    );

    let anonymous = stack.browser();
    let (status, body) = request_reset(&anonymous, &email).await;
    assert_eq!(
        (status, body),
        (200, json!({ "status": true, "message": RESET_MESSAGE }))
    );
    let mail = sink.wait_for(&email, RESET_SUBJECT, 1).await.remove(0);
    let link = link_in(
        mail["text"].as_str().expect("text"),
        "/api/auth/reset-password/",
    );
    assert!(link.ends_with("?callbackURL=/reset-password"), "{link}");
    let token = token_from_reset_link(&anonymous, &link).await;
    let token_again = token_from_reset_link(&anonymous, &link).await;
    assert_eq!(
        token, token_again,
        "following the link does not use the token up"
    );

    assert_eq!(
        reset(&anonymous, &token, NEW_PASSWORD).await,
        (200, json!({ "status": true }))
    );
    assert_eq!(
        api_status(&laptop).await,
        401,
        "every old session dies on its next proxied call"
    );
    assert_eq!(api_status(&phone).await, 401);
    assert_eq!(
        stack.browser().sign_in(&email, PASSWORD).await.status(),
        401,
        "the old password fails"
    );
    let fresh = stack.browser();
    assert_eq!(
        fresh.sign_in(&email, NEW_PASSWORD).await.status(),
        200,
        "the new password works"
    );
    assert_eq!(api_status(&fresh).await, 200);

    let dead = anonymous.get(&path_of(&link)).await;
    assert_eq!(location(&dead), "/reset-password?error=INVALID_TOKEN");
    let (status, body) = reset(&anonymous, &token, "yet another passphrase").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_TOKEN"))
    );
    assert_eq!(fresh.sign_in(&email, NEW_PASSWORD).await.status(), 200);
}

async fn two_concurrent_resets_with_one_token_exactly_one_succeeds(store: Store) {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let Some(stack) = stack_with_smtp(store, &sink).await else {
        return;
    };
    let email = unique_email("Cora");
    let browser = stack.browser();
    assert_eq!(
        browser.sign_up("Cora", &email, PASSWORD).await.status(),
        200
    );
    assert_eq!(request_reset(&browser, &email).await.0, 200);
    let mail = sink.wait_for(&email, RESET_SUBJECT, 1).await.remove(0);
    let token = token_from_reset_link(
        &browser,
        &link_in(mail["text"].as_str().expect("text"), "/reset-password/"),
    )
    .await;

    let (one, two) = futures::join!(
        reset(&browser, &token, "first new passphrase"),
        reset(&browser, &token, "second new passphrase"),
    );
    let mut statuses = [one.0, two.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400], "{one:?} {two:?}");
    let winner = if one.0 == 200 {
        "first new passphrase"
    } else {
        "second new passphrase"
    };
    let loser = if one.0 == 200 {
        "second new passphrase"
    } else {
        "first new passphrase"
    };
    assert_eq!(stack.browser().sign_in(&email, winner).await.status(), 200);
    assert_eq!(stack.browser().sign_in(&email, loser).await.status(), 401);
}

#[tokio::test]
async fn a_reset_for_an_unknown_address_answers_the_same_and_mails_nothing() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let Some(stack) = stack_with_smtp(Store::Sqlite, &sink).await else {
        return;
    };
    let known = unique_email("Kim");
    let browser = stack.browser();
    assert_eq!(browser.sign_up("Kim", &known, PASSWORD).await.status(), 200);
    let unknown = unique_email("Nobody");

    let for_unknown = request_reset(&browser, &unknown).await;
    let for_known = request_reset(&browser, &known).await;
    assert_eq!(for_unknown, for_known);
    assert_eq!(
        for_unknown,
        (200, json!({ "status": true, "message": RESET_MESSAGE }))
    );
    // Mail leaves in order: once the later control mail is in, any mail to the unknown address
    // would be too.
    sink.wait_for(&known, RESET_SUBJECT, 1).await;
    assert!(
        sink.mails().iter().all(|mail| !is_to(mail, &unknown)),
        "{:?}",
        sink.mails()
    );
}

async fn more_than_three_reset_requests_in_ten_minutes_mail_only_three(store: Store) {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let Some(stack) = stack_with_smtp(store, &sink).await else {
        return;
    };
    let browser = stack.browser();
    let busy = unique_email("Busy");
    let control = unique_email("Control");
    assert_eq!(browser.sign_up("Busy", &busy, PASSWORD).await.status(), 200);
    assert_eq!(
        stack
            .browser()
            .sign_up("Control", &control, PASSWORD)
            .await
            .status(),
        200
    );

    for _ in 0..5 {
        assert_eq!(
            request_reset(&browser, &busy).await,
            (200, json!({ "status": true, "message": RESET_MESSAGE }))
        );
    }
    assert_eq!(request_reset(&browser, &control).await.0, 200);
    sink.wait_for(&control, RESET_SUBJECT, 1).await;
    assert_eq!(
        sink.wait_for(&busy, RESET_SUBJECT, 3).await.len(),
        3,
        "only three mails within the window"
    );

    // Ten minutes later the address may have mail again.
    stack.clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(request_reset(&browser, &busy).await.0, 200);
    assert_eq!(sink.wait_for(&busy, RESET_SUBJECT, 4).await.len(), 4);
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

#[tokio::test]
async fn without_smtp_mail_goes_to_the_outbox_and_the_mailbox_page_links_it() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("Dev");
    assert_eq!(browser.sign_up("Dev", &email, PASSWORD).await.status(), 200);
    assert_eq!(request_reset(&browser, &email).await.0, 200);

    let messages = outbox_with(&stack, 2).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[0]["to"].as_str(), messages[0]["subject"].as_str()),
        (Some(email.as_str()), Some(RESET_SUBJECT))
    );
    assert_eq!(messages[1]["subject"], VERIFY_SUBJECT, "newest first");
    let verify_link = messages[1]["links"][0].as_str().expect("a link").to_owned();
    assert!(messages[1]["text"]
        .as_str()
        .expect("text")
        .contains(&verify_link));

    let page = browser.get("/dev/mailbox").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.expect("a page");
    let escaped_link = verify_link.replace('&', "&amp;");
    assert!(
        html.contains(&format!("<a href=\"{escaped_link}\">")),
        "{html}"
    );
    assert!(html.contains(&email) && html.contains(RESET_SUBJECT));
    assert!(
        html.find(RESET_SUBJECT) < html.find(VERIFY_SUBJECT),
        "newest first"
    );

    let followed = browser.get(&path_of(&verify_link)).await;
    assert_eq!(location(&followed), "/verify-email");
}

#[tokio::test]
async fn links_expire_after_their_ttl() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("Late");
    assert_eq!(
        browser.sign_up("Late", &email, PASSWORD).await.status(),
        200
    );
    assert_eq!(request_reset(&browser, &email).await.0, 200);
    let messages = outbox_with(&stack, 2).await;
    let reset_link = messages[0]["links"][0]
        .as_str()
        .expect("reset link")
        .to_owned();
    let verify_link = messages[1]["links"][0]
        .as_str()
        .expect("verify link")
        .to_owned();

    stack.clock.advance(Duration::from_secs(3_600));
    assert_eq!(
        location(&browser.get(&path_of(&reset_link)).await),
        "/reset-password?error=INVALID_TOKEN"
    );
    stack.clock.advance(Duration::from_secs(23 * 3_600));
    assert_eq!(
        location(&browser.get(&path_of(&verify_link)).await),
        "/verify-email?error=TOKEN_EXPIRED"
    );
    let (_, session) = json_of(browser.get("/api/auth/get-session").await).await;
    assert_ne!(session["user"]["emailVerified"], true);
}

test_support::on_both_stores!(
    sign_up_mails_a_verification_link_that_verifies_once,
    a_reset_link_sets_a_new_password_and_ends_every_session,
    more_than_three_reset_requests_in_ten_minutes_mail_only_three,
    two_concurrent_resets_with_one_token_exactly_one_succeeds,
);

#[tokio::test]
async fn with_verification_required_sign_in_waits_for_the_mailed_link() {
    let Some(mut setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    setup.identity.require_email_verification = true;
    let stack = setup.start().await;
    let browser = stack.browser();
    let email = unique_email("Wanda");
    let (status, body) = json_of(browser.sign_up("Wanda", &email, PASSWORD).await).await;
    assert_eq!((status, &body["token"]), (200, &Value::Null), "{body}");
    assert_eq!(body["user"]["emailVerified"], false);
    assert!(
        browser.session_token().is_none(),
        "no session before verification"
    );
    let (status, body) = json_of(browser.sign_in(&email, PASSWORD).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("EMAIL_NOT_VERIFIED"))
    );

    let link = outbox(&stack).await[0]["links"][0]
        .as_str()
        .expect("a link")
        .to_owned();
    assert_eq!(
        location(&browser.get(&path_of(&link)).await),
        "/verify-email"
    );
    assert_eq!(browser.sign_in(&email, PASSWORD).await.status(), 200);
    let (_, session) = json_of(browser.get("/api/auth/get-session").await).await;
    assert_eq!(session["user"]["emailVerified"], true);
}

#[tokio::test]
async fn an_unreachable_mail_server_changes_no_answer() {
    let Some(mut setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    setup.use_smtp(
        format!("smtp://127.0.0.1:{closed_port}")
            .parse()
            .expect("an smtp URL"),
    );
    let stack = setup.start().await;
    let browser = stack.browser();
    let email = unique_email("Offline");
    assert_eq!(
        browser.sign_up("Offline", &email, PASSWORD).await.status(),
        200,
        "sign-up does not wait for mail"
    );
    assert_eq!(
        request_reset(&browser, &email).await,
        (200, json!({ "status": true, "message": RESET_MESSAGE }))
    );
    let body = json!({ "email": email });
    let answer = json_of(
        browser
            .post_json("/api/auth/send-verification-email", body)
            .await,
    )
    .await;
    assert_eq!(answer, (200, json!({ "status": true })));
}

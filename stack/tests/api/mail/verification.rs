//! Email verification: the mailed link verifies once, sign-in waits for it when verification is
//! required, and links expire after their TTL.

use super::*;

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

test_support::on_both_stores!(sign_up_mails_a_verification_link_that_verifies_once,);

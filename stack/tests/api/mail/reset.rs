//! Password reset: the mailed link sets a new password and ends every session, one token wins
//! once, an unknown address answers the same and mails nothing, and requests beyond three in ten
//! minutes mail nothing.

use super::*;
use crate::durable_mail::OutboxTable;

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
    let Some(mut setup) = Setup::new(store).await else {
        return;
    };
    setup.use_smtp(sink.url());
    let database_url = setup.identity.database_url.expose_secret().to_owned();
    let stack = setup.start().await;
    let outbox = OutboxTable::open(&database_url).await;
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

    // Ten minutes later the address may have mail again. Every mail so far is marked sent before
    // the clock jumps: one the sender was still handing to the server would outlive its lease in
    // the jump and go out again (delivery is at least once).
    outbox
        .wait_until("every mail so far marked sent", |rows| {
            rows.iter().all(|row| row.state != "pending")
        })
        .await;
    stack.clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(request_reset(&browser, &busy).await.0, 200);
    assert_eq!(sink.wait_for(&busy, RESET_SUBJECT, 4).await.len(), 4);
}

test_support::on_both_stores!(
    a_reset_link_sets_a_new_password_and_ends_every_session,
    two_concurrent_resets_with_one_token_exactly_one_succeeds,
    more_than_three_reset_requests_in_ten_minutes_mail_only_three,
);

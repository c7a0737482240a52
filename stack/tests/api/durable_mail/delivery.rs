//! Delivery survives: mail written while the server is down goes out once it is up, an answered
//! request's mail is delivered by the next identity on the same store, and a flood of
//! verification mail does not hold back a reset mail.

use serde_json::json;
use test_support::eventually;

use super::{reset_token_in, stack_with_mail_server_down, stop_identity, PAST_ANY_BACKOFF};
use crate::mail::{
    free_port, is_to, link_in, request_reset, token_from_reset_link, SmtpSink, MAIL_DEADLINE,
    RESET_SUBJECT, VERIFY_SUBJECT,
};
use crate::support::{json_of, unique_email, Store, PASSWORD};

async fn mail_written_while_the_mail_server_is_down_is_delivered_once_it_is_up(store: Store) {
    let port = free_port();
    let Some((stack, _, outbox)) = stack_with_mail_server_down(store, port).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("Patience");
    assert_eq!(
        browser.sign_up("Patience", &email, PASSWORD).await.status(),
        200
    );
    assert_eq!(request_reset(&browser, &email).await.0, 200);
    outbox
        .wait_until(
            "both mails written and tried against the closed port",
            |rows| {
                rows.len() == 2
                    && rows
                        .iter()
                        .all(|row| row.state == "pending" && row.attempts >= 1)
            },
        )
        .await;

    let Some(sink) = SmtpSink::start_on(port).await else {
        return;
    };
    stack.clock.advance(PAST_ANY_BACKOFF);
    sink.wait_for(&email, VERIFY_SUBJECT, 1).await;
    let reset = sink.wait_for(&email, RESET_SUBJECT, 1).await.remove(0);
    let rows = outbox
        .wait_until("both marked sent", |rows| {
            rows.iter().all(|row| row.state == "sent")
        })
        .await;
    assert!(
        rows.iter().all(|row| row.attempts >= 2),
        "delivered by a retry: {rows:?}"
    );
    assert_eq!(sink.mails().len(), 2, "each mail once: {:?}", sink.mails());

    let link = link_in(
        reset["text"].as_str().expect("text"),
        "/api/auth/reset-password/",
    );
    let token = token_from_reset_link(&browser, &link).await;
    let body = json!({ "token": token, "newPassword": "a passphrase chosen late" });
    assert_eq!(
        json_of(browser.post_json("/api/auth/reset-password", body).await)
            .await
            .0,
        200,
        "the late link works"
    );
}

async fn an_answered_requests_mail_is_delivered_by_the_next_identity_on_the_store(store: Store) {
    let port = free_port();
    let Some((stack, identity_config, outbox)) = stack_with_mail_server_down(store, port).await
    else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("Phoenix");
    assert_eq!(
        browser.sign_up("Phoenix", &email, PASSWORD).await.status(),
        200
    );
    assert_eq!(
        request_reset(&browser, &email).await,
        (
            200,
            json!({ "status": true, "message": crate::mail::RESET_MESSAGE })
        )
    );

    // identity stops right after the answers, with both mails unsent: the mail server is still
    // down. (The reset mail is written just after its answer; a stopping identity waits for that
    // work, which identity's own unit test shows.)
    let _edge_and_core_api = stop_identity(stack.stack).await;
    let clock = stack.clock;
    let rows = outbox.rows().await;
    assert_eq!(rows.len(), 2, "both mails are in the outbox: {rows:?}");
    assert!(
        rows.iter().all(|row| row.state == "pending"),
        "nothing was sent: {rows:?}"
    );

    let Some(sink) = SmtpSink::start_on(port).await else {
        return;
    };
    clock.advance(PAST_ANY_BACKOFF);
    let identity = stack::start_identity(identity_config, clock.clone())
        .await
        .expect("a new identity on the same store");
    sink.wait_for(&email, VERIFY_SUBJECT, 1).await;
    let reset = sink.wait_for(&email, RESET_SUBJECT, 1).await.remove(0);
    outbox
        .wait_until("both marked sent", |rows| {
            rows.iter().all(|row| row.state == "sent")
        })
        .await;

    let check = reqwest::Client::new()
        .post(format!("{}/v1/password/reset/check", identity.url()))
        .json(&json!({ "token": reset_token_in(&reset) }))
        .send()
        .await
        .expect("identity answers");
    assert_eq!(
        json_of(check).await,
        (200, json!({ "valid": true })),
        "the delivered link works"
    );
    identity.stop().await.expect("identity stops");
}

async fn a_flood_of_verification_mail_does_not_hold_back_a_reset_mail(store: Store) {
    const FLOOD: usize = 30;
    let port = free_port();
    let Some((stack, identity_config, outbox)) = stack_with_mail_server_down(store, port).await
    else {
        return;
    };
    let owner = unique_email("Flooded");
    assert_eq!(
        stack
            .browser()
            .sign_up("Flooded", &owner, PASSWORD)
            .await
            .status(),
        200
    );
    let sign_ups = (1..FLOOD).map(|n| {
        let browser = stack.browser();
        async move {
            browser
                .sign_up("Flood", &unique_email(&format!("flood{n}")), PASSWORD)
                .await
                .status()
        }
    });
    for status in futures::future::join_all(sign_ups).await {
        assert_eq!(status, 200);
    }
    assert_eq!(request_reset(&stack.browser(), &owner).await.0, 200);
    outbox
        .wait_until("the flood and then the reset mail written", |rows| {
            rows.len() == FLOOD + 1
        })
        .await;

    // Two replicas on the store find the whole flood due, written before the reset mail.
    let _edge_and_core_api = stop_identity(stack.stack).await;
    let clock = stack.clock;
    let Some(sink) = SmtpSink::start_on(port).await else {
        return;
    };
    clock.advance(PAST_ANY_BACKOFF);
    // Two identity processes may share a SQLite file only without the session cache (DESIGN §15).
    let mut identity_config = identity_config;
    if matches!(store, Store::Sqlite) {
        identity_config.session_cache = identity::config::SessionCacheMode::Off;
    }
    let replica = stack::start_identity(identity_config.clone(), clock.clone())
        .await
        .expect("a replica on the same store");
    let identity = stack::start_identity(identity_config, clock.clone())
        .await
        .expect("another replica");
    eventually(
        MAIL_DEADLINE,
        "the flood and the reset mail arrive",
        || async {
            let arrived = sink.mails().len();
            if arrived > FLOOD {
                Ok(())
            } else {
                Err(format!("{arrived} of {} arrived", FLOOD + 1))
            }
        },
    )
    .await;
    let arrived = sink.mails();
    let position = arrived
        .iter()
        .position(|mail| mail["subject"] == RESET_SUBJECT)
        .expect("the reset mail arrived");
    assert!(is_to(&arrived[position], &owner));
    // First in, first out would deliver it last; it goes out with the first few.
    assert!(
        position < FLOOD / 3,
        "the reset mail arrived as number {} of {}",
        position + 1,
        FLOOD + 1
    );
    // The replicas' senders claimed different mails: each went out once.
    outbox
        .wait_until("all marked sent", |rows| {
            rows.iter().all(|row| row.state == "sent")
        })
        .await;
    assert_eq!(sink.mails().len(), FLOOD + 1, "no mail sent twice");
    identity.stop().await.expect("identity stops");
    replica.stop().await.expect("identity stops");
}

test_support::on_both_stores!(
    mail_written_while_the_mail_server_is_down_is_delivered_once_it_is_up,
    an_answered_requests_mail_is_delivered_by_the_next_identity_on_the_store,
    a_flood_of_verification_mail_does_not_hold_back_a_reset_mail,
);

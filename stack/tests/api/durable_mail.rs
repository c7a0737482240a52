//! Durable mail and the sign-up enumeration rule (DESIGN §14, §8), against a real SMTP server
//! (aiosmtpd, see `mail`) on both stores: mail written while the server is down goes out once it
//! is up; an answered request's mail is delivered by the next identity on the same store; a flood
//! of verification mail does not hold back a reset mail; sign-up for a taken address answers as
//! for a new one and mails the owner a notice; the development mailbox reads the outbox table.
//! The outbox is read straight from the store to see what identity wrote before it answered.
//! Backoffs are skipped by moving the shared test clock, never by sleeping.

use std::time::Duration;

use reqwest::header::SET_COOKIE;
use serde_json::{json, Value};
use sqlx::{AnyPool, Row};
use test_support::eventually;

use crate::mail::{
    free_port, is_to, link_in, request_reset, smtp_url_on, token_from_reset_link, SmtpSink,
    MAIL_DEADLINE, RESET_SUBJECT, VERIFY_SUBJECT,
};
use crate::support::{json_of, unique_email, Browser, Setup, Store, TestStack, PASSWORD};

const NOTICE_SUBJECT: &str = "Sign-up attempt with your email address";
/// Longer than any backoff (at most 10 minutes) and shorter than a reset link's life (1 hour).
const PAST_ANY_BACKOFF: Duration = Duration::from_secs(11 * 60);

/// One row of identity's `mail_outbox`.
#[derive(Debug)]
struct OutboxRow {
    kind: String,
    recipient: String,
    state: String,
    attempts: i64,
}

/// identity's outbox table, read from its store.
struct OutboxTable {
    pool: AnyPool,
    table: &'static str,
}

impl OutboxTable {
    /// Opens the store of a running identity (which has created it).
    async fn open(database_url: &str) -> OutboxTable {
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(database_url)
            .await
            .expect("identity's store opens");
        let table = if database_url.starts_with("postgres") {
            "auth.mail_outbox"
        } else {
            "mail_outbox"
        };
        OutboxTable { pool, table }
    }

    /// Every row, oldest first.
    async fn rows(&self) -> Vec<OutboxRow> {
        let query = format!(
            "SELECT kind, recipient, state, attempts FROM {} ORDER BY id",
            self.table
        );
        let rows = sqlx::query(&query)
            .fetch_all(&self.pool)
            .await
            .expect("the outbox is readable");
        rows.iter()
            .map(|row| OutboxRow {
                kind: row.get(0),
                recipient: row.get(1),
                state: row.get(2),
                attempts: row.get(3),
            })
            .collect()
    }

    /// Polls until `done` holds for the rows; returns them.
    async fn wait_until(&self, what: &str, done: impl Fn(&[OutboxRow]) -> bool) -> Vec<OutboxRow> {
        eventually(MAIL_DEADLINE, what, || async {
            let rows = self.rows().await;
            if done(&rows) {
                Ok(rows)
            } else {
                Err(format!("the outbox holds {rows:?}"))
            }
        })
        .await
    }
}

/// A stack whose identity mails to `127.0.0.1:port`, where nothing listens yet; with the
/// configuration to start another identity on the same store later.
async fn stack_with_mail_server_down(
    store: Store,
    port: u16,
) -> Option<(TestStack, identity::Config, OutboxTable)> {
    if !SmtpSink::available() {
        return None;
    }
    let mut setup = Setup::new(store).await?;
    setup.use_smtp(smtp_url_on(port));
    let identity_config = setup.identity.clone();
    let stack = setup.start().await;
    let outbox = OutboxTable::open(identity_config.database_url.expose_secret()).await;
    Some((stack, identity_config, outbox))
}

/// The token of a mailed reset link (`…/reset-password/<token>?callbackURL=…`).
fn reset_token_in(mail: &Value) -> String {
    let link = link_in(
        mail["text"].as_str().expect("text"),
        "/api/auth/reset-password/",
    );
    let after = link
        .split("/reset-password/")
        .nth(1)
        .expect("a token segment");
    after.split('?').next().expect("a token").to_owned()
}

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
    let TestStack {
        stack: services,
        clock,
        dir: _dir,
        ..
    } = stack;
    services.identity.stop().await.expect("identity stops");
    // The state held for counters holds the store too (a SQLite file has one identity at a time).
    drop(services.identity_state);
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
    let TestStack {
        stack: services,
        clock,
        dir: _dir,
        ..
    } = stack;
    services.identity.stop().await.expect("identity stops");
    // The state held for counters holds the store too (a SQLite file has one identity at a time).
    drop(services.identity_state);
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

/// A sign-up answer with what must differ between two accounts (id, times) blanked out.
fn shape_of(answer: &(u16, Value)) -> (u16, Value) {
    let mut body = answer.1.clone();
    for field in ["id", "email", "name", "createdAt", "updatedAt"] {
        if let Some(value) = body["user"].get_mut(field) {
            *value = json!("…");
        }
    }
    (answer.0, body)
}

async fn with_verification_required_sign_up_for_a_taken_address_answers_as_new_and_tells_the_owner(
    store: Store,
) {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let Some(mut setup) = Setup::new(store).await else {
        return;
    };
    setup.identity.require_email_verification = true;
    setup.use_smtp(sink.url());
    let database_url = setup.identity.database_url.expose_secret().to_owned();
    let stack = setup.start().await;
    let outbox = OutboxTable::open(&database_url).await;
    let owner = unique_email("Owner");
    assert_eq!(
        stack
            .browser()
            .sign_up("Owner", &owner, PASSWORD)
            .await
            .status(),
        200
    );
    sink.wait_for(&owner, VERIFY_SUBJECT, 1).await;

    let intruder = stack.browser();
    let taken = intruder
        .sign_up("Intruder", &owner, "the intruder's passphrase")
        .await;
    assert_eq!(
        taken.headers().get_all(SET_COOKIE).iter().count(),
        0,
        "no cookie"
    );
    let taken = json_of(taken).await;
    let newcomer = stack.browser();
    let fresh = newcomer
        .sign_up(
            "Intruder",
            &unique_email("Fresh"),
            "the intruder's passphrase",
        )
        .await;
    assert_eq!(fresh.headers().get_all(SET_COOKIE).iter().count(), 0);
    let fresh = json_of(fresh).await;
    assert_eq!(
        shape_of(&taken),
        shape_of(&fresh),
        "the same answer: {taken:?} {fresh:?}"
    );
    assert_eq!(taken.0, 200);
    assert_eq!(
        (
            taken.1["user"]["email"].as_str(),
            taken.1["user"]["name"].as_str()
        ),
        (Some(owner.as_str()), Some("Intruder"))
    );
    assert_eq!(taken.1["token"], Value::Null, "no session");
    assert!(intruder.session_token().is_none() && newcomer.session_token().is_none());

    // The owner is told, with the way to sign in or reset, and gets no verification link.
    let notice = sink.wait_for(&owner, NOTICE_SUBJECT, 1).await.remove(0);
    let text = notice["text"].as_str().expect("text");
    assert!(
        text.contains(&format!(
            "{}/forgot-password",
            stack.public_url.trim_end_matches('/')
        )),
        "{text}"
    );
    assert!(
        text.contains("/sign-in") && !text.contains("token="),
        "{text}"
    );
    let kinds: Vec<String> = outbox
        .rows()
        .await
        .into_iter()
        .filter(|row| row.recipient == owner)
        .map(|row| row.kind)
        .collect();
    assert_eq!(
        kinds,
        ["verify-email", "sign-up-notice"],
        "a notice instead of a verification link"
    );

    // Nothing changed on the account: the intruder's password does not sign in, the owner's
    // still meets the verification rule.
    let (status, body) = json_of(
        stack
            .browser()
            .sign_in(&owner, "the intruder's passphrase")
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("INVALID_EMAIL_OR_PASSWORD"))
    );
    let (status, body) = json_of(stack.browser().sign_in(&owner, PASSWORD).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("EMAIL_NOT_VERIFIED"))
    );

    // Notices count against the address's quota of that kind: 3 per 10 minutes in all.
    for _ in 0..3 {
        assert_eq!(
            shape_of(
                &json_of(
                    stack
                        .browser()
                        .sign_up("Intruder", &owner, "again and again")
                        .await
                )
                .await
            )
            .0,
            200
        );
    }
    let to_owner = outbox
        .rows()
        .await
        .into_iter()
        .filter(|row| row.recipient == owner)
        .count();
    assert_eq!(to_owner, 3, "one verification mail and two notices");
}

async fn the_development_mailbox_reads_the_outbox_table_across_restarts(store: Store) {
    let Some(setup) = Setup::new(store).await else {
        return;
    };
    let identity_config = setup.identity.clone();
    let stack = setup.start().await;
    let outbox = OutboxTable::open(identity_config.database_url.expose_secret()).await;
    let browser = stack.browser();
    let email = unique_email("Devon");
    assert_eq!(
        browser.sign_up("Devon", &email, PASSWORD).await.status(),
        200
    );
    let rows = outbox.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].state.as_str(), rows[0].recipient.as_str()),
        ("dev", email.as_str()),
        "kept, never sent"
    );
    let page = browser
        .get("/dev/mailbox")
        .await
        .text()
        .await
        .expect("a page");
    assert!(
        page.contains(&email) && page.contains(VERIFY_SUBJECT),
        "{page}"
    );

    let TestStack {
        stack: services,
        clock,
        dir: _dir,
        ..
    } = stack;
    services.identity.stop().await.expect("identity stops");
    // The state held for counters holds the store too (a SQLite file has one identity at a time).
    drop(services.identity_state);
    let identity = stack::start_identity(identity_config, clock)
        .await
        .expect("a new identity on the same store");
    let listed: Value = reqwest::get(format!("{}/v1/dev/outbox", identity.url()))
        .await
        .expect("identity answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        listed["messages"][0]["to"],
        json!(email),
        "the mail outlives the process: {listed}"
    );
    identity.stop().await.expect("identity stops");
}

test_support::on_both_stores!(
    mail_written_while_the_mail_server_is_down_is_delivered_once_it_is_up,
    an_answered_requests_mail_is_delivered_by_the_next_identity_on_the_store,
    a_flood_of_verification_mail_does_not_hold_back_a_reset_mail,
    with_verification_required_sign_up_for_a_taken_address_answers_as_new_and_tells_the_owner,
    the_development_mailbox_reads_the_outbox_table_across_restarts,
);

#[tokio::test]
async fn the_development_mailbox_has_the_pages_security_headers() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let browser = stack.browser();
    let mailbox = browser.get("/dev/mailbox").await;
    assert_eq!(mailbox.status(), 200);
    let page = browser.get("/sign-in").await;
    for header in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
        "cache-control",
    ] {
        let expected = page
            .headers()
            .get(header)
            .unwrap_or_else(|| panic!("pages send {header}"));
        assert_eq!(mailbox.headers().get(header), Some(expected), "{header}");
    }
}

#[tokio::test]
async fn without_verification_required_a_taken_address_is_still_refused_and_nobody_is_mailed() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let email = unique_email("Taken");
    assert_eq!(
        stack
            .browser()
            .sign_up("Taken", &email, PASSWORD)
            .await
            .status(),
        200
    );
    let again = Browser::new(
        &stack.edge(),
        &stack.public_url,
        "Mozilla/5.0 GatehouseTest/3.0",
    );
    let (status, body) = json_of(again.sign_up("Other", &email, "another passphrase").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"))
    );
    let subjects: Vec<Value> = crate::mail::outbox(&stack)
        .await
        .into_iter()
        .map(|mail| mail["subject"].clone())
        .collect();
    assert_eq!(subjects, [json!(VERIFY_SUBJECT)], "no notice");
}

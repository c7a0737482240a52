//! Floods of sign-ins: the hashing queue is bounded (full → `503 SERVER_BUSY` at once, through
//! edge with its Retry-After), and the jobs of browsers that gave up are never hashed — closing
//! the browser's connection drops edge's call to identity, which drops identity's handler and
//! with it the job's answer channel — so a sign-in after the flood does not wait behind it.

use std::time::Duration;

use reqwest::header::{ORIGIN, USER_AGENT};
use serde_json::json;

use crate::support::{json_of, unique_email, Setup, Store, TestStack, PASSWORD};

/// Sends a sign-in for a random unknown address from a client that gives up after `patience`.
async fn impatient_sign_in(
    stack: &TestStack,
    client: &reqwest::Client,
) -> Result<reqwest::Response, reqwest::Error> {
    client
        .post(format!("{}/api/auth/sign-in/email", stack.edge()))
        .header(USER_AGENT, "flood/1.0")
        .header(ORIGIN, &stack.public_url)
        .json(&json!({"email": unique_email("flood"), "password": "wrong password guess"}))
        .send()
        .await
}

async fn abandoned_sign_ins_are_never_hashed_and_a_later_sign_in_succeeds(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let email = unique_email("patient");
    let owner = stack.browser();
    assert_eq!(owner.sign_up("Pat", &email, PASSWORD).await.status(), 200);
    let hasher = stack.stack.identity_state.hasher().clone();
    let before = hasher.stats();

    // Hundreds of browsers, arriving at 400 a second (several times what the hashing threads
    // can do), each closing its connection after 100 ms.
    let flood: u64 = 400;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let answers = futures::future::join_all((0..flood).map(|n| {
        let (stack, impatient) = (&stack, &impatient);
        async move {
            tokio::time::sleep(Duration::from_micros(2_500 * n)).await;
            impatient_sign_in(stack, impatient).await
        }
    }))
    .await;
    let gave_up = answers
        .iter()
        .filter(|answer| answer.as_ref().is_err_and(reqwest::Error::is_timeout))
        .count();
    assert!(
        gave_up as u64 > flood / 2,
        "most of the flood gave up: {gave_up} of {flood}"
    );

    // Wait (polling, with a deadline) until the queue has drained and the threads are idle: an
    // abandoned request may also have been dropped before it reached the queue at all.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut last = hasher.stats();
    let after = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stats = hasher.stats();
        if stats.queued == 0 && stats == last {
            break stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flood never drained: {stats:?}"
        );
        last = stats;
    };
    let skipped = after.skipped - before.skipped;
    let hashed = after.hashed - before.hashed;
    assert!(
        skipped > 0,
        "jobs of callers that had gone were skipped: {after:?}"
    );
    assert!(
        hashed < flood,
        "not every abandoned job was hashed: {after:?}"
    );
    eprintln!(
        "flood of {flood}: {hashed} hashed, {skipped} skipped, {} refused",
        after.refused - before.refused
    );

    let (status, body) = json_of(owner.sign_in(&email, PASSWORD).await).await;
    assert_eq!(status, 200, "a sign-in after the flood succeeds: {body}");
}

#[tokio::test]
async fn abandoned_sign_ins_are_never_hashed_and_a_later_sign_in_succeeds_on_sqlite() {
    abandoned_sign_ins_are_never_hashed_and_a_later_sign_in_succeeds(Store::Sqlite).await;
}

#[tokio::test]
async fn abandoned_sign_ins_are_never_hashed_and_a_later_sign_in_succeeds_on_postgres() {
    abandoned_sign_ins_are_never_hashed_and_a_later_sign_in_succeeds(Store::Postgres).await;
}

async fn a_full_hashing_queue_answers_server_busy_at_once(store: Store) {
    let Some(mut setup) = Setup::new(store).await else {
        return;
    };
    setup.identity.password_hash_queue = 1;
    let stack = setup.start().await;
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    // Bursts of concurrent sign-ins until one finds the queue full (the first burst does on any
    // machine where a hash takes longer than sending a few requests).
    let busy = loop {
        let answers =
            futures::future::join_all((0..24).map(|_| impatient_sign_in(&stack, &client))).await;
        let mut busy = None;
        for answer in answers {
            let answer = answer.expect("edge answers");
            match answer.status().as_u16() {
                401 => {}
                503 => busy = Some(answer),
                other => panic!("unexpected status {other}"),
            }
        }
        if let Some(busy) = busy {
            break busy;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue of 1 was never full"
        );
    };
    let retry_after = busy
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .clone();
    assert_eq!(busy.headers().get("x-retry-after"), Some(&retry_after));
    assert!(retry_after.to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let (_, body) = json_of(busy).await;
    assert_eq!(body["code"], "SERVER_BUSY", "{body}");
    assert!(stack.stack.identity_state.hasher().stats().refused > 0);
}

#[tokio::test]
async fn a_full_hashing_queue_answers_server_busy_at_once_on_sqlite() {
    a_full_hashing_queue_answers_server_busy_at_once(Store::Sqlite).await;
}

#[tokio::test]
async fn a_full_hashing_queue_answers_server_busy_at_once_on_postgres() {
    a_full_hashing_queue_answers_server_busy_at_once(Store::Postgres).await;
}

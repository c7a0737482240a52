//! The revocation stream and what it buys (DESIGN §15): identity publishes each ended session,
//! replays the last two minutes on connect, and every core-api replica refuses tokens minted
//! before the end within a second; tokens are single-use across replicas (`JTI_STORE=postgres`).

use std::time::{Duration, Instant};

use reqwest::header::AUTHORIZATION;
use serde_json::Value;

use super::{binary, free_port, mint_at, Cluster, Process};
use crate::support::{claims_of, unique_email, PASSWORD};

/// The longest a core-api replica may go on accepting a token of an ended session.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(1);
const USER_AGENT: &str = "Mozilla/5.0 GatehouseCluster/1.0";

/// Mints a token at identity `i` for `GET path`, as edge does.
async fn mint(cluster: &Cluster, i: usize, session_token: &str, path: &str) -> String {
    mint_at(&cluster.identity[i].url, session_token, path, USER_AGENT).await
}

/// `GET /api/profile` at core-api `i` with a bearer token: status and body.
async fn call_core(cluster: &Cluster, i: usize, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/profile", cluster.core_api[i].url))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("core-api answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Reads `data:` lines from identity `i`'s stream until `wanted` matches one (or times out).
async fn stream_until(cluster: &Cluster, i: usize, wanted: impl Fn(&Value) -> bool) -> Value {
    let mut response = reqwest::Client::new()
        .get(format!("{}/v1/revocations", cluster.identity[i].url))
        .send()
        .await
        .expect("identity answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .expect("the event arrives in time")
            .expect("the stream reads")
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        for line in buffer.lines() {
            if let Some(data) = line.strip_prefix("data:") {
                if let Ok(event) = serde_json::from_str::<Value>(data.trim()) {
                    if wanted(&event) {
                        return event;
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn every_core_api_replica_refuses_tokens_of_an_ended_session_within_a_second() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let browser = cluster.browser(0);
    let email = unique_email("InFlight");
    assert_eq!(
        browser.sign_up("InFlight", &email, PASSWORD).await.status(),
        200
    );
    let session = browser.session_token().expect("a session cookie");
    let sid = {
        let token = mint(&cluster, 0, &session, "/api/profile").await;
        claims_of(&token)["sid"].as_str().expect("sid").to_owned()
    };

    // Tokens minted before the sign-out, at both identity replicas: one per attempt, since each
    // token is single-use.
    let mut minted = Vec::new();
    for n in 0..60 {
        minted.push(mint(&cluster, n % 2, &session, "/api/profile").await);
    }
    let (before_a, before_b) = (minted.pop().unwrap(), minted.pop().unwrap());
    assert_eq!(
        call_core(&cluster, 0, &before_a).await.0,
        200,
        "valid before the sign-out"
    );
    assert_eq!(
        call_core(&cluster, 1, &before_b).await.0,
        200,
        "valid before the sign-out"
    );

    // Both identity replicas publish the end (A ended it, B learns it from the database).
    let watch_b = stream_until(&cluster, 1, {
        let sid = sid.clone();
        move |event| event["sid"] == sid.as_str()
    });
    let (signed_out, event) = tokio::join!(
        async {
            let response = browser.sign_out().await;
            (response.status(), Instant::now())
        },
        watch_b
    );
    assert_eq!(signed_out.0, 200);
    assert!(
        event["at"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{event}"
    );
    let answered = signed_out.1;

    let mut spare = minted.into_iter();
    for replica in 0..2 {
        loop {
            let token = spare.next().expect("enough minted tokens");
            let (status, body) = call_core(&cluster, replica, &token).await;
            if status == 401 {
                assert!(
                    body["message"].as_str().unwrap_or("").contains("session"),
                    "{body}"
                );
                let after = answered.elapsed();
                eprintln!("core-api replica {replica} refused the ended session's token {after:?} after the sign-out answer");
                assert!(
                    after <= REFUSAL_DEADLINE,
                    "replica {replica} took {after:?}"
                );
                break;
            }
            assert_eq!(status, 200, "{body}");
            assert!(
                answered.elapsed() <= REFUSAL_DEADLINE,
                "replica {replica} still accepts"
            );
        }
    }

    // A new subscriber is replayed the end it missed.
    let replayed = stream_until(&cluster, 0, move |event| event["sid"] == sid.as_str()).await;
    assert!(replayed["at"].is_string());
}

#[tokio::test]
async fn a_token_is_accepted_once_by_one_replica_and_refused_by_both_after() {
    let Some(mut cluster) = Cluster::start().await else {
        return;
    };
    let browser = cluster.browser(0);
    let email = unique_email("Replay");
    assert_eq!(
        browser.sign_up("Replay", &email, PASSWORD).await.status(),
        200
    );
    let session = browser.session_token().expect("a session cookie");
    let token = mint(&cluster, 0, &session, "/api/profile").await;

    assert_eq!(call_core(&cluster, 0, &token).await.0, 200);
    for replica in [0, 1] {
        let (status, body) = call_core(&cluster, replica, &token).await;
        assert_eq!(status, 401, "replica {replica}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains("jti"),
            "{body}"
        );
    }
    // A fresh token of the same session still works at either.
    let fresh = mint(&cluster, 1, &session, "/api/profile").await;
    assert_eq!(call_core(&cluster, 1, &fresh).await.0, 200);

    // A replica stopped as an orchestrator stops it gives up its lease on the way out, so the
    // other replica's changes no longer wait for its acknowledgement.
    let database_url = cluster.database.url().to_owned();
    let live_leases = || async {
        let pool = sqlx::PgPool::connect(&database_url)
            .await
            .expect("database");
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM auth.cache_replicas \
             WHERE lease_until > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        )
        .fetch_one(&pool)
        .await
        .expect("leases");
        pool.close().await;
        count
    };
    assert_eq!(live_leases().await, 2);
    cluster.identity[1].terminate();
    assert!(cluster.identity[1].exit_status().await.success());
    assert_eq!(
        live_leases().await,
        1,
        "the stopped replica's lease is gone at once"
    );
    assert_eq!(browser.sign_out().await.status(), 200);
}

#[tokio::test]
async fn a_second_identity_on_a_cached_sqlite_store_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys_dir = dir.path().join("keys");
    let init = std::process::Command::new(binary("identity"))
        .args(["keys", "init"])
        .env("KEYS_DIR", &keys_dir)
        .output()
        .expect("identity keys init runs");
    assert!(init.status.success());
    let database_url = format!("sqlite://{}/identity.db", dir.path().display());
    let env = |port: u16| {
        vec![
            ("IDENTITY_ADDR", format!("127.0.0.1:{port}")),
            ("DATABASE_URL", database_url.clone()),
            ("KEYS_DIR", keys_dir.display().to_string()),
            ("DEV_MAILBOX", "true".to_owned()),
        ]
    };
    let first_port = free_port();
    let mut first = Process::spawn(
        dir.path(),
        "first",
        "identity",
        first_port,
        &env(first_port),
    );
    first.wait_ready(|_| true).await;

    let second_port = free_port();
    let mut second = Process::spawn(
        dir.path(),
        "second",
        "identity",
        second_port,
        &env(second_port),
    );
    let status = second.exit_status().await;
    assert!(!status.success());
    let log = second.log();
    assert!(
        log.contains("another identity process holds this SQLite store")
            && log.contains("SESSION_CACHE"),
        "{log}"
    );
    assert_eq!(log.trim().lines().count(), 1, "one clear line: {log}");
}

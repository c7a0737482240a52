//! The outbox's SQL against a real (SQLite) store: priority, leases, retries, wiping, pruning
//! and the development listing. The PostgreSQL variant of the claim runs in stack's tests.

use service_kit::db::Database;

use super::*;

const HOUR: i64 = 3_600_000;
const LEASE: i64 = 60_000;

/// A fresh migrated SQLite store.
pub(crate) async fn store() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/identity.db", dir.path().display());
    (dir, crate::test_store::migrated(&url).await)
}

fn mail(to: &str, subject: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: subject.into(),
        text: format!("text for {to}"),
        html: format!("<p>html for {to}</p>"),
        links: vec![format!("http://h/link-for-{to}")],
    }
}

async fn add(db: &Database, to: &str, kind: MailKind, now: i64) {
    write(
        &db.pool,
        &mail(to, kind.as_str()),
        kind,
        false,
        now,
        now + HOUR,
    )
    .await
    .expect("written");
}

async fn claim_any(db: &Database, now: i64) -> Option<Claimed> {
    claim(&db.pool, db.backend, i64::MAX, now, LEASE)
        .await
        .expect("claim runs")
}

#[tokio::test]
async fn reset_mail_is_claimed_before_older_mail_and_the_rest_in_order() {
    let (_dir, db) = store().await;
    add(&db, "v1@example.com", MailKind::EmailVerification, 0).await;
    add(&db, "v2@example.com", MailKind::EmailVerification, 0).await;
    add(&db, "n@example.com", MailKind::SignUpNotice, 1).await;
    add(&db, "r@example.com", MailKind::PasswordReset, 2).await;
    let mut order = Vec::new();
    while let Some(claimed) = claim_any(&db, 10).await {
        assert_eq!(claimed.attempts, 1);
        order.push(claimed.mail.to);
    }
    assert_eq!(
        order,
        [
            "r@example.com",
            "v1@example.com",
            "v2@example.com",
            "n@example.com"
        ]
    );
}

#[tokio::test]
async fn the_reset_lane_takes_only_reset_mail() {
    let (_dir, db) = store().await;
    add(&db, "v@example.com", MailKind::EmailVerification, 0).await;
    let reset_lane = MailKind::PasswordReset.priority();
    assert!(claim(&db.pool, db.backend, reset_lane, 1, LEASE)
        .await
        .unwrap()
        .is_none());
    add(&db, "r@example.com", MailKind::PasswordReset, 1).await;
    let claimed = claim(&db.pool, db.backend, reset_lane, 2, LEASE)
        .await
        .unwrap()
        .expect("the reset mail");
    assert_eq!(claimed.mail.to, "r@example.com");
    assert_eq!(claimed.mail.text, "text for r@example.com");
}

#[tokio::test]
async fn a_leased_mail_is_not_claimed_again_until_its_lease_runs_out() {
    let (_dir, db) = store().await;
    add(&db, "a@example.com", MailKind::EmailVerification, 0).await;
    let first = claim_any(&db, 1).await.expect("claimed");
    assert!(
        claim_any(&db, 1 + LEASE - 1).await.is_none(),
        "held by the lease"
    );
    let again = claim_any(&db, 1 + LEASE)
        .await
        .expect("the sender died: claimed again");
    assert_eq!((again.id, again.attempts), (first.id, 2));
    assert!(
        !mark_sent(&db.pool, &first, 2 + LEASE).await.unwrap(),
        "the lost lease records nothing"
    );
    assert!(mark_sent(&db.pool, &again, 2 + LEASE).await.unwrap());
}

#[tokio::test]
async fn concurrent_claims_take_different_mails() {
    let (_dir, db) = store().await;
    for n in 0..8 {
        add(
            &db,
            &format!("{n}@example.com"),
            MailKind::EmailVerification,
            0,
        )
        .await;
    }
    let claims = futures_join_all(&db, 8).await;
    let mut ids: Vec<i64> = claims.iter().flatten().map(|claimed| claimed.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8, "every mail claimed exactly once");
}

async fn futures_join_all(db: &Database, count: usize) -> Vec<Option<Claimed>> {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let db = db.clone();
        tasks.push(tokio::spawn(async move { claim_any(&db, 1).await }));
    }
    let mut claims = Vec::new();
    for task in tasks {
        claims.push(task.await.expect("claim task"));
    }
    claims
}

#[tokio::test]
async fn a_retry_waits_for_its_time_and_a_finished_mail_keeps_no_body() {
    let (_dir, db) = store().await;
    add(&db, "a@example.com", MailKind::PasswordReset, 0).await;
    assert_eq!(pending_count(&db.pool).await.unwrap(), 1);
    let claimed = claim_any(&db, 1).await.expect("claimed");
    assert!(retry_at(&db.pool, &claimed, "451 try later", 1_000)
        .await
        .unwrap());
    assert!(
        claim_any(&db, 999).await.is_none(),
        "not before the backoff"
    );
    let claimed = claim_any(&db, 1_000).await.expect("due again");
    assert_eq!(claimed.attempts, 2);
    assert!(mark_sent(&db.pool, &claimed, 1_001).await.unwrap());
    assert_eq!(pending_count(&db.pool).await.unwrap(), 0);
    assert!(claim_any(&db, HOUR).await.is_none(), "sent once");
    let (text, html, links): (String, String, String) =
        sqlx::query_as("SELECT text_body, html_body, links FROM mail_outbox")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (text.as_str(), html.as_str(), links.as_str()),
        ("", "", "[]"),
        "no link stays at rest"
    );

    add(&db, "b@example.com", MailKind::EmailVerification, 2_000).await;
    let claimed = claim_any(&db, 2_000).await.expect("claimed");
    assert!(mark_failed(&db.pool, &claimed, "550 no such user", 2_001)
        .await
        .unwrap());
    let (state, text): (String, String) = sqlx::query_as(
        "SELECT state, text_body FROM mail_outbox WHERE recipient = 'b@example.com'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), text.as_str()), ("failed", ""));
}

#[tokio::test]
async fn development_mail_is_never_claimed_listed_newest_first_and_bounded() {
    let (_dir, db) = store().await;
    for n in 0..DEV_CAPACITY + 3 {
        let to = format!("{n}@example.com");
        write(
            &db.pool,
            &mail(&to, "dev"),
            MailKind::EmailVerification,
            true,
            n,
            n + HOUR,
        )
        .await
        .unwrap();
    }
    assert!(
        claim_any(&db, HOUR).await.is_none(),
        "development mail is never sent"
    );
    assert_eq!(pending_count(&db.pool).await.unwrap(), 0);
    let listed = list_dev(&db.pool).await.unwrap();
    assert_eq!(listed.len() as i64, DEV_CAPACITY);
    assert_eq!(listed[0].to, format!("{}@example.com", DEV_CAPACITY + 2));
    assert_eq!(
        listed[0].links,
        [format!(
            "http://h/link-for-{}@example.com",
            DEV_CAPACITY + 2
        )]
    );
    assert_eq!(prune(&db.pool, 0).await.unwrap(), 3);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, DEV_CAPACITY);
}

#[tokio::test]
async fn finished_mail_is_pruned_after_the_retention_and_pending_mail_never() {
    let (_dir, db) = store().await;
    add(&db, "sent@example.com", MailKind::EmailVerification, 0).await;
    add(&db, "pending@example.com", MailKind::EmailVerification, 0).await;
    let claimed = claim_any(&db, 1).await.expect("claimed");
    assert!(mark_sent(&db.pool, &claimed, 10).await.unwrap());
    assert_eq!(
        prune(&db.pool, 10).await.unwrap(),
        0,
        "finished at 10: kept until later"
    );
    assert_eq!(prune(&db.pool, 11).await.unwrap(), 1);
    assert_eq!(pending_count(&db.pool).await.unwrap(), 1);
}

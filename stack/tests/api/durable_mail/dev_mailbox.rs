//! The development mailbox reads the outbox table across restarts and has the pages' security
//! headers.

use serde_json::{json, Value};

use super::{stop_identity, OutboxTable};
use crate::mail::VERIFY_SUBJECT;
use crate::support::{unique_email, Setup, Store, TestStack, PASSWORD};

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

    let _edge_and_core_api = stop_identity(stack.stack).await;
    let clock = stack.clock;
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

test_support::on_both_stores!(the_development_mailbox_reads_the_outbox_table_across_restarts,);

//! DESIGN §8's sign-up rule: a taken address answers as a new one and mails the owner a notice
//! (with verification required), or is refused and mails nobody (without).

use reqwest::header::SET_COOKIE;
use serde_json::{json, Value};

use super::{OutboxTable, NOTICE_SUBJECT};
use crate::mail::{SmtpSink, VERIFY_SUBJECT};
use crate::support::{json_of, unique_email, Browser, Setup, Store, TestStack, PASSWORD};

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

test_support::on_both_stores!(
    with_verification_required_sign_up_for_a_taken_address_answers_as_new_and_tells_the_owner,
);

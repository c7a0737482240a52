//! Without SMTP, mail goes to the development outbox and its page; an unreachable mail server
//! changes no answer.

use super::*;

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

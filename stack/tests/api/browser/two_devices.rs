//! Two browsers (two WebDriver sessions, each its own Chromium profile) signed in as one user:
//! the account page of one revokes the other, whose next action lands on sign-in.

use fantoccini::{Client, Locator};

use super::{
    click, docs_screenshot, eventually, fill, screenshot, stack_for_browser, text_of,
    wait_for_path, wait_for_text, Chromium,
};
use crate::support::*;

/// How many rows the account page's sessions list shows.
async fn session_rows(client: &Client) -> usize {
    client
        .find_all(Locator::Css("#sessions > li"))
        .await
        .map_or(0, |rows| rows.len())
}

#[tokio::test]
async fn revoking_the_other_browser_sends_its_next_action_to_sign_in() {
    let Some(stack) = stack_for_browser().await else {
        return;
    };
    let Some(first) = Chromium::start().await else {
        return;
    };
    let Some(second) = Chromium::start().await else {
        return;
    };
    let (laptop, phone) = (first.client.clone(), second.client.clone());
    let email = unique_email("twodevices");

    laptop
        .goto(&format!("{}/sign-up?next=/account", stack.public_url))
        .await
        .expect("open sign-up");
    fill(&laptop, "#sign-up-name", "Margaret").await;
    fill(&laptop, "#sign-up-email", &email).await;
    fill(&laptop, "#sign-up-password", PASSWORD).await;
    click(&laptop, "#sign-up button[type=submit]").await;
    wait_for_path(&laptop, "/account").await;

    phone
        .goto(&format!("{}/sign-in?next=/app", stack.public_url))
        .await
        .expect("open sign-in");
    fill(&phone, "#sign-in-email", &email).await;
    fill(&phone, "#sign-in-password", PASSWORD).await;
    click(&phone, "#sign-in button[type=submit]").await;
    wait_for_path(&phone, "/app").await;
    wait_for_text(&phone, "#profile", &email).await;
    wait_for_text(&phone, "#orders", "No orders yet.").await;

    laptop.refresh().await.expect("reload the account page");
    eventually(&laptop, "both sessions are listed", |c| async move {
        session_rows(&c).await == 2 && text_of(&c, "#sessions").await.contains("This device")
    })
    .await;
    let mine = laptop
        .find(Locator::XPath(
            "//ul[@id='sessions']/li[span[@class='this-device']]",
        ))
        .await
        .expect("this device's row");
    assert!(
        mine.find(Locator::Css("button")).await.is_err(),
        "this device has no revoke button"
    );
    docs_screenshot(&laptop, "account", Some("password-h")).await;

    laptop
        .find(Locator::XPath(
            "//ul[@id='sessions']/li[not(span[@class='this-device'])]/button",
        ))
        .await
        .expect("the other session's revoke button")
        .click()
        .await
        .expect("click revoke");
    eventually(&laptop, "only this device is listed", |c| async move {
        session_rows(&c).await == 1 && text_of(&c, "#sessions").await.contains("This device")
    })
    .await;
    assert_eq!(text_of(&laptop, "#sessions-alert").await, "");

    click(&phone, "#order button[type=submit]").await;
    wait_for_path(&phone, "/sign-in").await;
    let url = phone.current_url().await.expect("url");
    assert_eq!(
        url.query(),
        Some("next=%2Fapp"),
        "sign-in brings it back to the app"
    );
    phone
        .goto(&format!("{}/app", stack.public_url))
        .await
        .expect("open the app again");
    wait_for_path(&phone, "/sign-in").await;

    laptop.refresh().await.expect("reload the account page");
    wait_for_text(&laptop, "#sessions", "This device").await;
    screenshot(&phone, "revoked-device").await;
    screenshot(&laptop, "revoking-device").await;
    phone.close().await.expect("close the second session");
    laptop.close().await.expect("close the first session");
}

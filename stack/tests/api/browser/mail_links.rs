//! Journeys through mailed links in the development outbox mode (`SMTP_URL` unset): the browser
//! reads `/dev/mailbox` and clicks the link, as a developer would.

use std::time::Duration;

use fantoccini::{Client, Locator};

use super::{
    click, docs_screenshot, fill, screenshot, stack_for_browser, text_of, wait_for_path,
    wait_for_text, Chromium,
};
use crate::support::*;

const VERIFY_SUBJECT: &str = "Confirm your email address";
const RESET_SUBJECT: &str = "Reset your password";
const NEW_PASSWORD: &str = "a brand new passphrase";
/// How long a mail may take to show up in the mailbox.
const MAIL_DEADLINE: Duration = Duration::from_secs(20);

/// Opens `/dev/mailbox` until it lists a mail to `to` with `subject` (mail is composed after
/// the answer that asked for it), then clicks that mail's link.
pub(super) async fn follow_mailed_link(client: &Client, public_url: &str, to: &str, subject: &str) {
    let link = format!(
        "//article[.//dd[@class='to' and text()='{to}'] and .//dd[@class='subject' and text()='{subject}']]//a"
    );
    let found = test_support::poll_until(MAIL_DEADLINE, || async {
        client
            .goto(&format!("{public_url}/dev/mailbox"))
            .await
            .expect("open the mailbox");
        client.find(Locator::XPath(&link)).await
    })
    .await;
    match found {
        Ok(anchor) => anchor.click().await.expect("click the mailed link"),
        Err(_) => {
            let _ = screenshot(client, "failed-mailbox").await;
            panic!("no mail {subject:?} to {to} in the mailbox");
        }
    }
}

/// Fills and submits the sign-in form on the current page.
pub(super) async fn sign_in_with(client: &Client, email: &str, password: &str) {
    fill(client, "#sign-in-email", email).await;
    fill(client, "#sign-in-password", password).await;
    click(client, "#sign-in button[type=submit]").await;
}

#[tokio::test]
async fn a_verified_sign_up_signs_in_and_places_an_order() {
    let Some(stack) = stack_for_browser().await else {
        return;
    };
    let Some(chromium) = Chromium::start().await else {
        return;
    };
    let client = chromium.client.clone();
    let email = unique_email("verified");

    client
        .goto(&format!("{}/sign-up", stack.public_url))
        .await
        .expect("open sign-up");
    fill(&client, "#sign-up-name", "Katherine").await;
    fill(&client, "#sign-up-email", &email).await;
    fill(&client, "#sign-up-password", PASSWORD).await;
    click(&client, "#sign-up button[type=submit]").await;
    wait_for_path(&client, "/app").await;

    follow_mailed_link(&client, &stack.public_url, &email, VERIFY_SUBJECT).await;
    wait_for_path(&client, "/verify-email").await;
    let url = client.current_url().await.expect("url");
    assert_eq!(url.query(), None, "the link was accepted: {url}");
    assert!(
        text_of(&client, ".message.ok")
            .await
            .contains("is now verified"),
        "the success message is shown"
    );

    client
        .find(Locator::Css(".message.ok a"))
        .await
        .expect("the sign-in link")
        .click()
        .await
        .expect("click sign-in");
    wait_for_path(&client, "/sign-in").await;
    fill(&client, "#sign-in-email", &email).await;
    docs_screenshot(&client, "sign-in", None).await;
    sign_in_with(&client, &email, PASSWORD).await;
    wait_for_path(&client, "/app").await;
    wait_for_text(&client, "#profile", &email).await;
    let verified = client
        .find(Locator::XPath(
            "//dl[@id='profile']/dt[text()='Email verified']/following-sibling::dd[1]",
        ))
        .await
        .expect("the email-verified fact")
        .text()
        .await
        .expect("text");
    assert_eq!(verified, "Yes", "the profile shows the address verified");

    wait_for_text(&client, "#orders", "No orders yet.").await;
    let product = text_of(&client, "#order-product_id option").await;
    let product_name = product.split(" (").next().unwrap_or_default().to_owned();
    assert!(!product_name.is_empty(), "a product is offered");
    fill(&client, "#order-quantity", "3").await;
    click(&client, "#order button[type=submit]").await;
    wait_for_text(&client, "#order-status", "Order placed.").await;
    wait_for_text(&client, "#orders", &product_name).await;
    assert!(!text_of(&client, "#orders").await.contains("No orders yet."));
    docs_screenshot(&client, "app", None).await;

    client
        .execute("document.getElementById('orders').scrollIntoView()", vec![])
        .await
        .expect("scroll to the orders");
    screenshot(&client, "verify-sign-in-and-order").await;
    client.clone().close().await.expect("close the session");
}

#[tokio::test]
async fn a_reset_link_replaces_the_password_the_old_one_is_refused() {
    let Some(stack) = stack_for_browser().await else {
        return;
    };
    let email = unique_email("forgetful");
    let response = stack.browser().sign_up("Barbara", &email, PASSWORD).await;
    assert_eq!(response.status(), 200, "sign-up of {email}");
    let Some(chromium) = Chromium::start().await else {
        return;
    };
    let client = chromium.client.clone();

    client
        .goto(&format!("{}/sign-in", stack.public_url))
        .await
        .expect("open sign-in");
    client
        .find(Locator::LinkText("Forgot your password?"))
        .await
        .expect("the forgot-password link")
        .click()
        .await
        .expect("click forgot-password");
    wait_for_path(&client, "/forgot-password").await;
    fill(&client, "#forgot-email", &email).await;
    click(&client, "#forgot button[type=submit]").await;
    wait_for_text(&client, "#forgot-status", "a reset link is on its way").await;

    follow_mailed_link(&client, &stack.public_url, &email, RESET_SUBJECT).await;
    wait_for_path(&client, "/reset-password").await;
    let url = client.current_url().await.expect("url");
    assert!(
        url.query().is_some_and(|q| q.starts_with("token=")),
        "the link carries its token to the page: {url}"
    );
    fill(&client, "#reset-newPassword", NEW_PASSWORD).await;
    click(&client, "#reset button[type=submit]").await;
    wait_for_path(&client, "/sign-in").await;

    sign_in_with(&client, &email, PASSWORD).await;
    wait_for_text(
        &client,
        "#sign-in-alert",
        "The email address or password is incorrect.",
    )
    .await;
    assert_eq!(
        client.current_url().await.expect("url").path(),
        "/sign-in",
        "the old password leads nowhere"
    );

    sign_in_with(&client, &email, NEW_PASSWORD).await;
    wait_for_path(&client, "/app").await;
    wait_for_text(&client, "#profile", &email).await;
    screenshot(&client, "reset-password").await;
    client.clone().close().await.expect("close the session");
}

//! "Continue with …" in real Chromium: from `/sign-in` through the real OpenID provider's own
//! login and consent pages (node-oidc-provider) back to `/app`, signed in; then `/account`
//! lists the provider among the ways to sign in and refuses to unlink the only one. A user the
//! provider created has no password: `/account` offers to set one by a mailed link instead of
//! asking for the current one, and deletes the account without one when the session is fresh.

use std::time::Duration;

use fantoccini::Client;
use serde_json::json;

use super::mail_links::{follow_mailed_link, sign_in_with};
use super::*;
use crate::mail::SET_PASSWORD_SUBJECT;
use crate::social::{location_of, provider_settings, social_sign_in, OpenIdProvider};

/// A stack with the test provider, whose edge listens on the port its PUBLIC_URL names, and a
/// Chromium; `None` to skip.
struct SocialBrowser {
    client: Client,
    stack: TestStack,
    _chromium: Chromium,
    _provider: OpenIdProvider,
}

impl SocialBrowser {
    async fn start() -> Option<SocialBrowser> {
        let port = free_port();
        let public_url = format!("http://127.0.0.1:{port}");
        let provider = OpenIdProvider::start(&public_url).await?;
        let mut setup = Setup::new(Store::Sqlite).await?;
        setup.edge.addr = format!("127.0.0.1:{port}").parse().expect("addr");
        setup.edge.public_url = public_url.clone();
        setup.identity.public_url = public_url;
        setup.identity.social = provider_settings(&provider.issuer);
        let stack = setup.start().await;
        let chromium = Chromium::start().await?;
        Some(SocialBrowser {
            client: chromium.client.clone(),
            stack,
            _chromium: chromium,
            _provider: provider,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.public_url)
    }

    /// From `/sign-in?next=<next>`, "Continue with Test OP" through the provider's login (as
    /// `email`) and consent pages, until the browser is back at `next`.
    async fn continue_with_provider(&self, email: &str, next: &'static str) {
        let client = &self.client;
        client
            .goto(&self.url(&format!("/sign-in?next={next}")))
            .await
            .expect("open sign-in");
        wait_for_text(client, "button[data-social=test]", "Continue with Test OP").await;
        click(client, "button[data-social=test]").await;

        // The provider's own login page, then its consent page.
        fill(client, "input[name=login]", email).await;
        fill(client, "input[name=password]", "any password").await;
        click(client, "button[type=submit]").await;
        eventually(client, "the provider's consent page", |c| async move {
            text_of(&c, "body").await.contains("Authorize")
                || text_of(&c, "body").await.contains("Continue")
        })
        .await;
        client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css("button[type=submit]"))
            .await
            .expect("consent button")
            .click()
            .await
            .expect("consent");
        wait_for_path(client, next).await;
    }

    /// Scrolls the element with id `id` to the top of the window (for the screenshot).
    async fn scroll_to(&self, id: &str) {
        self.client
            .execute(
                "document.getElementById(arguments[0]).scrollIntoView()",
                vec![json!(id)],
            )
            .await
            .expect("scroll");
    }

    /// How many elements match `css` on the current page.
    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |found| found.len())
    }
}

#[tokio::test]
async fn continuing_with_a_provider_goes_through_its_pages_and_back_to_the_app() {
    let Some(browser) = SocialBrowser::start().await else {
        return;
    };
    let client = browser.client.clone();
    let email = unique_email("oidc-chromium");

    browser.continue_with_provider(&email, "/app").await;
    wait_for_text(&client, "#profile", &email).await;
    screenshot(&client, "social-sign-in-app").await;

    client
        .goto(&browser.url("/account"))
        .await
        .expect("open account");
    wait_for_text(&client, "#accounts", "Test OP").await;
    // The provider is this user's only way in: it says so, and offers no Unlink to press
    // (identity would refuse it; the HTTP journeys test that refusal).
    wait_for_text(&client, "#accounts", "your only way to sign in").await;
    assert_eq!(browser.count("#accounts button").await, 0);
    screenshot(&client, "social-sign-in-account").await;
}

#[tokio::test]
async fn a_user_without_a_password_sets_one_from_the_account_page_and_then_signs_in_with_it() {
    let Some(browser) = SocialBrowser::start().await else {
        return;
    };
    let client = browser.client.clone();
    let email = unique_email("no-password");
    let password = "chosen after the provider";

    browser.continue_with_provider(&email, "/account").await;
    wait_for_text(&client, "#set-password button", "Set a password").await;
    assert!(text_of(&client, "#no-password")
        .await
        .contains("You sign in with Test OP"));
    assert_eq!(
        browser.count("input[type=password]").await,
        0,
        "no current password is asked for, neither to change it nor to delete the account"
    );
    wait_for_text(&client, "#accounts", "Test OP").await;
    assert!(!text_of(&client, "#accounts")
        .await
        .contains("Email and password"));
    browser.scroll_to("password-h").await;
    screenshot(&client, "no-password-account").await;

    click(&client, "#set-password button").await;
    wait_for_text(&client, "#set-password-status", "Check your email").await;
    assert_eq!(text_of(&client, "#set-password-alert").await, "");

    follow_mailed_link(
        &client,
        &browser.stack.public_url,
        &email,
        SET_PASSWORD_SUBJECT,
    )
    .await;
    wait_for_path(&client, "/reset-password").await;
    fill(&client, "#reset-newPassword", password).await;
    click(&client, "#reset button[type=submit]").await;
    wait_for_path(&client, "/sign-in").await;

    sign_in_with(&client, &email, password).await;
    wait_for_path(&client, "/app").await;
    client
        .goto(&browser.url("/account"))
        .await
        .expect("open account");
    wait_for_text(&client, "#accounts", "Email and password").await;
    wait_for_text(&client, "#accounts", "Test OP").await;
    // Now a password user's page: change it with the current one, delete with it.
    assert_eq!(
        text_of(&client, "#password-h").await,
        "Change your password"
    );
    assert_eq!(browser.count("#password-currentPassword").await, 1);
    assert_eq!(browser.count("#delete-password").await, 1);
    assert_eq!(browser.count("#set-password").await, 0);
    screenshot(&client, "no-password-set").await;
}

#[tokio::test]
async fn a_user_without_a_password_deletes_the_account_from_the_account_page_without_one() {
    let Some(browser) = SocialBrowser::start().await else {
        return;
    };
    let client = browser.client.clone();
    let email = unique_email("delete-no-password");

    browser.continue_with_provider(&email, "/account").await;
    wait_for_text(&client, "#delete button", "Delete my account").await;
    assert_eq!(browser.count("#delete input[type=password]").await, 0);

    // Unticked, the browser does not send the form.
    click(&client, "#delete button[type=submit]").await;
    let valid = client
        .execute(
            "return document.getElementById('delete').checkValidity()",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(valid, json!(false), "the tick is required");
    assert_eq!(client.current_url().await.expect("url").path(), "/account");

    click(&client, "#delete-confirm").await;
    click(&client, "#delete button[type=submit]").await;
    wait_for_path(&client, "/").await;
    client
        .goto(&browser.url("/account"))
        .await
        .expect("open account");
    wait_for_path(&client, "/sign-in").await;

    // The provider's next sign-in makes a new user: the old one is gone.
    let http = browser.stack.browser();
    let back = social_sign_in(
        &browser.stack,
        &http,
        &email,
        json!({"callbackURL": "/app", "newUserCallbackURL": "/account"}),
    )
    .await;
    assert_eq!(location_of(&back), "/account", "a new user");
}

#[tokio::test]
async fn a_user_without_a_password_is_asked_to_sign_in_again_to_delete_with_an_old_session() {
    let Some(browser) = SocialBrowser::start().await else {
        return;
    };
    let client = browser.client.clone();
    let email = unique_email("stale-no-password");

    browser.continue_with_provider(&email, "/account").await;
    browser.stack.clock.advance(Duration::from_secs(2 * 86_400));
    click(&client, "#delete-confirm").await;
    click(&client, "#delete button[type=submit]").await;
    wait_for_text(
        &client,
        "#delete-alert",
        "For your safety, sign in again before deleting your account",
    )
    .await;
    assert_eq!(client.current_url().await.expect("url").path(), "/account");
    browser.scroll_to("delete-h").await;
    screenshot(&client, "no-password-delete-stale").await;
    client
        .goto(&browser.url("/account"))
        .await
        .expect("open account");
    wait_for_text(&client, "dl.facts", &email).await;
}

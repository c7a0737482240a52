//! "Continue with …" in real Chromium: from `/sign-in` through the real OpenID provider's own
//! login and consent pages (node-oidc-provider) back to `/app`, signed in; then `/account`
//! lists the provider among the ways to sign in and refuses to unlink the only one.

use super::*;
use crate::social::{provider_settings, OpenIdProvider};

#[tokio::test]
async fn continuing_with_a_provider_goes_through_its_pages_and_back_to_the_app() {
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let Some(provider) = OpenIdProvider::start(&public_url).await else {
        return;
    };
    let Some(mut setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    setup.edge.addr = format!("127.0.0.1:{port}").parse().expect("addr");
    setup.edge.public_url = public_url.clone();
    setup.identity.public_url = public_url.clone();
    setup.identity.social = provider_settings(&provider.issuer);
    let _stack = setup.start().await;
    let Some(chromium) = Chromium::start().await else {
        return;
    };
    let client = chromium.client.clone();
    let email = unique_email("oidc-chromium");

    client
        .goto(&format!("{public_url}/sign-in?next=/app"))
        .await
        .expect("open sign-in");
    wait_for_text(&client, "button[data-social=test]", "Continue with Test OP").await;
    click(&client, "button[data-social=test]").await;

    // The provider's own login page, then its consent page.
    fill(&client, "input[name=login]", &email).await;
    fill(&client, "input[name=password]", "any password").await;
    click(&client, "button[type=submit]").await;
    eventually(&client, "the provider's consent page", |c| async move {
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

    wait_for_path(&client, "/app").await;
    wait_for_text(&client, "#profile", &email).await;
    screenshot(&client, "social-sign-in-app").await;

    client
        .goto(&format!("{public_url}/account"))
        .await
        .expect("open account");
    wait_for_text(&client, "#accounts", "Test OP").await;
    // The provider is this user's only way in: unlinking it is refused, in words.
    click(&client, "#accounts button").await;
    wait_for_text(&client, "#accounts-alert", "only way to sign in").await;
    screenshot(&client, "social-sign-in-account").await;
}

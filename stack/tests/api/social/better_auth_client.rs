//! Better-Auth's official npm client (`better-auth` 1.7.25, pinned in `stack/tests/oidc`'s
//! lockfile) calling `signIn.social` gets the provider's authorization URL from edge.

use std::process::Command;

use super::*;

#[tokio::test]
async fn the_official_client_gets_the_providers_url_from_sign_in_social() {
    let Some(provider) = OpenIdProvider::start("http://127.0.0.1:8080").await else {
        return;
    };
    let Some(stack) = stack_with_provider(Store::Sqlite, &provider.issuer).await else {
        return;
    };
    let edge = stack.edge();
    let public = stack.public_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("better-auth-client.mjs")
            .current_dir(oidc_dir())
            .env("EDGE_URL", edge)
            .env("PUBLIC_URL", public)
            .env("PROVIDER", PROVIDER)
            .output()
            .expect("node runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| {
            panic!(
                "one JSON line, got {stdout} / {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(answer["error"].is_null(), "{answer}");
    let url = answer["data"]["url"].as_str().expect("data.url");
    assert!(
        url.starts_with(&format!("{}/auth?", provider.issuer)),
        "{url}"
    );
    assert_eq!(answer["data"]["redirect"], true);

    // And that URL leads through the provider's pages back to a session at edge.
    let agent = ProviderAgent::new();
    let callback = agent
        .authorize(url, &unique_email("client"), &stack.public_url)
        .await;
    assert!(
        callback.contains("code=") && callback.contains("state="),
        "{callback}"
    );
}

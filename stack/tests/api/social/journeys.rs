//! Social sign-in journeys against the real OpenID provider, on both stores: the first sign-in
//! creates the user, the next one finds them with a new session; linking to an existing
//! account by email only when both addresses are verified; link-social and unlink-account; a
//! proxied call with the session a provider gave; and a user without a password setting one by
//! the reset link, or deleting the account with a fresh session alone.

use serde_json::json;

use super::*;
use crate::mail::{request_reset, token_from_reset_link, MAIL_DEADLINE, SET_PASSWORD_SUBJECT};

test_support::on_both_stores!(
    a_first_social_sign_in_creates_a_verified_user_with_a_session_that_calls_the_api,
    a_second_social_sign_in_finds_the_same_user_with_a_new_session,
    a_verified_provider_address_links_to_a_verified_account_and_never_to_an_unverified_one,
    an_unverified_provider_address_is_never_linked,
    a_signed_in_user_links_and_unlinks_a_provider_but_never_the_last_way_in,
    a_user_without_a_password_sets_one_by_the_reset_link_and_signs_in_with_it,
    a_user_without_a_password_deletes_the_account_with_a_fresh_session_alone,
);

async fn stack_and_provider(store: Store) -> Option<(OpenIdProvider, TestStack)> {
    let provider = OpenIdProvider::start("http://127.0.0.1:8080").await?;
    let stack = stack_with_provider(store, &provider.issuer).await?;
    Some((provider, stack))
}

async fn a_first_social_sign_in_creates_a_verified_user_with_a_session_that_calls_the_api(
    store: Store,
) {
    let Some((_provider, stack)) = stack_and_provider(store).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("ada");
    let back = social_sign_in(
        &stack,
        &browser,
        &email,
        json!({"callbackURL": "/app", "newUserCallbackURL": "/account"}),
    )
    .await;
    assert_eq!(back.status(), 302);
    assert_eq!(
        location_of(&back),
        "/account",
        "a new user goes to newUserCallbackURL"
    );
    let cookies: Vec<_> = back.headers().get_all("set-cookie").iter().collect();
    assert!(
        cookies.iter().any(|c| c
            .to_str()
            .unwrap()
            .starts_with(&format!("{STATE_COOKIE}=; Max-Age=0"))),
        "the state cookie is cleared: {cookies:?}"
    );

    let user = current_user(&browser).await;
    assert_eq!(
        (user["email"].as_str(), user["emailVerified"].as_bool()),
        (Some(email.as_str()), Some(true))
    );
    assert_eq!(
        api_status(&browser).await,
        200,
        "the session makes proxied calls"
    );
    let (_, profile) = json_of(browser.get("/api/profile").await).await;
    assert_eq!(
        profile["email_verified"], true,
        "the internal token says verified: {profile}"
    );

    let (status, accounts) = json_of(browser.get("/api/auth/list-accounts").await).await;
    assert_eq!(status, 200);
    let accounts = accounts.as_array().expect("a list");
    assert_eq!(accounts.len(), 1, "no password, one provider: {accounts:?}");
    assert_eq!(
        (
            accounts[0]["providerId"].as_str(),
            accounts[0]["accountId"].as_str()
        ),
        (Some(PROVIDER), Some(email.as_str()))
    );
    for key in ["accessToken", "refreshToken", "idToken", "password"] {
        assert!(accounts[0].get(key).is_none(), "{key} is never listed");
    }
    // No password was set, so none can sign in.
    assert_eq!(
        stack.browser().sign_in(&email, PASSWORD).await.status(),
        401
    );
}

async fn a_second_social_sign_in_finds_the_same_user_with_a_new_session(store: Store) {
    let Some((_provider, stack)) = stack_and_provider(store).await else {
        return;
    };
    let email = unique_email("grace");
    let first = stack.browser();
    let back = social_sign_in(
        &stack,
        &first,
        &email,
        json!({"callbackURL": "/app", "newUserCallbackURL": "/account"}),
    )
    .await;
    assert_eq!(location_of(&back), "/account");
    let first_user = current_user(&first).await;
    let first_token = first.session_token().expect("signed in");

    // Again in the same browser: same user, a new session, the old one revoked (fixation).
    let again = social_sign_in(
        &stack,
        &first,
        &email,
        json!({"callbackURL": "/app", "newUserCallbackURL": "/account"}),
    )
    .await;
    assert_eq!(
        location_of(&again),
        "/app",
        "a returning user goes to callbackURL"
    );
    let second_token = first.session_token().expect("signed in");
    assert_ne!(first_token, second_token);
    assert_eq!(current_user(&first).await["id"], first_user["id"]);
    assert_eq!(
        first
            .get_with_cookie("/api/profile", &first_token)
            .await
            .status(),
        401,
        "the session presented to the callback was revoked"
    );

    // From another browser: the same user again, both sessions live.
    let other = stack.browser();
    social_sign_in(&stack, &other, &email, json!({})).await;
    assert_eq!(current_user(&other).await["id"], first_user["id"]);
    assert_eq!(api_status(&first).await, 200);
    assert_eq!(api_status(&other).await, 200);
}

async fn a_verified_provider_address_links_to_a_verified_account_and_never_to_an_unverified_one(
    store: Store,
) {
    let Some((_provider, stack)) = stack_and_provider(store).await else {
        return;
    };
    let owner = stack.browser();
    let email = unique_email("linus");
    assert_eq!(owner.sign_up("Linus", &email, PASSWORD).await.status(), 200);
    let owner_id = current_user(&owner).await["id"].clone();

    // The account's own address is not verified yet: no link, no session.
    let stranger = stack.browser();
    let back = social_sign_in(
        &stack,
        &stranger,
        &email,
        json!({"callbackURL": "/app", "errorCallbackURL": "/sign-in"}),
    )
    .await;
    assert_eq!(location_of(&back), "/sign-in?error=account_not_linked");
    assert!(stranger.session_token().is_none());

    verify_by_mail(&stack, &owner, &email).await;
    let later = stack.browser();
    let back = social_sign_in(&stack, &later, &email, json!({"callbackURL": "/app"})).await;
    assert_eq!(location_of(&back), "/app");
    assert_eq!(
        current_user(&later).await["id"],
        owner_id,
        "linked to the existing user"
    );
    let (_, accounts) = json_of(owner.get("/api/auth/list-accounts").await).await;
    let providers: Vec<_> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["providerId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(providers, ["credential", PROVIDER]);
}

async fn an_unverified_provider_address_is_never_linked(store: Store) {
    let Some((_provider, stack)) = stack_and_provider(store).await else {
        return;
    };
    let owner = stack.browser();
    let email = format!("unverified-{}", unique_email("mallory"));
    assert_eq!(owner.sign_up("Owner", &email, PASSWORD).await.status(), 200);
    verify_by_mail(&stack, &owner, &email).await;

    let attacker = stack.browser();
    let back = social_sign_in(&stack, &attacker, &email, json!({})).await;
    assert_eq!(
        location_of(&back),
        "/api/auth/error?error=account_not_linked"
    );
    assert!(attacker.session_token().is_none());
    let page = attacker
        .get("/api/auth/error?error=account_not_linked")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("could not be linked"),
        "the error page says it in words"
    );
}

async fn a_signed_in_user_links_and_unlinks_a_provider_but_never_the_last_way_in(store: Store) {
    let Some((_provider, stack)) = stack_and_provider(store).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("hedy");
    assert_eq!(
        browser.sign_up("Hedy", &email, PASSWORD).await.status(),
        200
    );
    let token = browser.session_token().expect("signed in");

    // The provider's address must be the user's own.
    let elsewhere = social_flow(
        &stack,
        &browser,
        "/api/auth/link-social",
        &unique_email("other"),
        json!({"callbackURL": "/account", "errorCallbackURL": "/account"}),
    )
    .await;
    assert_eq!(
        location_of(&elsewhere),
        "/account?error=email_does_not_match"
    );

    let linked = social_flow(
        &stack,
        &browser,
        "/api/auth/link-social",
        &email,
        json!({"callbackURL": "/account"}),
    )
    .await;
    assert_eq!(location_of(&linked), "/account");
    assert_eq!(
        browser.session_token().as_deref(),
        Some(token.as_str()),
        "linking keeps the session"
    );
    let (_, accounts) = json_of(browser.get("/api/auth/list-accounts").await).await;
    let accounts = accounts.as_array().unwrap().clone();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    let social = accounts
        .iter()
        .find(|a| a["providerId"] == PROVIDER)
        .unwrap();

    // The provider now signs in to this user.
    let other = stack.browser();
    social_sign_in(&stack, &other, &email, json!({})).await;
    assert_eq!(
        current_user(&other).await["id"],
        current_user(&browser).await["id"]
    );

    let (status, body) = json_of(
        browser
            .post_json(
                "/api/auth/unlink-account",
                json!({"accountId": social["id"]}),
            )
            .await,
    )
    .await;
    assert_eq!((status, &body), (200, &json!({"status": true})));
    let (_, accounts) = json_of(browser.get("/api/auth/list-accounts").await).await;
    assert_eq!(accounts.as_array().unwrap().len(), 1);

    // A user whose only way in is the provider cannot unlink it.
    let social_only = stack.browser();
    let only = unique_email("only");
    social_sign_in(&stack, &social_only, &only, json!({})).await;
    let (_, accounts) = json_of(social_only.get("/api/auth/list-accounts").await).await;
    let id = accounts[0]["id"].clone();
    let refused = json_of(
        social_only
            .post_json("/api/auth/unlink-account", json!({"accountId": id}))
            .await,
    )
    .await;
    assert_code(&refused, 400, "FAILED_TO_UNLINK_LAST_ACCOUNT");
    assert_eq!(api_status(&social_only).await, 200);

    // Unlinking needs a fresh session.
    stack
        .clock
        .advance(std::time::Duration::from_secs(2 * 86_400));
    let stale = json_of(
        social_only
            .post_json("/api/auth/unlink-account", json!({"accountId": id}))
            .await,
    )
    .await;
    assert_code(&stale, 403, "SESSION_NOT_FRESH");
}

/// The `providerId` of each of the signed-in user's ways to sign in.
async fn providers_of(browser: &Browser) -> Vec<String> {
    let (status, accounts) = json_of(browser.get("/api/auth/list-accounts").await).await;
    assert_eq!(status, 200, "{accounts}");
    accounts
        .as_array()
        .expect("a list")
        .iter()
        .map(|account| {
            account["providerId"]
                .as_str()
                .expect("providerId")
                .to_owned()
        })
        .collect()
}

async fn a_user_without_a_password_sets_one_by_the_reset_link_and_signs_in_with_it(store: Store) {
    let Some((_provider, stack)) = stack_and_provider(store).await else {
        return;
    };
    let browser = stack.browser();
    let email = unique_email("ida");
    social_sign_in(&stack, &browser, &email, json!({})).await;
    let user_id = current_user(&browser).await["id"].clone();
    assert_eq!(providers_of(&browser).await, [PROVIDER], "no password yet");

    // What /account's "Set a password" asks for: the reset link, mailed to the user.
    let (status, _) = request_reset(&browser, &email).await;
    assert_eq!(status, 200);
    let what = format!("a reset mail to {email}");
    let mail = test_support::eventually(MAIL_DEADLINE, &what, || async {
        outbox(&stack)
            .await
            .into_iter()
            .find(|mail| mail["to"] == email && mail["subject"] == SET_PASSWORD_SUBJECT)
    })
    .await;
    let link = link_in(
        mail["text"].as_str().expect("text"),
        "/api/auth/reset-password/",
    );
    let token = token_from_reset_link(&browser, &link).await;
    let body = json!({ "token": token, "newPassword": "my first own password" });
    let (status, answer) = json_of(browser.post_json("/api/auth/reset-password", body).await).await;
    assert_eq!((status, answer), (200, json!({ "status": true })));
    assert_eq!(
        api_status(&browser).await,
        401,
        "setting the password ended the sessions, as any reset does"
    );

    let with_password = stack.browser();
    assert_eq!(
        with_password
            .sign_in(&email, "my first own password")
            .await
            .status(),
        200
    );
    assert_eq!(current_user(&with_password).await["id"], user_id);
    assert_eq!(
        providers_of(&with_password).await,
        ["credential", PROVIDER],
        "the password is now a way to sign in"
    );
    // The provider still signs in to the same user.
    let social = stack.browser();
    social_sign_in(&stack, &social, &email, json!({})).await;
    assert_eq!(current_user(&social).await["id"], user_id);
}

async fn a_user_without_a_password_deletes_the_account_with_a_fresh_session_alone(store: Store) {
    // Sessions go stale after 10 minutes: the provider's ID tokens, checked against identity's
    // clock, still pass after it has moved on that far.
    let fresh_age = std::time::Duration::from_secs(600);
    let Some(provider) = OpenIdProvider::start("http://127.0.0.1:8080").await else {
        return;
    };
    let Some(mut setup) = Setup::new(store).await else {
        return;
    };
    setup.identity.social = provider_settings(&provider.issuer);
    setup.identity.session_fresh_age = fresh_age;
    let stack = setup.start().await;
    let browser = stack.browser();
    let email = unique_email("joan");
    social_sign_in(&stack, &browser, &email, json!({})).await;
    let user_id = current_user(&browser).await["id"].clone();

    stack.clock.advance(fresh_age);
    let stale = json_of(browser.post_json("/api/auth/delete-user", json!({})).await).await;
    assert_code(&stale, 403, "SESSION_NOT_FRESH");
    assert_eq!(
        current_user(&browser).await["id"],
        user_id,
        "nothing deleted"
    );

    // Signing in again makes the session fresh; no password is asked for.
    let again = social_sign_in(&stack, &browser, &email, json!({"callbackURL": "/app"})).await;
    assert_eq!(location_of(&again), "/app", "signed in again");
    let (status, body) = json_of(browser.post_json("/api/auth/delete-user", json!({})).await).await;
    assert_eq!(
        (status, body),
        (200, json!({ "success": true, "message": "User deleted" }))
    );
    assert_eq!(current_user(&browser).await, Value::Null);

    // The provider's next sign-in makes a new user: the old one is gone.
    let later = stack.browser();
    social_sign_in(&stack, &later, &email, json!({})).await;
    let new_user = current_user(&later).await;
    assert_eq!(new_user["email"], email);
    assert_ne!(new_user["id"], user_id);
}

//! Password guessing against one address: the lock, its escalation and reset, unknown addresses
//! locked exactly like known ones, and the owner's browser (its device cookie) still signing in.

use std::time::Duration;

use reqwest::Response;
use serde_json::{json, Value};

use crate::support::{json_of, unique_email, Browser, Setup, Store, TestStack, PASSWORD};

const WRONG: &str = "not the password at all";

/// A stack whose lock starts after `threshold` failures, for `first` seconds, at most `max`.
async fn stack_with_lockout(
    store: Store,
    threshold: u32,
    first: u64,
    max: u64,
) -> Option<TestStack> {
    let mut setup = Setup::new(store).await?;
    setup.identity.lockout_threshold = threshold;
    setup.identity.lockout_duration = Duration::from_secs(first);
    setup.identity.lockout_max = Duration::from_secs(max);
    Some(setup.start().await)
}

/// A user signed up from `owner` (which so holds the account's device cookie); their address.
async fn owner_of_new_account(stack: &TestStack, owner: &Browser, name: &str) -> (String, String) {
    let email = unique_email(name);
    let (status, body) = json_of(owner.sign_up(name, &email, PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        device_cookie(owner).is_some(),
        "signing up gives the browser a device cookie"
    );
    let _ = stack;
    (
        email,
        body["user"]["id"].as_str().expect("user id").to_owned(),
    )
}

/// The browser's device cookie, if it holds one.
fn device_cookie(browser: &Browser) -> Option<String> {
    use reqwest::cookie::CookieStore;
    let url = reqwest::Url::parse(&browser.base).expect("base URL");
    let header = browser.jar.cookies(&url)?;
    header.to_str().ok()?.split("; ").find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "gatehouse.device").then(|| value.to_owned())
    })
}

/// Seconds of a response's `Retry-After`, checking `X-Retry-After` says the same.
fn retry_after(response: &Response) -> u64 {
    let header = |name: &str| -> u64 {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{name} is set"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let seconds = header("retry-after");
    assert_eq!(header("x-retry-after"), seconds);
    seconds
}

/// Asserts a sign-in was refused as locked; the seconds it says to wait.
async fn assert_locked(response: Response) -> u64 {
    let seconds = retry_after(&response);
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("TOO_MANY_ATTEMPTS")),
        "{body}"
    );
    seconds
}

async fn assert_wrong_password(response: Response) {
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("INVALID_EMAIL_OR_PASSWORD")),
        "{body}"
    );
}

async fn guessing_locks_the_address_but_the_owners_browser_still_signs_in(store: Store) {
    let Some(stack) = stack_with_lockout(store, 3, 60, 3_600).await else {
        return;
    };
    let owner = stack.browser();
    let (email, _) = owner_of_new_account(&stack, &owner, "Olive").await;
    let attacker = stack.browser();
    for _ in 0..3 {
        assert_wrong_password(attacker.sign_in(&email, WRONG).await).await;
    }
    let wait = assert_locked(attacker.sign_in(&email, WRONG).await).await;
    assert!((1..=60).contains(&wait), "{wait}");
    assert_locked(attacker.sign_in(&email, PASSWORD).await).await;
    assert_locked(stack.browser().sign_in(&email, PASSWORD).await).await;

    let (status, body) = json_of(owner.sign_in(&email, PASSWORD).await).await;
    assert_eq!(
        status, 200,
        "the owner's browser is not locked out by others: {body}"
    );
    assert_eq!(crate::support::api_status(&owner).await, 200);
    assert_locked(attacker.sign_in(&email, PASSWORD).await).await;
}

#[tokio::test]
async fn guessing_locks_the_address_but_the_owners_browser_still_signs_in_on_sqlite() {
    guessing_locks_the_address_but_the_owners_browser_still_signs_in(Store::Sqlite).await;
}

#[tokio::test]
async fn guessing_locks_the_address_but_the_owners_browser_still_signs_in_on_postgres() {
    guessing_locks_the_address_but_the_owners_browser_still_signs_in(Store::Postgres).await;
}

/// What a locked answer shows: status, body and the set of header names, with Retry-After.
async fn locked_answer(response: Response) -> (u16, Value, Vec<String>, u64) {
    let seconds = retry_after(&response);
    let mut names: Vec<String> = response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name != "date")
        .collect();
    names.sort();
    let (status, body) = json_of(response).await;
    (status, body, names, seconds)
}

async fn unknown_and_known_addresses_are_indistinguishable_while_locked(store: Store) {
    let Some(stack) = stack_with_lockout(store, 2, 60, 3_600).await else {
        return;
    };
    let (known, _) = owner_of_new_account(&stack, &stack.browser(), "Kim").await;
    let unknown = unique_email("nobody");
    let attacker = stack.browser();
    for email in [&known, &unknown] {
        for _ in 0..2 {
            assert_wrong_password(attacker.sign_in(email, WRONG).await).await;
        }
    }
    let known_answer = locked_answer(attacker.sign_in(&known, PASSWORD).await).await;
    let unknown_answer = locked_answer(attacker.sign_in(&unknown, PASSWORD).await).await;
    assert_eq!(known_answer.0, unknown_answer.0);
    assert_eq!(known_answer.1, unknown_answer.1);
    assert_eq!(known_answer.2, unknown_answer.2);
    assert!(
        known_answer.3.abs_diff(unknown_answer.3) <= 1,
        "{} vs {}",
        known_answer.3,
        unknown_answer.3
    );
    assert_eq!(
        known_answer.1,
        json!({"code": "TOO_MANY_ATTEMPTS", "message": known_answer.1["message"]})
    );
}

#[tokio::test]
async fn unknown_and_known_addresses_are_indistinguishable_while_locked_on_sqlite() {
    unknown_and_known_addresses_are_indistinguishable_while_locked(Store::Sqlite).await;
}

#[tokio::test]
async fn unknown_and_known_addresses_are_indistinguishable_while_locked_on_postgres() {
    unknown_and_known_addresses_are_indistinguishable_while_locked(Store::Postgres).await;
}

async fn each_lock_doubles_up_to_the_maximum_and_a_success_resets_them(store: Store) {
    let Some(stack) = stack_with_lockout(store, 2, 60, 240).await else {
        return;
    };
    let (email, _) = owner_of_new_account(&stack, &stack.browser(), "Esme").await;
    let attacker = stack.browser();
    for _ in 0..2 {
        assert_wrong_password(attacker.sign_in(&email, WRONG).await).await;
    }
    let mut locks = vec![assert_locked(attacker.sign_in(&email, WRONG).await).await];
    for _ in 0..3 {
        stack
            .clock
            .advance(Duration::from_secs(*locks.last().expect("a lock")));
        assert_wrong_password(attacker.sign_in(&email, WRONG).await).await;
        locks.push(assert_locked(attacker.sign_in(&email, WRONG).await).await);
    }
    // Each value may read a second short: the clock runs between the lock and the answer.
    let rounded: Vec<u64> = locks
        .iter()
        .map(|seconds| seconds.div_ceil(10) * 10)
        .collect();
    assert_eq!(rounded, [60, 120, 240, 240], "{locks:?}");

    stack.clock.advance(Duration::from_secs(241));
    let newcomer = stack.browser();
    assert_eq!(
        newcomer.sign_in(&email, PASSWORD).await.status(),
        200,
        "the lock has ended"
    );
    for _ in 0..2 {
        assert_wrong_password(attacker.sign_in(&email, WRONG).await).await;
    }
    let wait = assert_locked(attacker.sign_in(&email, WRONG).await).await;
    assert!(
        wait <= 60,
        "a success reset the count and the lock length: {wait}"
    );
}

#[tokio::test]
async fn each_lock_doubles_up_to_the_maximum_and_a_success_resets_them_on_sqlite() {
    each_lock_doubles_up_to_the_maximum_and_a_success_resets_them(Store::Sqlite).await;
}

#[tokio::test]
async fn each_lock_doubles_up_to_the_maximum_and_a_success_resets_them_on_postgres() {
    each_lock_doubles_up_to_the_maximum_and_a_success_resets_them(Store::Postgres).await;
}

async fn the_owners_device_counts_alone_and_its_success_resets_only_itself(store: Store) {
    let Some(stack) = stack_with_lockout(store, 3, 60, 3_600).await else {
        return;
    };
    let owner = stack.browser();
    let (email, _) = owner_of_new_account(&stack, &owner, "Dora").await;
    let device = device_cookie(&owner);
    let attacker = stack.browser();
    for _ in 0..2 {
        assert_wrong_password(attacker.sign_in(&email, WRONG).await).await;
    }
    // The owner's own typos lock the device alone, and the address's count does not move.
    for _ in 0..3 {
        assert_wrong_password(owner.sign_in(&email, WRONG).await).await;
    }
    assert_locked(owner.sign_in(&email, PASSWORD).await).await;
    assert_wrong_password(stack.browser().sign_in(&email, WRONG).await).await;
    assert_locked(attacker.sign_in(&email, WRONG).await).await;

    stack.clock.advance(Duration::from_secs(61));
    let (status, body) = json_of(owner.sign_in(&email, PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        device_cookie(&owner),
        device,
        "a recognised device keeps its cookie"
    );
    // The owner's success reset their device, not the address the attacker is guessing at.
    assert_wrong_password(attacker.sign_in(&email, WRONG).await).await;
    assert_locked(attacker.sign_in(&email, WRONG).await).await;
    for _ in 0..2 {
        assert_wrong_password(owner.sign_in(&email, WRONG).await).await;
    }
    assert_eq!(
        owner.sign_in(&email, PASSWORD).await.status(),
        200,
        "the device's count was reset"
    );
}

#[tokio::test]
async fn the_owners_device_counts_alone_and_its_success_resets_only_itself_on_sqlite() {
    the_owners_device_counts_alone_and_its_success_resets_only_itself(Store::Sqlite).await;
}

#[tokio::test]
async fn the_owners_device_counts_alone_and_its_success_resets_only_itself_on_postgres() {
    the_owners_device_counts_alone_and_its_success_resets_only_itself(Store::Postgres).await;
}

async fn a_device_cookie_is_good_for_its_own_account_only(store: Store) {
    let Some(stack) = stack_with_lockout(store, 2, 60, 3_600).await else {
        return;
    };
    let (victim, _) = owner_of_new_account(&stack, &stack.browser(), "Vic").await;
    // The attacker's browser holds a device cookie of the attacker's own account.
    let attacker = stack.browser();
    owner_of_new_account(&stack, &attacker, "Mallory").await;
    for _ in 0..2 {
        assert_wrong_password(attacker.sign_in(&victim, WRONG).await).await;
    }
    assert_locked(attacker.sign_in(&victim, PASSWORD).await).await;
    assert_locked(stack.browser().sign_in(&victim, PASSWORD).await).await;
}

#[tokio::test]
async fn a_device_cookie_is_good_for_its_own_account_only_on_sqlite() {
    a_device_cookie_is_good_for_its_own_account_only(Store::Sqlite).await;
}

#[tokio::test]
async fn a_device_cookie_is_good_for_its_own_account_only_on_postgres() {
    a_device_cookie_is_good_for_its_own_account_only(Store::Postgres).await;
}

async fn password_reset_and_account_deletion_drop_the_devices(store: Store) {
    let Some(stack) = stack_with_lockout(store, 2, 60, 3_600).await else {
        return;
    };
    let state = &stack.stack.identity_state;
    let owner = stack.browser();
    let (email, user_id) = owner_of_new_account(&stack, &owner, "Rhea").await;
    assert_eq!(owner.sign_in(&email, PASSWORD).await.status(), 200);
    assert_eq!(
        identity::devices::count(state.pool(), &user_id)
            .await
            .unwrap(),
        1,
        "the known device is kept"
    );

    let now = stack.clock.now_millis();
    let link = identity::links::issue(
        state.pool(),
        identity::links::Purpose::ResetPassword,
        &user_id,
        now,
        3_600_000,
    )
    .await
    .expect("a reset link");
    let new_password = "a brand new passphrase";
    let reset = owner
        .post_json(
            "/api/auth/reset-password",
            json!({"token": link.expose_secret(), "newPassword": new_password}),
        )
        .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(
        identity::devices::count(state.pool(), &user_id)
            .await
            .unwrap(),
        0
    );
    // The old device cookie is no pass round a lock any more.
    for _ in 0..2 {
        assert_wrong_password(stack.browser().sign_in(&email, WRONG).await).await;
    }
    assert_locked(owner.sign_in(&email, new_password).await).await;

    stack.clock.advance(Duration::from_secs(61));
    assert_eq!(owner.sign_in(&email, new_password).await.status(), 200);
    assert_eq!(
        identity::devices::count(state.pool(), &user_id)
            .await
            .unwrap(),
        1,
        "a new device"
    );
    let deleted = owner
        .post_json("/api/auth/delete-user", json!({"password": new_password}))
        .await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        identity::devices::count(state.pool(), &user_id)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn password_reset_and_account_deletion_drop_the_devices_on_sqlite() {
    password_reset_and_account_deletion_drop_the_devices(Store::Sqlite).await;
}

#[tokio::test]
async fn password_reset_and_account_deletion_drop_the_devices_on_postgres() {
    password_reset_and_account_deletion_drop_the_devices(Store::Postgres).await;
}

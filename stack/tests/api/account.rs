//! The signed-in user's sessions and account, end to end through edge: list-sessions,
//! revoke-session, revoke-sessions, revoke-other-sessions, change-password, update-user and
//! delete-user, each effect checked on the very next call.

mod freshness;
mod password;
mod profile;
mod refusals;
mod sessions;

use serde_json::Value;

use crate::support::{json_of, unique_email, Browser, TestStack, PASSWORD};

const PHONE_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) GatehouseTest/2.0";
const TABLET_AGENT: &str = "Mozilla/5.0 (iPad; CPU OS 17_0) GatehouseTest/3.0";
const NEW_PASSWORD: &str = "an entirely new passphrase";

/// One user signed up on a laptop and signed in on a phone: their email, the laptop, the phone.
async fn two_devices(stack: &TestStack, name: &str) -> (String, Browser, Browser) {
    let email = unique_email(name);
    let laptop = stack.browser();
    assert_eq!(laptop.sign_up(name, &email, PASSWORD).await.status(), 200);
    let phone = another_device(stack, &email, PHONE_AGENT).await;
    (email, laptop, phone)
}

async fn another_device(stack: &TestStack, email: &str, user_agent: &str) -> Browser {
    let browser = Browser::new(&stack.edge(), &stack.public_url, user_agent);
    assert_eq!(browser.sign_in(email, PASSWORD).await.status(), 200);
    browser
}

/// The handle of the browser's current session, as get-session shows it.
async fn current_handle(browser: &Browser) -> String {
    let (status, body) = json_of(browser.get("/api/auth/get-session").await).await;
    assert_eq!(status, 200);
    body["session"]["token"]
        .as_str()
        .expect("signed in")
        .to_owned()
}

async fn list_sessions(browser: &Browser) -> Vec<Value> {
    let response = browser.get("/api/auth/list-sessions").await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("an array of sessions").clone()
}

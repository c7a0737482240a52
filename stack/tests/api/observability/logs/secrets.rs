//! A whole journey leaves no secret in any log line.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use test_support::eventually;

use super::{Binaries, USER_AGENT};
use crate::observability::DEADLINE;
use crate::support::{json_of, unique_email};

#[tokio::test]
async fn a_whole_journey_leaves_no_secret_in_any_log_line() {
    let Some(binaries) = Binaries::start().await else {
        return;
    };
    let browser = binaries.browser();
    let email = unique_email("secretive");
    let (first, second, third) = (
        "first secret passphrase",
        "second secret passphrase",
        "third secret passphrase",
    );
    let mut secrets: Vec<String> = vec![
        first.into(),
        second.into(),
        third.into(),
        "not the passphrase at all".into(),
    ];

    assert_eq!(
        browser.sign_up("Secretive", &email, first).await.status(),
        200
    );
    secrets.extend(browser.session_token());
    assert_eq!(
        browser
            .sign_in(&email, "not the passphrase at all")
            .await
            .status(),
        401
    );
    assert_eq!(browser.sign_in(&email, first).await.status(), 200);
    let session = browser.session_token().expect("a session cookie");
    secrets.push(session.clone());
    let query_secret = "query-secret-4711";
    assert_eq!(
        browser
            .get(&format!("/api/orders?note={query_secret}"))
            .await
            .status(),
        200
    );
    secrets.push(query_secret.into());

    // An internal token, minted as edge would and shown to core-api directly.
    let exchange = reqwest::Client::new()
        .post(format!("{}/v1/token", binaries.identity_url))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", session.as_str()),
            ("subject_token_type", "urn:gatehouse:token-type:session"),
            ("audience", "core-api"),
            ("request_method", "GET"),
            ("request_path", "/api/profile"),
            ("client_ip", "127.0.0.1"),
            ("user_agent", USER_AGENT),
        ])
        .send()
        .await
        .expect("identity answers");
    let (status, issued) = json_of(exchange).await;
    assert_eq!(status, 200, "{issued}");
    let internal_token = issued["access_token"].as_str().expect("a token").to_owned();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {internal_token}")
            .parse()
            .expect("a header"),
    );
    let direct = reqwest::Client::new()
        .get(format!("{}/api/profile", binaries.core_api_url))
        .headers(headers);
    assert_eq!(direct.send().await.expect("core-api answers").status(), 200);
    secrets.push(internal_token);

    let change =
        json!({"currentPassword": first, "newPassword": second, "revokeOtherSessions": true});
    assert_eq!(
        browser
            .post_json("/api/auth/change-password", change)
            .await
            .status(),
        200
    );
    secrets.extend(browser.session_token());

    // The reset link, from the development outbox; its token travels in the path.
    assert_eq!(
        browser
            .post_json("/api/auth/request-password-reset", json!({"email": email}))
            .await
            .status(),
        200
    );
    let link = reset_link(&binaries, &email).await;
    let link = reqwest::Url::parse(&link).expect("a link");
    let link_token = link.path().rsplit('/').next().expect("a token").to_owned();
    secrets.push(link_token.clone());
    let followed = browser
        .get(&format!(
            "{}?{}",
            link.path(),
            link.query().unwrap_or_default()
        ))
        .await;
    assert_eq!(followed.status(), 302);
    let reset = json!({"token": link_token, "newPassword": third});
    assert_eq!(
        browser
            .post_json("/api/auth/reset-password", reset)
            .await
            .status(),
        200
    );
    assert_eq!(browser.sign_in(&email, third).await.status(), 200);
    secrets.extend(browser.session_token());
    assert_eq!(browser.sign_out().await.status(), 200);

    // Wait until the last call is logged everywhere it went, then read every line.
    binaries
        .edge
        .wait_for("the sign-out", |line| {
            line["route"] == "/api/auth/sign-out" && line["status"].is_u64()
        })
        .await;
    for service in binaries.services() {
        let lines = service.lines();
        assert!(
            lines
                .iter()
                .any(|line| line.contains(r#""message":"request""#)),
            "{} logged no access line",
            service.name
        );
        for line in &lines {
            for secret in &secrets {
                assert!(
                    !line.contains(secret.as_str()),
                    "{} logged a secret ({secret}): {line}",
                    service.name
                );
            }
            assert!(
                !line.contains("session_token="),
                "{} logged a cookie header: {line}",
                service.name
            );
        }
    }
    let events: Vec<Value> = binaries
        .identity
        .lines()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["event"].is_string())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .filter_map(|line| line["event"].as_str())
        .collect();
    for expected in [
        "sign_in.failed",
        "sign_in.succeeded",
        "password.changed",
        "password.reset",
        "session.revoked",
    ] {
        assert!(
            names.contains(&expected),
            "no {expected} event in {names:?}"
        );
    }
    let succeeded = events
        .iter()
        .find(|line| line["event"] == "sign_in.succeeded")
        .expect("a sign-in");
    assert_eq!(
        (
            succeeded["client_ip"].as_str(),
            succeeded["user_agent"].as_str()
        ),
        (Some("127.0.0.1"), Some(USER_AGENT))
    );
    assert!(succeeded["user_id"].is_string() && succeeded["session_id"].is_string());
}

/// The reset link mailed to `email`, from identity's development outbox.
async fn reset_link(binaries: &Binaries, email: &str) -> String {
    eventually(DEADLINE, &format!("a reset mail for {email}"), || async {
        let outbox: Value = reqwest::get(format!("{}/v1/dev/outbox", binaries.identity_url))
            .await
            .expect("identity answers")
            .json()
            .await
            .expect("JSON");
        outbox["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|mail| {
                let links = mail["links"].as_array()?;
                (mail["to"] == email).then_some(())?;
                links
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|link| link.contains("/reset-password/"))
                    .map(str::to_owned)
            })
    })
    .await
}

//! Social sign-in (DESIGN §17) against a real OpenID provider the tests start: node-oidc-provider
//! (`stack/tests/oidc`, installed by `npm ci` there), driven through its own login and consent
//! pages over HTTP; and, for the attacks, a small misbehaving provider written here
//! (`fake_provider`). Skipped with a printed reason when node or the npm packages are missing,
//! except under `CI=true`.

mod attacks;
mod better_auth_client;
mod fake_provider;
mod journeys;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::header::LOCATION;
use reqwest::{Response, Url};
use serde_json::{json, Value};

use crate::mail::{link_in, outbox, path_of, VERIFY_SUBJECT};
use crate::support::*;

/// The provider id the tests configure (`SOCIAL_PROVIDERS=test`).
pub const PROVIDER: &str = "test";
pub const CLIENT_ID: &str = "gatehouse-test";
pub const CLIENT_SECRET: &str = "gatehouse-test-secret";
/// The state cookie edge sets over plain http.
pub const STATE_COOKIE: &str = "better-auth.state";

/// `stack/tests/oidc`.
pub fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether node and the installed packages are here; otherwise skip (or fail under CI).
pub fn node_ready(what: &str) -> bool {
    let installed = oidc_dir().join("node_modules/oidc-provider").exists()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
    if !installed {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("node and `npm ci` in stack/tests/oidc are required when CI=true ({what})");
        }
        eprintln!("skipping {what}: node or stack/tests/oidc/node_modules is missing (run `npm ci` there)");
    }
    installed
}

/// node-oidc-provider as a child process, killed when dropped.
pub struct OpenIdProvider {
    child: Child,
    pub issuer: String,
    /// Kept open: a closed pipe would make the provider's next write to stdout fail.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OpenIdProvider {
    /// Starts the provider for a client whose redirect URI is on `public_url`; `None` to skip.
    pub async fn start(public_url: &str) -> Option<OpenIdProvider> {
        if !node_ready("a social sign-in test") {
            return None;
        }
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(oidc_dir())
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env(
                "OIDC_REDIRECT_URI",
                format!("{public_url}/api/auth/callback/{PROVIDER}"),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (line, stdout) = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let mut reader = std::io::BufReader::new(stdout);
            reader.read_line(&mut line).map(|_| (line, reader))
        })
        .await
        .expect("reader")
        .expect("the provider prints its issuer");
        let ready: Value = serde_json::from_str(&line).expect("a JSON line");
        Some(OpenIdProvider {
            child,
            issuer: ready["issuer"].as_str().expect("issuer").to_owned(),
            _stdout: stdout,
        })
    }
}

/// identity's provider settings for an OpenID issuer.
pub fn provider_settings(issuer: &str) -> Vec<identity::social::settings::ProviderSettings> {
    let vars = [
        ("SOCIAL_PROVIDERS", PROVIDER.to_owned()),
        ("SOCIAL_TEST_CLIENT_ID", CLIENT_ID.to_owned()),
        ("SOCIAL_TEST_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("SOCIAL_TEST_ISSUER", issuer.to_owned()),
        ("SOCIAL_TEST_NAME", "Test OP".to_owned()),
    ];
    identity::social::settings::from_vars(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("valid test provider settings")
}

/// A stack on `store` with the provider at `issuer` configured; `None` to skip.
pub async fn stack_with_provider(store: Store, issuer: &str) -> Option<TestStack> {
    let mut setup = Setup::new(store).await?;
    setup.identity.social = provider_settings(issuer);
    Some(setup.start().await)
}

/// The provider's side of a browser: its own cookie jar (the provider's session), following
/// the provider's pages and submitting its login (`login`, any password) and consent forms.
pub struct ProviderAgent {
    client: reqwest::Client,
}

impl ProviderAgent {
    pub fn new() -> ProviderAgent {
        ProviderAgent {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// Follows `authorize_url` through login and consent until the provider redirects to
    /// `redirect_prefix`; that redirect URL.
    pub async fn authorize(
        &self,
        authorize_url: &str,
        login: &str,
        redirect_prefix: &str,
    ) -> String {
        let mut next = Url::parse(authorize_url).expect("authorization URL");
        for _ in 0..12 {
            let response = self
                .client
                .get(next.clone())
                .send()
                .await
                .expect("provider answers");
            let response = self.submit_forms(response, &next, login).await;
            let location = response
                .headers()
                .get(LOCATION)
                .unwrap_or_else(|| {
                    panic!("provider answered {} without a redirect", response.status())
                })
                .to_str()
                .expect("ASCII")
                .to_owned();
            if location.starts_with(redirect_prefix) {
                return location;
            }
            next = next.join(&location).expect("a redirect URL");
        }
        panic!("the provider never redirected back");
    }

    /// A login or consent page is submitted; anything else is returned as is.
    async fn submit_forms(&self, mut response: Response, at: &Url, login: &str) -> Response {
        while response.status() == 200 {
            let html = response.text().await.expect("a page");
            let action = html
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no form on the provider's page: {html}"));
            let form: Vec<(&str, &str)> = if html.contains("name=\"login\"") {
                vec![("prompt", "login"), ("login", login), ("password", "any")]
            } else {
                vec![("prompt", "consent")]
            };
            response = self
                .client
                .post(at.join(action).expect("form action"))
                .form(&form)
                .send()
                .await
                .expect("provider answers");
        }
        response
    }
}

/// `POST /api/auth/sign-in/social` with `body` merged into `{provider}`.
pub async fn start_social(browser: &Browser, path: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({ "provider": PROVIDER, "disableRedirect": true });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    json_of(browser.post_json(path, body).await).await
}

/// The full journey at the real provider: start at edge, log in as `login` at the provider,
/// come back to edge's callback. edge's answer to the callback (a `302`).
pub async fn social_sign_in(
    stack: &TestStack,
    browser: &Browser,
    login: &str,
    extra: Value,
) -> Response {
    social_flow(stack, browser, "/api/auth/sign-in/social", login, extra).await
}

/// As [`social_sign_in`], through `path` (sign-in/social or link-social).
pub async fn social_flow(
    stack: &TestStack,
    browser: &Browser,
    path: &str,
    login: &str,
    extra: Value,
) -> Response {
    let (status, started) = start_social(browser, path, extra).await;
    assert_eq!(status, 200, "{started}");
    let url = started["url"].as_str().expect("the provider's URL");
    let callback = ProviderAgent::new()
        .authorize(url, login, &stack.public_url)
        .await;
    browser.get(&path_of(&callback)).await
}

/// Where a response redirects.
pub fn location_of(response: &Response) -> String {
    crate::mail::location(response)
}

/// The signed-in user's JSON (`null` when signed out).
pub async fn current_user(browser: &Browser) -> Value {
    json_of(browser.get("/api/auth/get-session").await).await.1["user"].clone()
}

/// Verifies a signed-up user's address with the link from identity's development outbox.
pub async fn verify_by_mail(stack: &TestStack, browser: &Browser, email: &str) {
    let what = format!("a verification mail for {email}");
    let mail = test_support::eventually(crate::mail::MAIL_DEADLINE, &what, || async {
        outbox(stack)
            .await
            .into_iter()
            .find(|mail| mail["to"] == email && mail["subject"] == VERIFY_SUBJECT)
    })
    .await;
    let link = link_in(
        mail["text"].as_str().expect("text"),
        "/api/auth/verify-email?token=",
    );
    assert_eq!(browser.get(&path_of(&link)).await.status(), 302);
    assert_eq!(current_user(browser).await["emailVerified"], true);
}

//! The real binaries (`target/debug/{identity,core-api,edge}`, built by `cargo test
//! --workspace`) with `LOG_FORMAT=json`, their output read line by line: one proxied call is
//! found in the access line of each service under one request id and one trace id, and a whole
//! journey leaves no secret in any line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::{required, DEADLINE, POLL};
use crate::support::{json_of, unique_email, Browser};

const ISSUER: &str = "http://identity.test";
const PUBLIC_URL: &str = "http://gatehouse.test";
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) ObservabilityTest/1.0";

/// A service binary running with JSON logs; every line it writes is kept.
struct Service {
    name: &'static str,
    _child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts `binary` with exactly `env` (nothing inherited) and waits for its listening line.
    async fn start(
        name: &'static str,
        binary: &Path,
        env: &[(&str, &str)],
    ) -> (Service, SocketAddr) {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(env.iter().copied())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("{name} does not start: {err}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("piped stdout"), lines.clone());
        collect(child.stderr.take().expect("piped stderr"), lines.clone());
        let service = Service {
            name,
            _child: child,
            lines,
        };
        let listening = service
            .wait_for("its listening line", |line| {
                line["message"]
                    .as_str()
                    .is_some_and(|m| m.ends_with("listening"))
                    && line["addr"].is_string()
            })
            .await;
        let addr = listening["addr"]
            .as_str()
            .and_then(|addr| addr.parse().ok())
            .expect("an address");
        (service, addr)
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// The first JSON line `matches` accepts, polling until [`DEADLINE`].
    async fn wait_for(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let lines = self.lines();
            let found = lines
                .iter()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|line| matches(line));
            if let Some(line) = found {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never wrote {what}; it wrote:\n{}",
                self.name,
                lines.join("\n")
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Keeps every line `output` writes.
fn collect(output: impl AsyncRead + Unpin + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(output).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            lines.lock().expect("lines").push(line);
        }
    });
}

/// The three binaries wired to each other on ephemeral ports, over SQLite in a temporary
/// directory, and edge's URL.
struct Binaries {
    identity: Service,
    core_api: Service,
    edge: Service,
    identity_url: String,
    core_api_url: String,
    edge_url: String,
    _dir: TempDir,
}

/// `target/debug/<name>`: the test binary lives in `target/debug/deps`.
fn built_binary(name: &str) -> Option<PathBuf> {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let debug = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("target/debug");
    required(debug.join(name), "cargo test --workspace builds it")
}

impl Binaries {
    async fn start() -> Option<Binaries> {
        let (identity_bin, core_api_bin, edge_bin) = (
            built_binary("identity")?,
            built_binary("core-api")?,
            built_binary("edge")?,
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("keys");
        identity::keys::ensure_initialized(&keys, &stack::Clock::system()).expect("a key ring");
        let identity_db = format!("sqlite://{}/identity.db", dir.path().display());
        let core_db = format!("sqlite://{}/core-api.db", dir.path().display());
        let keys = keys.display().to_string();

        let (identity, identity_addr) = Service::start(
            "identity",
            &identity_bin,
            &[
                ("IDENTITY_ADDR", "127.0.0.1:0"),
                ("METRICS_ADDR", "127.0.0.1:0"),
                ("DATABASE_URL", &identity_db),
                ("KEYS_DIR", &keys),
                ("ISSUER", ISSUER),
                ("PUBLIC_URL", PUBLIC_URL),
                ("DEV_MAILBOX", "true"),
            ],
        )
        .await;
        let identity_url = format!("http://{identity_addr}");
        let jwks_url = format!("{identity_url}/.well-known/jwks.json");
        let (core_api, core_api_addr) = Service::start(
            "core-api",
            &core_api_bin,
            &[
                ("CORE_API_ADDR", "127.0.0.1:0"),
                ("METRICS_ADDR", "127.0.0.1:0"),
                ("DATABASE_URL", &core_db),
                ("JWKS_URL", &jwks_url),
                ("ISSUER", ISSUER),
            ],
        )
        .await;
        let core_api_url = format!("http://{core_api_addr}");
        let (edge, edge_addr) = Service::start(
            "edge",
            &edge_bin,
            &[
                ("EDGE_ADDR", "127.0.0.1:0"),
                ("METRICS_ADDR", "127.0.0.1:0"),
                ("IDENTITY_URL", &identity_url),
                ("CORE_API_URL", &core_api_url),
                ("PUBLIC_URL", PUBLIC_URL),
            ],
        )
        .await;
        let edge_url = format!("http://{edge_addr}");
        Some(Binaries {
            identity,
            core_api,
            edge,
            identity_url,
            core_api_url,
            edge_url,
            _dir: dir,
        })
    }

    fn browser(&self) -> Browser {
        Browser::new(&self.edge_url, PUBLIC_URL, USER_AGENT)
    }

    fn services(&self) -> [&Service; 3] {
        [&self.edge, &self.identity, &self.core_api]
    }
}

#[tokio::test]
async fn one_proxied_call_has_one_request_id_and_one_trace_id_in_the_access_lines_of_all_three_services(
) {
    let Some(binaries) = Binaries::start().await else {
        return;
    };
    let browser = binaries.browser();
    let signed_up = browser
        .sign_up(
            "Trace",
            &unique_email("trace"),
            "correct horse battery staple",
        )
        .await;
    assert_eq!(signed_up.status(), 200);

    let call = browser.get("/api/profile").await;
    assert_eq!(call.status(), 200);
    let request_id = call.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&request_id).is_ok(),
        "edge makes a UUID: {request_id}"
    );

    let mut access = Vec::new();
    for service in binaries.services() {
        let line = service
            .wait_for("the call's access line", |line| {
                line["message"] == "request" && line["request_id"] == request_id
            })
            .await;
        eprintln!("{} access line: {line}", service.name);
        assert_eq!(line["service"], service.name);
        assert_eq!(line["level"], "info");
        assert_eq!(line["status"], 200);
        assert!(
            line["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{line}"
        );
        assert!(
            line["time"]
                .as_str()
                .is_some_and(|time| time.ends_with('Z')),
            "{line}"
        );
        access.push(line);
    }
    let [edge, identity, core_api] = &access[..] else {
        unreachable!()
    };
    assert_eq!(
        (edge["method"].as_str(), edge["route"].as_str()),
        (Some("GET"), Some("/api/{*path}"))
    );
    assert_eq!(
        (identity["method"].as_str(), identity["route"].as_str()),
        (Some("POST"), Some("/v1/token"))
    );
    assert_eq!(
        (core_api["method"].as_str(), core_api["route"].as_str()),
        (Some("GET"), Some("/api/profile"))
    );

    let trace_id = edge["trace_id"].as_str().expect("a trace id");
    assert!(
        trace_id.len() == 32
            && trace_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(identity["trace_id"], trace_id);
    assert_eq!(core_api["trace_id"], trace_id);
    let spans = [&edge["span_id"], &identity["span_id"], &core_api["span_id"]];
    assert!(
        spans[0] != spans[1] && spans[1] != spans[2] && spans[0] != spans[2],
        "a span per hop: {spans:?}"
    );

    assert_eq!(edge["client_ip"], "127.0.0.1");
    assert!(
        identity["user_id"].is_string() && identity["session_id"].is_string(),
        "{identity}"
    );
    assert_eq!(core_api["user_id"], identity["user_id"]);
    assert_eq!(core_api["session_id"], identity["session_id"]);
}

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
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let outbox: Value = reqwest::get(format!("{}/v1/dev/outbox", binaries.identity_url))
            .await
            .expect("identity answers")
            .json()
            .await
            .expect("JSON");
        let link = outbox["messages"]
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
            });
        if let Some(link) = link {
            return link;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reset mail for {email}"
        );
        tokio::time::sleep(POLL).await;
    }
}

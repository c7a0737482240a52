//! The real binaries (`target/debug/{identity,core-api,edge}`, built by `cargo test
//! --workspace`) with `LOG_FORMAT=json`, their output read line by line: one proxied call is
//! found in the access line of each service under one request id and one trace id, and a whole
//! journey leaves no secret in any line.

mod request_ids;
mod secrets;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tempfile::TempDir;
use test_support::poll_until;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::{required, DEADLINE};
use crate::support::Browser;

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
        let found = poll_until(DEADLINE, || async {
            self.lines()
                .iter()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|line| matches(line))
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "{} never wrote {what}; it wrote:\n{}",
                self.name,
                self.lines().join("\n")
            )
        })
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

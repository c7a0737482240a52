//! Replicas on one PostgreSQL (DESIGN §15), as real processes: two identity, two core-api and
//! two edge binaries (the ones `cargo test --workspace` builds next to this test) on one
//! database and one key directory, talking real HTTP. Edge A goes to identity A and core-api A,
//! edge B to identity B and core-api B, so a session used through B is cached by identity B
//! while it is ended through A.

mod races;
mod stream;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use test_support::TestDatabase;

use crate::support::Browser;

/// The issuer both identity replicas sign as.
const ISSUER: &str = "http://identity.cluster.test";
/// How long a process may take to become ready.
const STARTUP: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);

/// Exchanges a session token at the identity at `identity_url` for a core-api token for
/// `GET path`, as edge does; the access token.
pub async fn mint_at(
    identity_url: &str,
    session_token: &str,
    path: &str,
    user_agent: &str,
) -> String {
    let response = reqwest::Client::new()
        .post(format!("{identity_url}/v1/token"))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", session_token),
            ("subject_token_type", "urn:gatehouse:token-type:session"),
            ("audience", "core-api"),
            ("request_method", "GET"),
            ("request_path", path),
            ("client_ip", "127.0.0.1"),
            ("user_agent", user_agent),
        ])
        .send()
        .await
        .expect("identity answers");
    assert_eq!(response.status(), 200, "exchange at {identity_url}");
    let body: Value = response.json().await.expect("JSON");
    body["access_token"].as_str().expect("a token").to_owned()
}

/// A binary built next to this test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/debug")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` (it builds every binary)",
        path.display()
    );
    path
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// A child process, killed when dropped (also when a test panics).
pub struct Process {
    pub name: String,
    pub url: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `binary` with `env` (on top of a quiet log and no metrics listener), its stderr in
    /// `dir/<name>.log`.
    pub fn spawn(
        dir: &Path,
        name: &str,
        binary: &str,
        port: u16,
        env: &[(&str, String)],
    ) -> Process {
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(crate::cluster::binary(binary));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("METRICS_ADDR", "")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the binary starts");
        Process {
            name: name.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        }
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `/readyz` until `ready` holds for its body (or panics with the log).
    pub async fn wait_ready(&mut self, ready: impl Fn(&Value) -> bool) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, self.log());
            }
            if let Ok(response) = client.get(format!("{}/readyz", self.url)).send().await {
                if response.status() == 200 {
                    let body: Value = response.json().await.unwrap_or_default();
                    if ready(&body) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} never became ready:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Asks the process to stop as an orchestrator does (SIGTERM).
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) with a pid this test spawned and still owns (not yet reaped).
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }

    /// Waits for the process to exit by itself (a refusal at start).
    pub async fn exit_status(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two of each service on one database and one key directory.
pub struct Cluster {
    pub identity: [Process; 2],
    pub core_api: [Process; 2],
    pub edge: [Process; 2],
    pub public_url: String,
    /// The key directory and the processes' logs; removed with the cluster.
    _dir: TempDir,
    /// Dropped (with its database) after the processes above are killed.
    pub database: TestDatabase,
    /// One cluster at a time: six processes and their pools are a lot for one PostgreSQL
    /// (100 connections by default) beside the rest of the suite.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Cluster {
    /// Starts the six processes (PostgreSQL: `None` when the test is skipped) and waits until
    /// both identity caches answer from memory, so the races below really race a cache.
    pub async fn start() -> Option<Cluster> {
        let database = TestDatabase::create().await?;
        let database_url = database.url().to_owned();
        let turn = ONE_AT_A_TIME.lock().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let keys_dir = dir.path().join("keys");
        let init = Command::new(binary("identity"))
            .args(["keys", "init"])
            .env("KEYS_DIR", &keys_dir)
            .output()
            .expect("identity keys init runs");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );

        let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
        let public_url = format!("http://127.0.0.1:{}", ports[4]);
        let identity = [0, 1].map(|i| {
            Process::spawn(
                dir.path(),
                &format!("identity-{i}"),
                "identity",
                ports[i],
                &[
                    ("IDENTITY_ADDR", format!("127.0.0.1:{}", ports[i])),
                    ("DATABASE_URL", database_url.clone()),
                    ("KEYS_DIR", keys_dir.display().to_string()),
                    ("ISSUER", ISSUER.to_owned()),
                    ("PUBLIC_URL", public_url.clone()),
                    ("DEV_MAILBOX", "true".to_owned()),
                    ("LOCKOUT_THRESHOLD", "1000".to_owned()),
                ],
            )
        });
        let core_api = [0, 1].map(|i| {
            let port = ports[2 + i];
            Process::spawn(
                dir.path(),
                &format!("core-api-{i}"),
                "core-api",
                port,
                &[
                    ("CORE_API_ADDR", format!("127.0.0.1:{port}")),
                    ("DATABASE_URL", database_url.clone()),
                    (
                        "JWKS_URL",
                        format!("http://127.0.0.1:{}/.well-known/jwks.json", ports[i]),
                    ),
                    ("ISSUER", ISSUER.to_owned()),
                    ("JTI_STORE", "postgres".to_owned()),
                ],
            )
        });
        let edge = [0, 1].map(|i| {
            let port = ports[4 + i];
            Process::spawn(
                dir.path(),
                &format!("edge-{i}"),
                "edge",
                port,
                &[
                    ("EDGE_ADDR", format!("127.0.0.1:{port}")),
                    ("IDENTITY_URL", format!("http://127.0.0.1:{}", ports[i])),
                    ("CORE_API_URL", format!("http://127.0.0.1:{}", ports[2 + i])),
                    ("PUBLIC_URL", public_url.clone()),
                    ("AUTH_RATE_LIMIT", "0".to_owned()),
                ],
            )
        });
        let mut cluster = Cluster {
            identity,
            core_api,
            edge,
            public_url,
            _dir: dir,
            database,
            _turn: turn,
        };
        for identity in &mut cluster.identity {
            identity
                .wait_ready(|body| body["session_cache"] == "answering")
                .await;
        }
        for process in cluster.core_api.iter_mut().chain(cluster.edge.iter_mut()) {
            process.wait_ready(|_| true).await;
        }
        Some(cluster)
    }

    /// A browser on edge `i` (0 = A, 1 = B); both edges share one public origin.
    pub fn browser(&self, i: usize) -> Browser {
        Browser::new(
            &self.edge[i].url,
            &self.public_url,
            "Mozilla/5.0 GatehouseCluster/1.0",
        )
    }
}

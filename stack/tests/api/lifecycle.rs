//! The real binaries as an orchestrator drives them: SIGTERM drains requests in flight and exits
//! 0 with the listener closed at once; `healthcheck` exits 0 only while `/readyz` answers 200.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use test_support::{eventually, poll_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// Only a hang trips this.
const DEADLINE: Duration = Duration::from_secs(30);

/// `target/debug/<name>`, built by `cargo test --workspace`; `None` (skip) when it is missing,
/// which fails instead under `CI=true`.
pub fn binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join(name))?;
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is missing: build it (cargo test --workspace builds every binary)",
            path.display()
        );
    }
    eprintln!(
        "skipping: {} is not built (run cargo build --workspace)",
        path.display()
    );
    None
}

/// A port nothing listens on right now.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Polls until something accepts connections on `addr`.
pub async fn wait_until_listening(addr: SocketAddr, child: &mut Child) {
    eventually(
        DEADLINE,
        &format!("the service listening on {addr}"),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the service exited before listening: {status}");
            }
            TcpStream::connect(addr)
        },
    )
    .await;
}

/// One server playing identity (`/healthz`, the token exchange) and core-api (`/api/*`, which
/// answers only once `release` is notified, after telling `entered`).
async fn late_upstream(entered: Arc<Notify>, release: Arc<Notify>) -> String {
    let router = Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/v1/token",
            post(|| async {
                Json(json!({
                    "access_token": "header.payload.signature",
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "token_type": "Bearer", "expires_in": 60
                }))
            }),
        )
        .route(
            "/api/{*rest}",
            any(move || async move {
                entered.notify_one();
                release.notified().await;
                "late answer"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn edge_command(binary: &PathBuf, addr: SocketAddr, upstream: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("EDGE_ADDR", addr.to_string())
        .env("IDENTITY_URL", upstream)
        .env("CORE_API_URL", upstream)
        .env("PUBLIC_URL", format!("http://{addr}"))
        .env("SHUTDOWN_GRACE", "60s")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}

async fn healthcheck(
    binary: &PathBuf,
    variable: &str,
    addr: SocketAddr,
) -> std::process::ExitStatus {
    let run = Command::new(binary)
        .arg("healthcheck")
        .env_clear()
        .env(variable, addr.to_string())
        .output();
    let output = tokio::time::timeout(DEADLINE, run)
        .await
        .expect("healthcheck ends")
        .expect("healthcheck runs");
    output.status
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_refuses_new_connections_and_exits_0() {
    let Some(edge) = binary("edge") else { return };
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let upstream = late_upstream(entered.clone(), release.clone()).await;
    let addr = free_addr();
    let mut child = edge_command(&edge, addr, &upstream)
        .spawn()
        .expect("edge starts");
    wait_until_listening(addr, &mut child).await;

    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /api/slow HTTP/1.1\r\nhost: {addr}\r\ncookie: better-auth.session_token={}\r\n\r\n",
        "A".repeat(43)
    );
    in_flight.write_all(request.as_bytes()).await.unwrap();
    tokio::time::timeout(DEADLINE, entered.notified())
        .await
        .expect("edge forwards the call upstream");

    let pid = child.id().expect("edge is running").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());
    let refused = poll_until(DEADLINE, || async {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(
        refused.is_ok(),
        "after SIGTERM new connections must be refused"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "edge waits for the request in flight"
    );

    release.notify_one();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, in_flight.read_to_end(&mut response))
        .await
        .expect("an answer")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("late answer"), "{response}");
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("edge exits")
        .unwrap();
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0");
}

#[tokio::test]
async fn edge_healthcheck_exits_0_while_ready_and_non_zero_once_stopped() {
    let Some(edge) = binary("edge") else { return };
    let upstream = late_upstream(Arc::new(Notify::new()), Arc::new(Notify::new())).await;
    let addr = free_addr();
    let mut child = edge_command(&edge, addr, &upstream)
        .spawn()
        .expect("edge starts");
    wait_until_listening(addr, &mut child).await;
    assert_eq!(healthcheck(&edge, "EDGE_ADDR", addr).await.code(), Some(0));
    // The wildcard address a container binds is probed on loopback.
    let wildcard = SocketAddr::from(([0, 0, 0, 0], addr.port()));
    assert_eq!(
        healthcheck(&edge, "EDGE_ADDR", wildcard).await.code(),
        Some(0)
    );

    child.kill().await.unwrap();
    let status = healthcheck(&edge, "EDGE_ADDR", addr).await;
    assert!(!status.success(), "a stopped edge is not healthy: {status}");
}

#[tokio::test]
async fn identity_and_core_api_healthchecks_follow_readyz() {
    let (Some(identity), Some(core_api)) = (binary("identity"), binary("core-api")) else {
        return;
    };
    let Some(stack) = crate::support::TestStack::start(crate::support::Store::Sqlite).await else {
        return;
    };
    let identity_addr = stack.stack.identity.addr();
    let core_api_addr = stack.stack.core_api.addr();
    assert_eq!(
        healthcheck(&identity, "IDENTITY_ADDR", identity_addr)
            .await
            .code(),
        Some(0)
    );
    assert_eq!(
        healthcheck(&core_api, "CORE_API_ADDR", core_api_addr)
            .await
            .code(),
        Some(0)
    );
    drop(stack);
    for (binary, variable, addr) in [
        (&identity, "IDENTITY_ADDR", free_addr()),
        (&core_api, "CORE_API_ADDR", free_addr()),
    ] {
        let status = healthcheck(binary, variable, addr).await;
        assert!(
            !status.success(),
            "{variable}={addr} with nothing there is not healthy: {status}"
        );
    }
}

#[tokio::test]
async fn healthcheck_reports_not_ready_when_readyz_is_not_200() {
    let Some(core_api) = binary("core-api") else {
        return;
    };
    let router = Router::new().route(
        "/readyz",
        get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "no") }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let status = healthcheck(&core_api, "CORE_API_ADDR", addr).await;
    assert_eq!(status.code(), Some(1));
}

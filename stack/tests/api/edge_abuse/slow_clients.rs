//! DESIGN §14's property against a real `edge` process (its memory is its own, so it can be
//! measured): a thousand slow or oversized unauthenticated connections leave edge under 100 MB
//! of resident memory while a signed-in user's proxied call is still answered; a client that
//! never finishes its headers is answered `408` and cut off after `HEADER_TIMEOUT`. identity and
//! core-api run in this process. The `edge` binary is the one `cargo test --workspace` builds
//! next to this test executable; without it these tests skip, except under `CI=true`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::support::{Browser, Setup, Store};

/// DESIGN §14's bound on edge's resident memory, in bytes.
const MEMORY_BOUND: u64 = 100_000_000;
/// Connections the attacker holds open.
const ATTACKERS: usize = 1_000;
/// How long any one step may take before the test calls it stuck.
const STUCK: Duration = Duration::from_secs(60);
/// The public URL the spawned edge is configured with (browsers send it as `Origin`).
const PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// `target/<profile>/edge`, beside the `deps/` directory holding this test executable.
fn edge_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let binary = exe.parent()?.parent()?.join("edge");
    if binary.exists() {
        return Some(binary);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} must exist when CI=true (cargo test --workspace builds it)",
            binary.display()
        );
    }
    eprintln!(
        "skipping a slow-client test: {} is missing (cargo build -p edge)",
        binary.display()
    );
    None
}

/// Raises this process's open-file limit to its hard limit (the edge child inherits it): a
/// thousand connections need two thousand descriptors between the two ends.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A running `edge` process, killed when dropped.
struct EdgeProcess {
    child: Child,
    url: String,
}

impl EdgeProcess {
    /// Starts `binary` in front of `upstreams` with `settings` added to its environment, and
    /// waits for it to say where it listens.
    async fn start(
        binary: &PathBuf,
        upstreams: &Upstreams,
        settings: &[(&str, &str)],
    ) -> EdgeProcess {
        let mut command = Command::new(binary);
        command
            .env("EDGE_ADDR", "127.0.0.1:0")
            .env("IDENTITY_URL", upstreams.identity.url())
            .env("CORE_API_URL", upstreams.core_api.url())
            .env("PUBLIC_URL", PUBLIC_URL)
            .env("METRICS_ADDR", "")
            .env("RUST_LOG", "info")
            .env_remove("LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("edge starts");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for output in [
            Box::new(child.stdout.take().expect("piped"))
                as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(output).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let deadline = Instant::now() + STUCK;
        let addr = loop {
            let line = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("edge says where it listens in time")
                .expect("edge exited before listening");
            if let Some(addr) = listening_address(&line) {
                break addr;
            }
        };
        // Keep draining its output so a chatty edge never blocks on a full pipe.
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        EdgeProcess {
            child,
            url: format!("http://{addr}"),
        }
    }

    /// The edge process's resident memory now and at its peak, in bytes (`VmRSS`, `VmHWM`).
    fn memory(&self) -> (u64, u64) {
        let pid = self.child.id().expect("edge is running");
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().strip_suffix("kB"))
                .and_then(|kb| kb.trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

/// The `host:port` in edge's "listening" log line, in text or JSON logs.
fn listening_address(line: &str) -> Option<String> {
    if !line.contains("listening") {
        return None;
    }
    let start = line.find("127.0.0.1:")?;
    let port: String = line[start + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!port.is_empty()).then(|| format!("127.0.0.1:{port}"))
}

/// identity and core-api in this process, and a signed-in browser waiting for an edge.
struct Upstreams {
    identity: stack::Running,
    core_api: stack::Running,
    _dir: tempfile::TempDir,
}

async fn upstreams() -> Option<Upstreams> {
    let mut setup = Setup::new(Store::Sqlite).await?;
    let identity = stack::start_identity(setup.identity, setup.clock.clone())
        .await
        .expect("identity starts");
    setup.core_api.jwks_url = format!("{}/.well-known/jwks.json", identity.url());
    let core_api = stack::start_core_api(setup.core_api)
        .await
        .expect("core-api starts");
    Some(Upstreams {
        identity,
        core_api,
        _dir: setup.dir,
    })
}

/// What each attacking connection does: all are unauthenticated, none ever finishes.
#[derive(Clone, Copy, Debug)]
enum Attack {
    /// Headers that never end, just under edge's 16 KiB cap: the most a slow client can make
    /// edge hold.
    SlowHeaders,
    /// A made-up session cookie and a 1 MiB body (BODY_LIMIT), all of it sent but the last byte.
    MadeUpSessionWithBody,
    /// A made-up session cookie and a declared 100 MB body.
    Oversized,
    /// No cookie and a chunked body of half a megabyte that never ends.
    NoSessionChunked,
}

impl Attack {
    fn bytes(self) -> Vec<u8> {
        let head = "POST /api/orders HTTP/1.1\r\nHost: edge\r\nOrigin: http://127.0.0.1:8080\r\n\
                    Content-Type: application/json\r\n";
        let made_up = "Cookie: better-auth.session_token=bWFkZS11cC1zZXNzaW9uLXRva2VuLWZvci10ZXN0aW5nLTEyMzQ\r\n";
        match self {
            Attack::SlowHeaders => {
                let mut bytes = head.as_bytes().to_vec();
                while bytes.len() < 16_000 {
                    bytes.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
                }
                bytes
            }
            Attack::MadeUpSessionWithBody => {
                let mut bytes =
                    format!("{head}{made_up}Content-Length: 1048576\r\n\r\n").into_bytes();
                bytes.extend(std::iter::repeat_n(b'x', 1_048_575));
                bytes
            }
            Attack::Oversized => {
                format!("{head}{made_up}Content-Length: 100000000\r\n\r\n").into_bytes()
            }
            Attack::NoSessionChunked => format!(
                "{head}Transfer-Encoding: chunked\r\n\r\n80000\r\n{}",
                "x".repeat(512 * 1024)
            )
            .into_bytes(),
        }
    }
}

/// How long an attacking connection keeps pushing its bytes: as much as edge takes in this time
/// is what edge holds. (An edge that stops reading, or answers and closes, takes little.)
const SEND_WINDOW: Duration = Duration::from_secs(10);

/// Opens one attacking connection and sends what edge will take of `bytes`; the connection is
/// kept open either way.
async fn attack(addr: String, bytes: Arc<Vec<u8>>) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(&addr).await.ok()?;
    let _ = tokio::time::timeout(SEND_WINDOW, stream.write_all(&bytes)).await;
    Some(stream)
}

#[tokio::test]
async fn a_thousand_slow_or_oversized_unauthenticated_connections_leave_edge_small_and_serving() {
    let Some(binary) = edge_binary() else { return };
    raise_open_file_limit();
    let Some(upstreams) = upstreams().await else {
        return;
    };
    let edge = EdgeProcess::start(
        &binary,
        &upstreams,
        // Long enough that the slow connections are all still open while memory is measured.
        &[("HEADER_TIMEOUT", "5m"), ("BODY_TIMEOUT", "5m")],
    )
    .await;
    let alice = Browser::new(
        &edge.url,
        PUBLIC_URL,
        "Mozilla/5.0 (X11; Linux x86_64) GatehouseTest/1.0",
    );
    let email = crate::support::unique_email("alice");
    assert_eq!(
        alice
            .sign_up("Alice", &email, crate::support::PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(alice.get("/api/profile").await.status(), 200);
    let (idle, _) = edge.memory();

    let kinds = [
        Attack::SlowHeaders,
        Attack::MadeUpSessionWithBody,
        Attack::Oversized,
        Attack::NoSessionChunked,
    ];
    let payloads: Vec<Arc<Vec<u8>>> = kinds.iter().map(|kind| Arc::new(kind.bytes())).collect();
    let attempts =
        (0..ATTACKERS).map(|n| attack(edge.addr().to_owned(), payloads[n % kinds.len()].clone()));
    let held: Vec<TcpStream> =
        tokio::time::timeout(STUCK + SEND_WINDOW, futures::future::join_all(attempts))
            .await
            .expect("the attack connections are made in time")
            .into_iter()
            .flatten()
            .collect();
    assert_eq!(
        held.len(),
        ATTACKERS,
        "every attacking connection was accepted"
    );

    // The signed-in user is still served while the attack holds its connections.
    let started = Instant::now();
    let during = tokio::time::timeout(STUCK, alice.get("/api/profile"))
        .await
        .expect("answered");
    let latency = started.elapsed();
    assert_eq!(during.status(), 200);

    let (rss, peak) = edge.memory();
    eprintln!(
        "edge with {ATTACKERS} slow or oversized connections: VmRSS {:.1} MB (idle {:.1} MB), \
         VmHWM {:.1} MB; signed-in proxied call answered in {latency:?}",
        rss as f64 / 1e6,
        idle as f64 / 1e6,
        peak as f64 / 1e6
    );
    assert!(
        peak < MEMORY_BOUND,
        "edge peaked at {peak} bytes of resident memory"
    );
    drop(held);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let Some(binary) = edge_binary() else { return };
    let Some(upstreams) = upstreams().await else {
        return;
    };
    let edge = EdgeProcess::start(&binary, &upstreams, &[("HEADER_TIMEOUT", "500ms")]).await;
    let mut stream = TcpStream::connect(edge.addr()).await.expect("edge accepts");
    stream
        .write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: edge\r\nX-Slow: ")
        .await
        .expect("sent");
    // Edge answers 408 and closes; it must not keep the connection.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(STUCK, stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        matches!(read, Ok(Ok(_))),
        "edge must close, without a reset, a connection whose headers never ended: {read:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");

    // A client that sends its headers in time is served as usual.
    let mut stream = TcpStream::connect(edge.addr()).await.expect("edge accepts");
    stream
        .write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
        .await
        .expect("sent");
    let mut answer = Vec::new();
    tokio::time::timeout(STUCK, stream.read_to_end(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

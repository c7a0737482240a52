//! A PostgreSQL restart under load (issue 11): the stack runs on a PostgreSQL server of the
//! test's own (initdb on a free port, never the shared one), a signed-in browser keeps calling
//! through edge and placing orders, and the server is stopped, kept down and started again.
//! During the outage every answer is a clear `503` within the upstream timeout (never another
//! 5xx, never a hang, never a sign-out); soon after the server is back every call succeeds again;
//! and every order that was answered `201` is in the list afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::cluster::free_port;
use crate::support::{Browser, Setup, Store};

/// Where Debian's PostgreSQL 15 puts its server binaries.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The superuser role, and the OS user the server runs as when the test runs as root (initdb
/// and postgres refuse to run as root).
const PG_USER: &str = "postgres";
/// edge's `UPSTREAM_TIMEOUT` here: small, so a hang would show.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// What an answer may take beyond the upstream timeout (scheduling on a loaded machine).
const MARGIN: Duration = Duration::from_millis(1500);
/// How long the server stays down.
const OUTAGE: Duration = Duration::from_secs(4);
/// How soon after the server is back every call must succeed again.
const RECOVERY: Duration = Duration::from_secs(10);

/// A PostgreSQL server of the test's own in a temporary folder, on a free port; killed when
/// dropped.
struct PrivatePostgres {
    dir: TempDir,
    port: u16,
    /// Whether the server binaries must be run as the `postgres` user.
    as_root: bool,
}

impl PrivatePostgres {
    /// initdb and start; `None` (test skipped) when the PostgreSQL binaries or the `postgres`
    /// user are missing — which fails instead when `CI=true`.
    fn start() -> Option<PrivatePostgres> {
        // SAFETY: geteuid takes nothing and cannot fail.
        let as_root = unsafe { libc::geteuid() } == 0;
        let usable = Path::new(PG_BIN).join("initdb").exists()
            && (!as_root
                || Command::new("id")
                    .arg(PG_USER)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success()));
        if !usable {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "{PG_BIN}/initdb (and, as root, the {PG_USER} user) are needed when CI=true"
                );
            }
            eprintln!("skipping the PostgreSQL restart test: no {PG_BIN}/initdb or {PG_USER} user");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        if as_root {
            run(Command::new("chown").arg(PG_USER).arg(dir.path()));
        }
        let server = PrivatePostgres {
            dir,
            port: free_port(),
            as_root,
        };
        run(server.server_binary("initdb").args([
            "-D",
            &server.data().display().to_string(),
            "-A",
            "trust",
            "-U",
            PG_USER,
            "--no-sync",
        ]));
        server.start_server();
        Some(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// A server binary, run as the `postgres` user when the test runs as root.
    fn server_binary(&self, binary: &str) -> Command {
        let path = Path::new(PG_BIN).join(binary);
        if !self.as_root {
            return Command::new(path);
        }
        let mut command = Command::new("runuser");
        command.args(["-u", PG_USER, "--"]).arg(path);
        command
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut command = self.server_binary("pg_ctl");
        command.arg("-D").arg(self.data()).args(args);
        command
    }

    /// Starts the server on its port and waits until it accepts connections.
    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        run(&mut self.pg_ctl(&["-l", &log, "-o", &options, "-w", "start"]));
    }

    /// Stops the server the way an operator restarting it would: sessions are ended at once.
    fn stop_server(&self) {
        run(&mut self.pg_ctl(&["-m", "fast", "-w", "stop"]));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .pg_ctl(&["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs a command to completion; it must succeed.
fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One answer the load got.
#[derive(Debug)]
struct Answer {
    what: &'static str,
    started: Instant,
    took: Duration,
    /// The status, or `None` when no answer came within the client's timeout.
    status: Option<u16>,
    code: Option<String>,
    /// The id of an order answered `201`.
    order: Option<String>,
}

/// One call as the load makes it, timed, with a client timeout a bit past edge's.
async fn call(browser: &Browser, what: &'static str, product: &str) -> Answer {
    let url = match what {
        "profile" => format!("{}/api/profile", browser.base),
        _ => format!("{}/api/orders", browser.base),
    };
    let request = if what == "order" {
        browser
            .client
            .post(url)
            .header("Origin", &browser.origin)
            .json(&json!({"product_id": product, "quantity": 1}))
    } else {
        browser.client.get(url)
    };
    let started = Instant::now();
    let sent = request
        .header("User-Agent", &browser.user_agent)
        .timeout(UPSTREAM_TIMEOUT + MARGIN)
        .send()
        .await;
    let mut answer = Answer {
        what,
        started,
        took: Duration::ZERO,
        status: None,
        code: None,
        order: None,
    };
    if let Ok(response) = sent {
        answer.status = Some(response.status().as_u16());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        answer.code = body["code"].as_str().map(str::to_owned);
        if answer.status == Some(201) {
            answer.order = body["id"].as_str().map(str::to_owned);
        }
    }
    answer.took = started.elapsed();
    answer
}

/// What identity's `/readyz` says of its session cache (`answering`, `closed`), if it is ready.
async fn session_cache(identity: &str) -> Option<String> {
    let response = reqwest::get(format!("{identity}/readyz")).await.ok()?;
    let body: Value = response.json().await.ok()?;
    body["session_cache"].as_str().map(str::to_owned)
}

/// Waits until identity's session cache answers again, at most `within`; how long it took.
async fn cache_answering(identity: &str, within: Duration) -> Duration {
    let started = Instant::now();
    while session_cache(identity).await.as_deref() != Some("answering") {
        assert!(
            started.elapsed() < within,
            "identity's session cache did not reopen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Whether every kind of call succeeds right now.
async fn full_service(browser: &Browser, product: &str) -> bool {
    for (what, expected) in [("profile", 200), ("orders", 200), ("order", 201)] {
        if call(browser, what, product).await.status != Some(expected) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_gives_clear_503s_then_full_service_and_loses_no_order() {
    let Some(server) = PrivatePostgres::start() else {
        return;
    };
    let mut setup = Setup::new(Store::Sqlite).await.expect("setup");
    setup.identity.database_url = server.url().parse().expect("a store URL");
    setup.core_api.database_url = server.url().parse().expect("a store URL");
    setup.edge.upstream_timeout = UPSTREAM_TIMEOUT;
    let stack = setup.start().await;
    let identity = stack.stack.identity.url();
    cache_answering(&identity, RECOVERY).await;
    let browser = stack.signed_in("Outage").await;
    let products: Value = browser.get("/api/products").await.json().await.unwrap();
    let product = products["products"][0]["id"]
        .as_str()
        .expect("a product")
        .to_owned();

    // The load: four callers reading, two placing orders, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = ["profile", "orders", "profile", "orders", "order", "order"]
        .into_iter()
        .map(|what| {
            let (browser, product, stop) = (browser.clone(), product.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(call(&browser, what, &product).await);
                }
                answers
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    tokio::task::block_in_place(|| server.stop_server());
    let stopped = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let starting = Instant::now();
    tokio::task::block_in_place(|| server.start_server());
    let back = Instant::now();

    let deadline = back + RECOVERY;
    let recovered = loop {
        if full_service(&browser, &product).await {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "no full service {RECOVERY:?} after the server is back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // identity's session cache lost its LISTEN connection with the server: it reopens by
    // itself. The load keeps running meanwhile and a while after: it must all succeed.
    cache_answering(&identity, RECOVERY).await;
    let reopened = back.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await.expect("a load worker"));
    }

    // The figures.
    let count = |f: &dyn Fn(&Answer) -> bool| answers.iter().filter(|a| f(a)).count();
    let unavailable = count(&|a| a.status == Some(503));
    let longest = answers.iter().map(|a| a.took).max().unwrap_or_default();
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for answer in &answers {
        let key = format!(
            "{} {} {}",
            answer.what,
            answer.status.map_or("none".into(), |s| s.to_string()),
            answer.code.as_deref().unwrap_or("")
        );
        *by_status.entry(key).or_default() += 1;
    }
    eprintln!(
        "outage: {} answers {by_status:#?}; longest {longest:?}; stop took {:?}, start took {:?}; \
         full service {:?} and the session cache {reopened:?} after the server was back",
        answers.len(),
        stopped - stopping,
        back - starting,
        recovered - back
    );

    for answer in &answers {
        let clear = matches!(answer.status, Some(200 | 201))
            || (answer.status == Some(503)
                && matches!(
                    answer.code.as_deref(),
                    Some("IDENTITY_UNAVAILABLE" | "UNAVAILABLE")
                ));
        assert!(clear, "an unclear answer during the outage: {answer:?}");
        assert!(
            answer.took <= UPSTREAM_TIMEOUT + MARGIN,
            "an answer took past the upstream timeout: {answer:?}"
        );
        if answer.started >= recovered {
            assert!(
                matches!(answer.status, Some(200 | 201)),
                "a failure after full service was back: {answer:?}"
            );
        }
    }
    assert!(
        unavailable > 0,
        "no 503 was seen: the outage proved nothing"
    );
    assert!(
        count(&|a| a.started >= recovered && a.status.is_some()) > 0,
        "the load ran on after recovery"
    );

    let created: Vec<&str> = answers.iter().filter_map(|a| a.order.as_deref()).collect();
    assert!(!created.is_empty(), "some orders were placed");
    let list: Value = browser.get("/api/orders").await.json().await.unwrap();
    let listed: std::collections::HashSet<&str> = list["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter_map(|order| order["id"].as_str())
        .collect();
    for id in &created {
        assert!(
            listed.contains(id),
            "order {id} got a 201 but is not listed"
        );
    }
    eprintln!("outage: {} orders answered 201, all listed", created.len());
}

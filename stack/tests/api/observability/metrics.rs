//! The metrics of the three services, each on its own listener (port 0 here): every family of
//! DESIGN §16 present and moving after traffic, none on a main listener, `promtool check
//! metrics` passing on each exposition, a real Prometheus scraping all three, and every series
//! the Grafana dashboard queries present.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use serde_json::Value;
use test_support::poll_until;
use tokio::io::AsyncWriteExt;

use super::{required_program, samples, total, DEADLINE};
use crate::support::{unique_email, Setup, Store, TestStack, PASSWORD};

/// The families of DESIGN §16, by service.
const FAMILIES: [(&str, &[&str]); 3] = [
    (
        "edge",
        &[
            "http_requests_total",
            "http_request_duration_seconds",
            "gatehouse_upstream_duration_seconds",
            "gatehouse_rate_limited_total",
        ],
    ),
    (
        "identity",
        &[
            "http_requests_total",
            "http_request_duration_seconds",
            "gatehouse_token_exchanges_total",
            "gatehouse_sign_ins_total",
            "gatehouse_password_hash_queue_depth",
            "gatehouse_mail_outbox_pending",
            "gatehouse_signing_key_age_seconds",
        ],
    ),
    (
        "core-api",
        &[
            "http_requests_total",
            "http_request_duration_seconds",
            "gatehouse_token_verifications_total",
            "gatehouse_jwks_refreshes_total",
        ],
    ),
];

/// A stack that has served a little of everything: sign-up, a refused and a good sign-in,
/// proxied calls, and a token refused by core-api.
async fn stack_after_traffic() -> Option<TestStack> {
    let stack = TestStack::start(Store::Sqlite).await?;
    let browser = stack.browser();
    let email = unique_email("Metered");
    assert_eq!(
        browser.sign_up("Metered", &email, PASSWORD).await.status(),
        200
    );
    assert_eq!(
        browser.sign_in(&email, "a wrong passphrase").await.status(),
        401
    );
    assert_eq!(browser.sign_in(&email, PASSWORD).await.status(), 200);
    for _ in 0..3 {
        assert_eq!(browser.get("/api/profile").await.status(), 200);
    }
    let mut forged = HeaderMap::new();
    forged.insert(
        "authorization",
        "Bearer not.a.token".parse().expect("a header"),
    );
    assert_eq!(
        stack.core_api_get("/api/profile", forged).await.status(),
        401
    );
    Some(stack)
}

/// The three metrics listeners, edge's first.
fn metrics_addrs(stack: &TestStack) -> [(&'static str, SocketAddr); 3] {
    let addr = |running: &stack::Running| {
        running
            .metrics_addr()
            .expect("the tests bind metrics on port 0")
    };
    [
        ("edge", addr(&stack.stack.edge)),
        ("identity", addr(&stack.stack.identity)),
        ("core-api", addr(&stack.stack.core_api)),
    ]
}

/// `GET /metrics` on `addr`: the content type and the exposition.
async fn scrape(addr: SocketAddr) -> (String, String) {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("the metrics listener answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .expect("ASCII")
        .to_owned();
    (content_type, response.text().await.expect("a body"))
}

#[tokio::test]
async fn every_metric_family_is_exposed_and_moves_after_traffic() {
    let Some(stack) = stack_after_traffic().await else {
        return;
    };
    for ((service, addr), (_, families)) in metrics_addrs(&stack).into_iter().zip(FAMILIES) {
        let (content_type, text) = scrape(addr).await;
        assert_eq!(content_type, "text/plain; version=0.0.4", "{service}");
        for family in families {
            assert!(
                text.contains(&format!("# HELP {family} ")),
                "{service} lacks HELP for {family}:\n{text}"
            );
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{service} lacks TYPE for {family}"
            );
        }
        assert!(
            total(&text, "http_requests_total", &[]) > 0.0,
            "{service} counted no request"
        );
        assert!(
            total(&text, "http_request_duration_seconds_count", &[]) > 0.0,
            "{service}"
        );
        for sample in samples(&text) {
            let route = sample.label("route").unwrap_or("/");
            assert!(
                !route.contains("@example.com") && !route.contains('?'),
                "{service}: {sample:?}"
            );
        }
    }
    let [(_, edge), (_, identity), (_, core_api)] = metrics_addrs(&stack);
    let edge = scrape(edge).await.1;
    assert!(
        total(
            &edge,
            "http_requests_total",
            &[("route", "/api/{*path}"), ("status", "200")]
        ) >= 3.0,
        "{edge}"
    );
    for upstream in ["identity", "core-api"] {
        assert!(
            total(
                &edge,
                "gatehouse_upstream_duration_seconds_count",
                &[("upstream", upstream)]
            ) >= 3.0,
            "{upstream}"
        );
    }
    assert_eq!(total(&edge, "gatehouse_rate_limited_total", &[]), 0.0);

    let identity = scrape(identity).await.1;
    assert!(
        total(
            &identity,
            "gatehouse_token_exchanges_total",
            &[("outcome", "issued")]
        ) >= 3.0
    );
    assert_eq!(
        total(
            &identity,
            "gatehouse_sign_ins_total",
            &[("outcome", "success")]
        ),
        1.0
    );
    assert_eq!(
        total(
            &identity,
            "gatehouse_sign_ins_total",
            &[("outcome", "bad_credentials")]
        ),
        1.0
    );
    assert!(total(&identity, "gatehouse_signing_key_age_seconds", &[]) >= 0.0);
    assert!(
        identity.contains("\ngatehouse_password_hash_queue_depth 0\n"),
        "nothing waits once answered"
    );

    let core_api = scrape(core_api).await.1;
    assert!(
        total(
            &core_api,
            "gatehouse_token_verifications_total",
            &[("outcome", "accepted")]
        ) >= 3.0
    );
    assert_eq!(
        total(
            &core_api,
            "gatehouse_token_verifications_total",
            &[("check", "malformed")]
        ),
        1.0
    );
    assert!(
        total(
            &core_api,
            "gatehouse_jwks_refreshes_total",
            &[("outcome", "success")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn no_main_listener_serves_metrics() {
    let Some(stack) = stack_after_traffic().await else {
        return;
    };
    for running in [
        &stack.stack.edge,
        &stack.stack.identity,
        &stack.stack.core_api,
    ] {
        let response = reqwest::get(format!("{}/metrics", running.url()))
            .await
            .expect("the service answers");
        let status = response.status();
        let body = response.text().await.expect("a body");
        assert_ne!(
            status,
            200,
            "{} serves /metrics on its main listener",
            running.url()
        );
        assert!(!body.contains("http_requests_total"), "{body}");
    }
}

#[tokio::test]
async fn a_metrics_port_that_cannot_be_bound_stops_each_service_at_start() {
    let Some(mut setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken: service_kit::metrics::MetricsAddr = taken
        .local_addr()
        .expect("an address")
        .to_string()
        .parse()
        .expect("an address");
    setup.identity.metrics_addr = taken;
    setup.core_api.metrics_addr = taken;
    setup.edge.metrics_addr = taken;
    let failures = [
        stack::start_identity(setup.identity.clone(), setup.clock.clone())
            .await
            .err(),
        stack::start_core_api(setup.core_api.clone()).await.err(),
        stack::start_edge(setup.edge.clone()).await.err(),
    ];
    for failure in failures {
        let failure = format!("{:#}", failure.expect("the service refuses to start"));
        assert!(failure.contains("METRICS_ADDR"), "{failure}");
    }
}

#[tokio::test]
async fn promtool_passes_every_exposition() {
    let Some(promtool) = required_program("promtool", "apt-get install prometheus") else {
        return;
    };
    let Some(stack) = stack_after_traffic().await else {
        return;
    };
    for (service, addr) in metrics_addrs(&stack) {
        let (_, text) = scrape(addr).await;
        let mut check = tokio::process::Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool starts");
        let mut stdin = check.stdin.take().expect("piped stdin");
        stdin
            .write_all(text.as_bytes())
            .await
            .expect("promtool reads");
        drop(stdin);
        let output = check.wait_with_output().await.expect("promtool ends");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "promtool check metrics < {service}'s exposition: exit {}, {said:?}",
            output.status
        );
        assert!(
            output.status.success(),
            "promtool refused {service}'s exposition: {said}\n{text}"
        );
        assert!(
            said.trim().is_empty(),
            "promtool found problems in {service}'s exposition: {said}"
        );
    }
}

#[tokio::test]
async fn a_real_prometheus_scrapes_all_three_services_and_answers_a_query() {
    let Some(prometheus) = required_program("prometheus", "apt-get install prometheus") else {
        return;
    };
    let Some(stack) = stack_after_traffic().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let jobs: String = metrics_addrs(&stack)
        .iter()
        .map(|(service, addr)| {
            format!("  - job_name: {service}\n    static_configs:\n      - targets: ['{addr}']\n")
        })
        .collect();
    let config =
        format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}");
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("write the configuration");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("a log file");
    let _prometheus = tokio::process::Command::new(&prometheus)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let api = format!("http://127.0.0.1:{port}/api/v1/query");
    let log = dir.path().join("prometheus.log");

    let up = poll_query(&api, "up", &log, |result| {
        result.len() == 3 && result.iter().all(|series| series["value"][1] == "1")
    })
    .await;
    let mut jobs: Vec<&str> = up
        .iter()
        .filter_map(|series| series["metric"]["job"].as_str())
        .collect();
    jobs.sort_unstable();
    assert_eq!(jobs, ["core-api", "edge", "identity"]);

    let issued = poll_query(
        &api,
        r#"sum(gatehouse_token_exchanges_total{outcome="issued"})"#,
        &log,
        |result| {
            result
                .first()
                .and_then(|series| series["value"][1].as_str())
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v >= 3.0)
        },
    )
    .await;
    eprintln!("Prometheus: up = {up:?}; issued exchanges = {issued:?}");
}

/// Asks Prometheus `query` until `done` accepts the result vector, or fails at [`DEADLINE`]
/// showing Prometheus's own log.
async fn poll_query(
    api: &str,
    query: &str,
    log: &Path,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let client = reqwest::Client::new();
    let found = poll_until(DEADLINE, || async {
        let answer = client.get(api).query(&[("query", query)]).send().await;
        let result = match answer {
            Ok(answer) => answer
                .json::<Value>()
                .await
                .ok()
                .and_then(|body| body["data"]["result"].as_array().cloned()),
            Err(_) => None,
        };
        result.filter(|result| done(result))
    })
    .await;
    found.unwrap_or_else(|_| {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        panic!("Prometheus never answered {query} as expected; its log:\n{log}")
    })
}

/// A port nothing listens on now (Prometheus cannot be told to pick one itself).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

#[tokio::test]
async fn every_series_the_dashboard_queries_is_exposed() {
    let dashboard = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/gatehouse.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&dashboard).expect("the dashboard exists"))
            .expect("JSON");
    let mut expressions = Vec::new();
    collect_expressions(&dashboard, &mut expressions);
    assert!(expressions.len() >= 8, "{expressions:?}");

    let Some(stack) = stack_after_traffic().await else {
        return;
    };
    let mut exposed = std::collections::BTreeSet::new();
    for (_, addr) in metrics_addrs(&stack) {
        exposed.extend(
            samples(&scrape(addr).await.1)
                .into_iter()
                .map(|sample| sample.name),
        );
    }
    for expression in &expressions {
        let names = metric_names(expression);
        assert!(
            !names.is_empty(),
            "{expression} queries no Gatehouse metric"
        );
        for name in names {
            assert!(
                exposed.contains(&name),
                "the dashboard queries {name} ({expression}), which no service exposes"
            );
        }
    }
}

/// Every `expr` string in the dashboard.
fn collect_expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_expressions(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_expressions(item, out)),
        _ => {}
    }
}

/// The metric names (`gatehouse_…`, `http_…`) a PromQL expression mentions outside strings.
fn metric_names(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let (mut word, mut in_string) = (String::new(), false);
    for c in expression.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_string = !in_string;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if word.starts_with("gatehouse_") || word.starts_with("http_") {
            names.push(std::mem::take(&mut word));
        }
        word.clear();
    }
    names
}

#[test]
fn metric_names_skip_label_values_and_functions() {
    let expr = r#"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{route="/api/{*path}", x="http_no"}[5m])))"#;
    assert_eq!(metric_names(expr), ["http_request_duration_seconds_bucket"]);
}

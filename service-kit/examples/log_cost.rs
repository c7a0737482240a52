//! What one access line costs the thread that serves the request: the request's span with the
//! fields `observe::AccessLayer` gives it, entered as the request is polled, and the line at its
//! end, written as the services write it (through the log writer's thread, here into
//! `/dev/null`). A benchmark, not a test:
//!
//!     cargo run --release -p service-kit --example log_cost [json|text|warn]
use std::hint::black_box;
use std::time::Instant;

use service_kit::telemetry::{batch_writer, JsonLayer};
use service_kit::trace_context::TraceContext;
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::EnvFilter;

const LINES: u32 = 200_000;

fn one_request(n: u32) {
    let trace = TraceContext::start();
    let span = tracing::info_span!(
        "request",
        service = "edge",
        method = "GET",
        route = "/api/{*path}",
        request_id = "0b6f1c7e-7a43-4c1f-9a8e-3f1f1b2c6d5e",
        trace_id = %trace.trace_id(),
        span_id = %trace.span_id(),
        parent_span_id = Empty,
        client_ip = Empty,
        user_id = Empty,
        session_id = Empty,
    );
    span.record("client_ip", "203.0.113.7");
    span.record("user_id", "3f6c1a52-8d0e-4b7a-9c1d-2e5f7a9b0c13");
    span.record("session_id", "5d2e8f1a-6b3c-4d7e-8f9a-0b1c2d3e4f5a");
    for _ in 0..3 {
        let _entered = span.enter();
        black_box(&span);
    }
    let duration_ms = f64::from(n % 1000) / 1000.0;
    tracing::info!(target: "access", parent: &span, status = 200u16, duration_ms, "request");
}

fn measure(label: &str, subscriber: impl tracing::Subscriber + Send + Sync + 'static) {
    // `log_cost json` measures only the lines whose label has "json" (for a profiler).
    if let Some(only) = std::env::args().nth(1) {
        if !label.contains(&only) {
            return;
        }
    }
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..LINES / 10 {
            one_request(n);
        }
        let started = Instant::now();
        for n in 0..LINES {
            one_request(n);
        }
        let per_line = started.elapsed() / LINES;
        println!("{label:<40} {:>6} ns per request", per_line.as_nanos());
    });
}

fn main() {
    let filter = |directive: &str| EnvFilter::new(directive);
    let null = || std::fs::File::create("/dev/null").expect("/dev/null opens");
    measure(
        "RUST_LOG=warn (no span, no line)",
        tracing_subscriber::registry().with(filter("warn")),
    );
    let (writer, _guard) = batch_writer(null()).expect("a writer thread");
    measure(
        "RUST_LOG=info LOG_FORMAT=json",
        tracing_subscriber::registry()
            .with(filter("info"))
            .with(JsonLayer::new("edge", writer)),
    );
    let (writer, _guard) = batch_writer(null()).expect("a writer thread");
    measure(
        "RUST_LOG=info LOG_FORMAT=text",
        tracing_subscriber::registry().with(filter("info")).with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_writer(writer),
        ),
    );
}

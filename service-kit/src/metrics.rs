//! Prometheus metrics: one registry per service instance (never a process-global recorder, so
//! `stack` and the tests can run three services in one process, each with its own exposition),
//! the HTTP families every service shares, and the metrics listener (`METRICS_ADDR`), which is
//! never the service's main listener. Labels hold only bounded values: route templates, methods,
//! status codes, outcomes — never a user id, an email or a raw path.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use prometheus;

/// Buckets for request and upstream latencies, in seconds: a proxied call takes about a
/// millisecond, so the default buckets (from 5 ms) would put every call in the first one.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A service's registry and its HTTP families. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http: HttpMetrics,
    /// Run before each exposition, to read gauges that are cheaper to sample than to track.
    samplers: Arc<Mutex<Vec<Sampler>>>,
}

/// Reads one gauge just before an exposition.
type Sampler = Box<dyn Fn() + Send + Sync>;

/// `http_requests_total{route,method,status}` and `http_request_duration_seconds{route,method}`.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// Counts one answered request and its duration.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut buffer = itoa_buffer();
        let status = format_status(status, &mut buffer);
        self.requests
            .with_label_values(&[route, method, status])
            .inc();
        self.duration
            .with_label_values(&[route, method])
            .observe(seconds);
    }
}

fn itoa_buffer() -> [u8; 3] {
    [b'0'; 3]
}

/// A status code as three ASCII digits, without allocating.
fn format_status(status: u16, buffer: &mut [u8; 3]) -> &str {
    let status = status.min(999);
    buffer[0] = b'0' + (status / 100) as u8;
    buffer[1] = b'0' + (status / 10 % 10) as u8;
    buffer[2] = b'0' + (status % 10) as u8;
    std::str::from_utf8(buffer).unwrap_or("000")
}

impl Metrics {
    /// A fresh registry holding the HTTP families.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let http = HttpMetrics {
            requests: counter_vec(
                &registry,
                "http_requests_total",
                "HTTP requests answered, by route template, method and status.",
                &["route", "method", "status"],
            ),
            duration: histogram_vec(
                &registry,
                "http_request_duration_seconds",
                "Time from receiving a request to its answer's head, by route template and method.",
                &["route", "method"],
                LATENCY_BUCKETS,
            ),
        };
        Metrics {
            registry,
            http,
            samplers: Arc::default(),
        }
    }

    /// The registry, to register a service's own families.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The HTTP families, for [`crate::observe`]'s layer.
    pub fn http(&self) -> &HttpMetrics {
        &self.http
    }

    /// Runs `sample` before every exposition (e.g. to set a gauge from a queue's length).
    pub fn on_scrape(&self, sample: impl Fn() + Send + Sync + 'static) {
        self.samplers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(sample));
    }

    /// The exposition in the Prometheus text format, version 0.0.4.
    pub fn render(&self) -> String {
        for sample in self
            .samplers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            sample();
        }
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "metrics could not be encoded");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Registers a counter family. Names and labels are literals of this codebase, so a refusal
/// (a bad name, a duplicate) is a programming error.
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let family = IntCounterVec::new(Opts::new(name, help), labels)
        .expect("invariant: metric names and labels are valid literals");
    registry
        .register(Box::new(family.clone()))
        .expect("invariant: each metric family is registered once");
    family
}

/// Registers a counter without labels.
pub fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::IntCounter {
    let counter = prometheus::IntCounter::new(name, help)
        .expect("invariant: metric names are valid literals");
    registry
        .register(Box::new(counter.clone()))
        .expect("invariant: each metric family is registered once");
    counter
}

/// Registers a gauge without labels.
pub fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Gauge {
    let gauge =
        prometheus::Gauge::new(name, help).expect("invariant: metric names are valid literals");
    registry
        .register(Box::new(gauge.clone()))
        .expect("invariant: each metric family is registered once");
    gauge
}

/// Registers an integer gauge without labels.
pub fn int_gauge(registry: &Registry, name: &str, help: &str) -> prometheus::IntGauge {
    let gauge =
        prometheus::IntGauge::new(name, help).expect("invariant: metric names are valid literals");
    registry
        .register(Box::new(gauge.clone()))
        .expect("invariant: each metric family is registered once");
    gauge
}

/// Registers a histogram family with the given buckets.
pub fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let family = HistogramVec::new(opts, labels)
        .expect("invariant: metric names and labels are valid literals");
    registry
        .register(Box::new(family.clone()))
        .expect("invariant: each metric family is registered once");
    family
}

/// `METRICS_ADDR`: where the metrics listener binds; empty turns it off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl FromStr for MetricsAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<MetricsAddr, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(MetricsAddr(None));
        }
        text.parse()
            .map(|addr| MetricsAddr(Some(addr)))
            .map_err(|_| {
                format!("`{text}` is not an address like 127.0.0.1:9464 (or empty for none)")
            })
    }
}

impl fmt::Display for MetricsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => Ok(()),
        }
    }
}

/// A bound metrics listener, serving `GET <path>` for each registry it was given.
pub struct Exposition {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
}

impl Exposition {
    /// Binds `addr` for one service's registry at `/metrics`; `None` when the listener is off.
    pub async fn bind(addr: MetricsAddr, metrics: &Metrics) -> std::io::Result<Option<Exposition>> {
        match addr.0 {
            Some(addr) => Exposition::bind_paths(addr, [("/metrics", metrics.clone())])
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Binds `addr` and serves each registry at its path (`stack`'s three services on one port).
    pub async fn bind_paths(
        addr: SocketAddr,
        registries: impl IntoIterator<Item = (&str, Metrics)>,
    ) -> std::io::Result<Exposition> {
        let mut router = Router::new();
        for (path, metrics) in registries {
            router = router.route(path, get(move || exposition(metrics.clone())));
        }
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        tracing::info!(metrics_addr = %local_addr, "metrics listening");
        Ok(Exposition {
            listener,
            local_addr,
            router,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves in a background task until the returned handle is dropped.
    pub fn spawn(self) -> Serving {
        let Exposition {
            listener, router, ..
        } = self;
        Serving(tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "the metrics listener stopped");
            }
        }))
    }
}

/// A background task (the metrics listener, a sampler) that stops when this is dropped.
pub struct Serving(JoinHandle<()>);

impl From<JoinHandle<()>> for Serving {
    fn from(task: JoinHandle<()>) -> Self {
        Serving(task)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exposition(metrics: Metrics) -> impl IntoResponse {
    ([(CONTENT_TYPE, prometheus::TEXT_FORMAT)], metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_metrics_addr_turns_the_listener_off() {
        assert_eq!("".parse::<MetricsAddr>(), Ok(MetricsAddr(None)));
        assert_eq!(
            "127.0.0.1:0"
                .parse::<MetricsAddr>()
                .unwrap()
                .0
                .map(|a| a.port()),
            Some(0)
        );
        assert!("localhost"
            .parse::<MetricsAddr>()
            .unwrap_err()
            .contains("localhost"));
    }

    #[test]
    fn statuses_are_three_digits() {
        let mut buffer = itoa_buffer();
        assert_eq!(format_status(200, &mut buffer), "200");
        assert_eq!(format_status(404, &mut buffer), "404");
        assert_eq!(format_status(5000, &mut buffer), "999");
    }

    #[test]
    fn two_registries_count_apart_and_render_help_and_type() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.http().observe("/healthz", "GET", 200, 0.001);
        let text = a.render();
        assert!(text.contains("# HELP http_requests_total "), "{text}");
        assert!(
            text.contains("# TYPE http_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
            "{text}"
        );
        assert!(!b.render().contains("route=\"/healthz\""));
    }
}

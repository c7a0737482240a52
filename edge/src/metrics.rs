//! edge's metrics (DESIGN §16): the HTTP families every service has, the time each call to an
//! upstream takes (`gatehouse_upstream_duration_seconds{upstream}`) and the requests refused by
//! the rate limiter (`gatehouse_rate_limited_total`). Handles are made once, so the proxied
//! call only observes into cached histograms.

use service_kit::metrics::prometheus::{Histogram, IntCounter};
use service_kit::metrics::{counter, histogram_vec, Metrics, LATENCY_BUCKETS};

/// edge's registry and its own families.
#[derive(Clone, Debug)]
pub struct EdgeMetrics {
    metrics: Metrics,
    identity: Histogram,
    core_api: Histogram,
    rate_limited: IntCounter,
}

impl EdgeMetrics {
    /// A fresh registry with every family of edge.
    pub fn new() -> EdgeMetrics {
        let metrics = Metrics::new();
        let registry = metrics.registry();
        let upstream = histogram_vec(
            registry,
            "gatehouse_upstream_duration_seconds",
            "Time one call to an upstream took, from sending to the end of its answer's body.",
            &["upstream"],
            LATENCY_BUCKETS,
        );
        let rate_limited = counter(
            registry,
            "gatehouse_rate_limited_total",
            "Requests refused with 429 by edge's rate limits.",
        );
        EdgeMetrics {
            identity: upstream.with_label_values(&["identity"]),
            core_api: upstream.with_label_values(&["core-api"]),
            rate_limited,
            metrics,
        }
    }

    /// The registry and the HTTP families.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The latency of calls to identity.
    pub fn identity_latency(&self) -> &Histogram {
        &self.identity
    }

    /// The latency of calls to core-api.
    pub fn core_api_latency(&self) -> &Histogram {
        &self.core_api
    }

    /// Counts one request refused by a rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        EdgeMetrics::new()
    }
}

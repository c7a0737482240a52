//! Gatehouse edge: the public service. It serves the Better-Auth-compatible auth API, holds the
//! session cookie and proxies `/api/*` to core-api with a freshly exchanged internal token.
//! It has no database and no signing key; identity decides everything about sessions.

mod auth_api;
mod body;
mod browser;
pub mod config;
mod cookie;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod identity;
mod metrics;
mod origin;
mod pages;
mod proxy;
mod rate_limit;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::from_fn_with_state;
use axum::routing::any;
use axum::Router;
use service_kit::metrics::Exposition;
use service_kit::observe::Observe;
use service_kit::serve::ServeOptions;
use tokio::net::TcpListener;

pub use crate::config::Config;
pub use crate::cookie::SessionCookie;

use crate::config::ConfigError;
use crate::identity::IdentityClient;
use crate::metrics::EdgeMetrics;
use crate::origin::PublicOrigin;

/// Idle upstream connections kept per host: enough for a burst of concurrent proxied calls to
/// reuse connections instead of opening new ones.
const POOL_MAX_IDLE_PER_HOST: usize = 1024;

/// Most bytes of request line and headers edge buffers for one request (Node's default, so
/// nothing a Better-Auth deployment accepts is refused): a slow client holds at most this much.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What every handler shares: the upstream clients, the public origin and the cookie settings.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// identity's internal API (one pooled client, endpoint URLs built once).
    pub(crate) identity: IdentityClient,
    /// core-api's client (pooled, built once).
    pub(crate) core_api: reqwest::Client,
    /// core-api's origin, `scheme://host[:port]`, to which the request path is appended.
    pub(crate) core_api_base: String,
    /// edge's public origin.
    pub(crate) public_origin: PublicOrigin,
    /// The session cookie's name and attributes.
    pub(crate) cookie: SessionCookie,
    /// The device cookie's (DESIGN §14).
    pub(crate) device_cookie: SessionCookie,
    /// Largest body forwarded to core-api, in bytes.
    pub(crate) body_limit: usize,
    /// The proxies whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: config::TrustedProxies,
    /// The per-address limit on the auth endpoints that hash passwords or send mail.
    pub(crate) auth_rate_limit: rate_limit::AuthRateLimit,
    /// How long a client may take to send a body.
    pub(crate) body_timeout: Duration,
    /// How long core-api may take to answer once the request is sent.
    pub(crate) upstream_timeout: Duration,
    /// edge's metrics registry and families.
    pub(crate) metrics: EdgeMetrics,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Checks the configuration and builds the upstream clients; a bad value is reported with
    /// the variable that holds it.
    pub fn from_config(config: &Config) -> anyhow::Result<AppState> {
        config::check_limits(config)?;
        let public_origin = PublicOrigin::from_public_url(&config.public_url)?;
        let identity_url = config::http_url("IDENTITY_URL", &config.identity_url)?;
        let core_api_url = config::http_url("CORE_API_URL", &config.core_api_url)?;
        if core_api_url.path() != "/" {
            return Err(ConfigError::new(
                "CORE_API_URL",
                &config.core_api_url,
                "must be an origin (scheme, host, port) without a path",
            )
            .into());
        }
        let metrics = EdgeMetrics::new();
        let identity = IdentityClient::new(identity_url, upstream_client(config.upstream_timeout)?)
            .timed(metrics.identity_latency().clone());
        Ok(AppState(Arc::new(Shared {
            identity,
            core_api: upstream_client(config.upstream_timeout)?,
            core_api_base: core_api_url.origin().ascii_serialization(),
            cookie: SessionCookie::new(public_origin.is_secure()),
            device_cookie: SessionCookie::device(public_origin.is_secure()),
            public_origin,
            body_limit: config.body_limit,
            trusted_proxies: config.trusted_proxies.clone(),
            auth_rate_limit: rate_limit::AuthRateLimit::new(config.auth_rate_limit),
            body_timeout: config.body_timeout,
            upstream_timeout: config.upstream_timeout,
            metrics,
        })))
    }

    /// edge's metrics: `state.metrics().rate_limited()` counts a `429`.
    pub fn metrics(&self) -> &EdgeMetrics {
        &self.metrics
    }

    /// Whether `peer` is a proxy whose `X-Request-Id` and `traceparent` edge keeps.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.contains(peer.to_canonical())
    }
}

/// One pooled HTTP/1.1 client for one upstream: keep-alive, no Nagle delay, no proxy from the
/// environment, no redirects followed, every call bounded by `timeout`.
fn upstream_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .context("building an upstream HTTP client")
}

/// The router the binary runs: health, the pages and static files, the auth API (the endpoints
/// that hash passwords or send mail behind the per-address limit) and the `/api/*` proxy. Every
/// request's client address is decided first, once.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(pages::routes(state.public_origin.is_secure()))
        .merge(auth_api::routes())
        .merge(
            auth_api::rate_limited_routes().route_layer(from_fn_with_state(
                state.clone(),
                rate_limit::limit_auth_requests,
            )),
        )
        .route("/api/{*path}", any(proxy::proxy_to_core_api))
        .layer(from_fn_with_state(state.clone(), body::bound_body_time))
        // Inside the client-address resolution, so the access line logs the resolved address.
        .layer(observe(&state).layer())
        .layer(from_fn_with_state(
            state.clone(),
            browser::resolve_client_address,
        ))
        .with_state(state)
}

/// Request ids, trace context, access lines and metrics: route templates only — never headers
/// (cookies, Authorization), raw paths or the query.
fn observe(state: &AppState) -> Observe {
    let trusted = state.clone();
    Observe::new("edge", state.metrics.metrics())
        .trust_incoming_when(move |request: &Request| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_some_and(|ConnectInfo(peer)| trusted.is_trusted_proxy(peer.ip()))
        })
        .client_ip(|request: &Request| browser::client_ip(request.extensions()).ok())
}

/// edge bound to its port, ready to serve.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    serve_options: ServeOptions,
    metrics: Option<Exposition>,
}

impl Server {
    /// Checks the configuration, builds the upstream clients and binds `config.addr` (port 0
    /// allowed).
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let state = AppState::from_config(&config)?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("EDGE_ADDR={} cannot be bound", config.addr))?;
        let local_addr = listener.local_addr()?;
        let metrics = Exposition::bind(config.metrics_addr, state.metrics.metrics())
            .await
            .with_context(|| format!("METRICS_ADDR={} cannot be bound", config.metrics_addr))?;
        Ok(Server {
            listener,
            local_addr,
            router: app(state),
            serve_options: ServeOptions {
                grace: config.shutdown_grace,
                header_read_timeout: Some(config.header_timeout),
                max_connections: Some(config.max_connections),
                max_header_bytes: Some(MAX_HEADER_BYTES),
            },
            metrics,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served (`None` when `METRICS_ADDR` is empty).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(Exposition::local_addr)
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish
    /// within the grace period and returns. Handlers see the client's address as
    /// `ConnectInfo<SocketAddr>`.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let _metrics = self.metrics.map(Exposition::spawn);
        service_kit::serve::serve(self.listener, self.router, self.serve_options, shutdown).await
    }
}

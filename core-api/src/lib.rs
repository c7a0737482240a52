//! core-api: Gatehouse's business API. It trusts a request only when it carries an internal token
//! that shared-claims verifies against identity's JWKS for that very method and path; no header,
//! address or shared secret stands in for one. Every route under `/api` sits behind that check.

pub mod caller;
pub mod config;
pub mod error;
pub mod health;
pub mod metrics;
pub mod orders;
pub mod products;
pub mod profile;
pub mod replay;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{any, get};
use axum::{middleware, Router};
use service_kit::db::{Database, Migrations};
use service_kit::metrics::{Exposition, MetricsAddr};
use service_kit::observe::Observe;
use service_kit::serve::ServeOptions;
use service_kit::Clock;
use shared_claims::{Verifier, VerifierConfig};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tracing::Instrument;

pub use config::{Config, JtiStore};
use error::ApiError;
use metrics::CoreApiMetrics;
use products::Catalog;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/core-api/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/core-api/sqlite");

/// The PostgreSQL schema core-api owns (DESIGN §10).
pub const SCHEMA: &str = "app";
/// The largest request body an /api route reads; larger bodies get `413`.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Connections in the store's pool.
const MAX_CONNECTIONS: u32 = 10;
/// How long one JWKS fetch may take before the verifier keeps its last good set.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// What every handler shares: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    db: Database,
    verifier: Verifier,
    catalog: Catalog,
    clock: Clock,
    metrics: CoreApiMetrics,
}

impl AppState {
    /// State over an open, migrated store; reads the catalog once.
    pub async fn load(
        db: Database,
        verifier: Verifier,
        clock: Clock,
        metrics: CoreApiMetrics,
    ) -> Result<AppState, sqlx::Error> {
        let catalog = Catalog::load(&db.pool).await?;
        Ok(AppState {
            db,
            verifier,
            catalog,
            clock,
            metrics,
        })
    }
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Verifier {
        state.verifier.clone()
    }
}

impl Config {
    /// The verifier settings this configuration asks for.
    pub fn verifier_config(&self) -> VerifierConfig {
        let mut verifier = VerifierConfig::new(
            self.jwks_url.clone(),
            self.issuer.clone(),
            self.audience.clone(),
        );
        verifier.refresh_interval = self.jwks_refresh;
        if let Some(url) = &self.revocations_url {
            verifier.revocations_url = Some(url.clone());
        }
        verifier
    }
}

/// The router the binary runs: health endpoints, the token-guarded `/api`, and `404` elsewhere.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(api_routes(state.clone()))
        .fallback(not_found)
        .layer(Observe::new("core-api", state.metrics.metrics()).layer())
        .with_state(state)
}

/// Every `/api` route, and only here. The token layer wraps all of them — including the
/// method-not-allowed answers and the catch-all for unknown `/api` paths — so a route added to
/// this router cannot skip verification, and an unknown path tells nothing to a caller without a
/// token (401) while a verified caller gets a plain 404.
fn api_routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/profile", get(profile::show_profile))
        .route("/api/products", get(products::list_products))
        .route(
            "/api/orders",
            get(orders::list_orders).post(orders::create_order),
        )
        .route("/api/orders/{id}", get(orders::show_order))
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state, caller::require_token))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A service bound to its port, ready to serve.
pub struct Server {
    listener: TcpListener,
    router: Router,
    serve_options: ServeOptions,
    metrics: Option<Exposition>,
}

impl Server {
    /// Opens the store, starts the JWKS verifier (one HTTP client, 3 s timeouts) and binds
    /// `config.addr` (port 0 allowed).
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        config.validate().map_err(anyhow::Error::msg)?;
        let http = reqwest::Client::builder()
            .connect_timeout(JWKS_FETCH_TIMEOUT)
            .timeout(JWKS_FETCH_TIMEOUT)
            .build()
            .context("cannot build the HTTP client for JWKS_URL")?;
        let metrics = CoreApiMetrics::new();
        let verifier =
            Verifier::start_observed(config.verifier_config(), http, metrics.verifier_observer())
                .instrument(service_kit::telemetry::service_span("core-api"))
                .await;
        Server::bind_observed(config, verifier, Clock::system(), metrics).await
    }

    /// Like [`Server::bind`] with a given verifier and clock (tests: `Verifier::with_keys`, an
    /// adjustable clock). `config`'s JWKS settings are unused.
    pub async fn bind_with_verifier(
        config: Config,
        verifier: Verifier,
        clock: Clock,
    ) -> anyhow::Result<Server> {
        let metrics = CoreApiMetrics::new();
        let verifier = verifier.with_observer(metrics.verifier_observer());
        Server::bind_observed(config, verifier, clock, metrics).await
    }

    async fn bind_observed(
        config: Config,
        verifier: Verifier,
        clock: Clock,
        metrics: CoreApiMetrics,
    ) -> anyhow::Result<Server> {
        let migrations = Migrations {
            postgres: &POSTGRES_MIGRATIONS,
            sqlite: &SQLITE_MIGRATIONS,
        };
        let db = service_kit::db::connect(
            config.database_url.expose_secret(),
            SCHEMA,
            migrations,
            MAX_CONNECTIONS,
        )
        .await
        .context("DATABASE_URL")?;
        let verifier = match config.jti_store {
            JtiStore::Memory => verifier,
            JtiStore::Postgres => verifier.with_replay_store(std::sync::Arc::new(
                replay::PostgresReplayStore::start(db.pool.clone(), clock.clone()),
            )),
        };
        let exposition = bind_metrics(config.metrics_addr, &metrics).await?;
        let state = AppState::load(db, verifier, clock, metrics)
            .await
            .context("DATABASE_URL: cannot read the product catalog")?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("CORE_API_ADDR: cannot listen on {}", config.addr))?;
        Ok(Server {
            listener,
            router: app(state),
            serve_options: ServeOptions {
                grace: config.shutdown_grace,
                ..ServeOptions::default()
            },
            metrics: exposition,
        })
    }

    /// Where `/metrics` is served (`None` when `METRICS_ADDR` is empty).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(Exposition::local_addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener always has a local address")
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish
    /// within the grace period and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let _metrics = self.metrics.map(Exposition::spawn);
        service_kit::serve::serve(self.listener, self.router, self.serve_options, shutdown).await
    }
}

/// Binds the metrics listener; a port that cannot be bound stops the service at start.
async fn bind_metrics(
    addr: MetricsAddr,
    metrics: &CoreApiMetrics,
) -> anyhow::Result<Option<Exposition>> {
    Exposition::bind(addr, metrics.metrics())
        .await
        .with_context(|| format!("METRICS_ADDR: cannot listen on {addr}"))
}

//! core-api: Gatehouse's business API. It trusts a request only when it carries an internal token
//! that shared-claims verifies against identity's JWKS for that very method and path; no header,
//! address or shared secret stands in for one. Every route under `/api` sits behind that check.

pub mod caller;
pub mod config;
pub mod error;
pub mod health;
pub mod orders;
pub mod products;
pub mod profile;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::routing::{any, get};
use axum::{middleware, Router};
use service_kit::db::{Database, Migrations};
use service_kit::serve::ServeOptions;
use service_kit::Clock;
use shared_claims::{Verifier, VerifierConfig};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use config::Config;
use error::ApiError;
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
}

impl AppState {
    /// State over an open, migrated store; reads the catalog once.
    pub async fn load(
        db: Database,
        verifier: Verifier,
        clock: Clock,
    ) -> Result<AppState, sqlx::Error> {
        let catalog = Catalog::load(&db.pool).await?;
        Ok(AppState {
            db,
            verifier,
            catalog,
            clock,
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
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = request.uri().path(), request_id)
        }))
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
}

impl Server {
    /// Opens the store, starts the JWKS verifier (one HTTP client, 3 s timeouts) and binds
    /// `config.addr` (port 0 allowed).
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let http = reqwest::Client::builder()
            .connect_timeout(JWKS_FETCH_TIMEOUT)
            .timeout(JWKS_FETCH_TIMEOUT)
            .build()
            .context("cannot build the HTTP client for JWKS_URL")?;
        let verifier = Verifier::start(config.verifier_config(), http).await;
        Server::bind_with_verifier(config, verifier, Clock::system()).await
    }

    /// Like [`Server::bind`] with a given verifier and clock (tests: `Verifier::with_keys`, an
    /// adjustable clock). `config`'s JWKS settings are unused.
    pub async fn bind_with_verifier(
        config: Config,
        verifier: Verifier,
        clock: Clock,
    ) -> anyhow::Result<Server> {
        let migrations = Migrations {
            postgres: &POSTGRES_MIGRATIONS,
            sqlite: &SQLITE_MIGRATIONS,
        };
        let db =
            service_kit::db::connect(&config.database_url, SCHEMA, migrations, MAX_CONNECTIONS)
                .await
                .context("DATABASE_URL")?;
        let state = AppState::load(db, verifier, clock)
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
        })
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
        service_kit::serve::serve(self.listener, self.router, self.serve_options, shutdown).await
    }
}

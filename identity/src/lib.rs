//! Gatehouse identity: users, passwords, sessions, the token exchange, the signing-key ring and
//! the `identity keys` CLI. The library exposes the router, its state and a bindable server, so
//! the binary, `stack` and the tests run exactly the same service.

pub mod accounts;
pub mod config;
pub mod devices;
pub mod discovery;
pub mod error;
pub mod exchange;
pub mod health;
pub mod json;
pub mod keys;
pub mod links;
pub mod lockout;
pub mod mail;
pub mod metrics;
pub mod passwords;
pub mod revocations;
pub mod sessions;
pub mod social;
pub mod store_lock;
pub mod users;

#[cfg(test)]
mod test_store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use service_kit::db::{self, Database, Migrations};
use service_kit::metrics::Exposition;
use service_kit::observe::Observe;
use service_kit::serve::ServeOptions;
use service_kit::Clock;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

pub use config::Config;

use keys::{KeyRing, KeyRingConfig};
use lockout::LockoutPolicy;
use mail::Mailer;
use metrics::IdentityMetrics;
use passwords::Hasher;
use revocations::RevocationFeed;
use sessions::{SessionPolicy, Sessions};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/identity/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/identity/sqlite");

/// The PostgreSQL schema identity's tables live in.
pub const SCHEMA: &str = "auth";
/// Connections in the pool.
const MAX_CONNECTIONS: u32 = 10;
/// How often the key ring looks at `KEYS_DIR` for changes.
const KEY_WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What every handler shares (clone freely: an `Arc` inside).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    db: Database,
    keyring: KeyRing,
    clock: Clock,
    hasher: Hasher,
    issuer: String,
    audiences: Vec<String>,
    require_email_verification: bool,
    jwks_max_age: Duration,
    mailer: Mailer,
    verification_ttl: Duration,
    reset_ttl: Duration,
    sessions: Sessions,
    lockout: LockoutPolicy,
    metrics: IdentityMetrics,
    public_url: String,
    social: social::Providers,
}

impl AppState {
    /// Builds the state from the configuration and opened parts; computes the dummy password
    /// hash (one argon2 run) and starts the mail senders (`SMTP_URL`, `DEV_MAILBOX`, `MAIL_FROM`).
    pub async fn new(
        config: &Config,
        db: Database,
        keyring: KeyRing,
        clock: Clock,
    ) -> anyhow::Result<AppState> {
        let hasher = Hasher::with_queue(
            (config.password_hash_queue > 0).then_some(config.password_hash_queue),
        )
        .await?;
        let mailer = Mailer::start(config, &db, clock.clone()).map_err(anyhow::Error::msg)?;
        let sessions = open_sessions(config, &db, &clock)?;
        let metrics = observed(&hasher, &keyring, &clock);
        Ok(AppState {
            inner: Arc::new(Shared {
                db,
                keyring,
                clock,
                hasher,
                issuer: config.issuer.clone(),
                audiences: config
                    .token_audiences
                    .iter()
                    .map(|audience| audience.trim().to_owned())
                    .collect(),
                require_email_verification: config.require_email_verification,
                jwks_max_age: config.jwks_max_age,
                mailer,
                verification_ttl: config.verification_ttl,
                reset_ttl: config.reset_ttl,
                sessions,
                lockout: LockoutPolicy::new(
                    config.lockout_threshold,
                    config.lockout_duration,
                    config.lockout_max,
                ),
                metrics,
                public_url: config.public_url.trim_end_matches('/').to_owned(),
                social: social::Providers::new(&config.social)?,
            }),
        })
    }

    /// The store's pool.
    pub fn pool(&self) -> &AnyPool {
        &self.inner.db.pool
    }

    /// The signing-key ring.
    pub fn keyring(&self) -> &KeyRing {
        &self.inner.keyring
    }

    /// The clock every rule reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The password hasher.
    pub fn hasher(&self) -> &Hasher {
        &self.inner.hasher
    }

    /// `ISSUER`.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Whether `TOKEN_AUDIENCES` lists `audience`.
    pub fn audience_allowed(&self, audience: &str) -> bool {
        self.inner
            .audiences
            .iter()
            .any(|allowed| allowed == audience)
    }

    /// The session lifetimes and binding.
    pub fn session_policy(&self) -> &SessionPolicy {
        self.inner.sessions.policy()
    }

    /// The session store: every read and change of a session or a user goes through it.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// `REQUIRE_EMAIL_VERIFICATION`.
    pub fn require_email_verification(&self) -> bool {
        self.inner.require_email_verification
    }

    /// `JWKS_MAX_AGE`.
    pub fn jwks_max_age(&self) -> Duration {
        self.inner.jwks_max_age
    }

    /// Outgoing mail: the outbox and its senders (or the development mailbox).
    pub fn mailer(&self) -> &Mailer {
        &self.inner.mailer
    }

    /// `VERIFICATION_TTL`.
    pub fn verification_ttl(&self) -> Duration {
        self.inner.verification_ttl
    }

    /// `RESET_TTL`.
    pub fn reset_ttl(&self) -> Duration {
        self.inner.reset_ttl
    }

    /// `LOCKOUT_THRESHOLD`, `LOCKOUT_DURATION`, `LOCKOUT_MAX`.
    pub fn lockout_policy(&self) -> &LockoutPolicy {
        &self.inner.lockout
    }

    /// `PUBLIC_URL` without a trailing `/` (social sign-in's redirect URIs).
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// The social sign-in providers (`SOCIAL_PROVIDERS`).
    pub fn social(&self) -> &social::Providers {
        &self.inner.social
    }

    /// identity's metrics: `state.metrics().sign_in(SignInOutcome::Locked)`.
    pub fn metrics(&self) -> &IdentityMetrics {
        &self.inner.metrics
    }
}

/// identity's metrics, with the gauges sampled at each scrape from the hasher's queue and the key
/// ring (the mail outbox is counted by [`sample_outbox`]).
fn observed(hasher: &Hasher, keyring: &KeyRing, clock: &Clock) -> IdentityMetrics {
    let metrics = IdentityMetrics::new();
    let (gauges, hasher, keyring, clock) = (
        metrics.clone(),
        hasher.clone(),
        keyring.clone(),
        clock.clone(),
    );
    metrics.metrics().on_scrape(move || {
        gauges
            .hash_queue_depth()
            .set(i64::try_from(hasher.stats().queued).unwrap_or(i64::MAX));
        let age_ms = keyring.signing_key_age_ms(clock.now_millis()).unwrap_or(0);
        gauges.signing_key_age().set(age_ms as f64 / 1000.0);
    });
    metrics
}

/// How often `gatehouse_mail_outbox_pending` is recounted (a scrape cannot wait on the store).
const OUTBOX_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// How often idle lockout counters are pruned.
const LOCKOUT_PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// The store's upkeep until dropped: recounts the mail waiting in the outbox every
/// [`OUTBOX_SAMPLE_INTERVAL`], and every [`LOCKOUT_PRUNE_INTERVAL`] deletes the lockout counters
/// of addresses nobody has tried for [`lockout::IDLE_COUNTER_RETENTION`] (an attacker's made-up
/// addresses would otherwise stay for ever).
fn upkeep(pool: AnyPool, metrics: IdentityMetrics, clock: Clock) -> service_kit::metrics::Serving {
    let retention = i64::try_from(lockout::IDLE_COUNTER_RETENTION.as_millis()).unwrap_or(i64::MAX);
    let running = async move {
        let mut sample = tokio::time::interval(OUTBOX_SAMPLE_INTERVAL);
        sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(LOCKOUT_PRUNE_INTERVAL);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sample.tick() => match mail::pending_count(&pool).await {
                    Ok(pending) => metrics.mail_outbox_pending().set(pending),
                    Err(error) => tracing::warn!(%error, "cannot count the mail outbox"),
                },
                _ = prune.tick() => {
                    let now = clock.now_millis();
                    match lockout::prune(&pool, now, now.saturating_sub(retention)).await {
                        Ok(pruned) => tracing::debug!(pruned, "idle lockout counters pruned"),
                        Err(error) => tracing::warn!(%error, "cannot prune the lockout counters"),
                    }
                }
            }
        }
    };
    tokio::spawn(tracing::Instrument::instrument(
        running,
        service_kit::telemetry::service_span("identity"),
    ))
    .into()
}

/// The session store over `db`: with the cache on, a SQLite file is held by this process alone
/// (a lock next to it), and PostgreSQL replicas keep each other's caches honest (DESIGN §15).
fn open_sessions(config: &Config, db: &Database, clock: &Clock) -> anyhow::Result<Sessions> {
    let cached = config.session_cache == config::SessionCacheMode::On;
    let policy = SessionPolicy::from_config(config);
    let feed = RevocationFeed::new(db.pool.clone(), clock.clone());
    Ok(match db.backend {
        db::Backend::Sqlite => {
            let lock = store_lock::StoreLock::acquire(config.database_url.expose_secret(), cached)
                .map_err(anyhow::Error::msg)?;
            Sessions::single_process(db.pool.clone(), policy, cached, feed, lock)
        }
        db::Backend::Postgres => Sessions::replicated(
            db.pool.clone(),
            policy,
            cached,
            feed,
            config.database_url.expose_secret(),
        ),
    })
}

/// The router the binary runs.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route("/v1/token", post(exchange::exchange_session_for_token))
        .route("/v1/revocations", get(revocations::stream_revocations))
        .route("/v1/sign-up", post(accounts::sign_up))
        .route("/v1/sign-in", post(accounts::sign_in))
        .route("/v1/session", post(accounts::current_session))
        .route("/v1/sign-out", post(accounts::sign_out))
        .route("/v1/sessions/list", post(accounts::list_sessions))
        .route("/v1/sessions/revoke", post(accounts::revoke_session))
        .route(
            "/v1/sessions/revoke-others",
            post(accounts::revoke_other_sessions),
        )
        .route(
            "/v1/sessions/revoke-all",
            post(accounts::revoke_all_sessions),
        )
        .route("/v1/password/change", post(accounts::change_password))
        .route("/v1/user/update", post(accounts::update_user))
        .route("/v1/user/delete", post(accounts::delete_user))
        .route(
            "/v1/verification/send",
            post(links::send_verification_email),
        )
        .route("/v1/verification/verify", post(links::verify_email))
        .route(
            "/v1/password/reset/request",
            post(links::request_password_reset),
        )
        .route("/v1/password/reset/check", post(links::check_reset_token))
        .route("/v1/password/reset", post(links::reset_password))
        .route("/v1/dev/outbox", get(mail::list_outbox))
        .merge(social::routes())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(json::BODY_LIMIT_BYTES))
        .layer(Observe::new("identity", state.metrics().metrics()).layer())
        .with_state(state)
}

/// A service bound to its port, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    router: Router,
    key_watcher: tokio::task::JoinHandle<()>,
    serve_options: ServeOptions,
    keyring: KeyRing,
    mailer: Mailer,
    state: AppState,
    metrics: Option<Exposition>,
    /// Keeps `gatehouse_mail_outbox_pending` current and prunes idle lockout counters.
    upkeep: service_kit::metrics::Serving,
    /// Social providers' discovery retries and JWKS refreshes.
    social_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Opens the store (applying migrations), loads the key ring from `KEYS_DIR` (it never
    /// creates keys), starts watching it, and binds `config.addr` (port 0 allowed).
    pub async fn bind(config: Config, clock: Clock) -> anyhow::Result<Server> {
        config.validate().map_err(anyhow::Error::msg)?;
        let ring_config = KeyRingConfig {
            jwks_max_age: config.jwks_max_age,
            group_readable: config.keys_group_readable,
            ..KeyRingConfig::default()
        };
        let keyring =
            KeyRing::load(&config.keys_dir, ring_config, clock.clone()).with_context(|| {
                format!(
                "KEYS_DIR {}: cannot load the signing keys (create them with `identity keys init`)",
                config.keys_dir.display()
            )
            })?;
        let migrations = Migrations {
            postgres: &POSTGRES_MIGRATIONS,
            sqlite: &SQLITE_MIGRATIONS,
        };
        let db = db::connect(
            config.database_url.expose_secret(),
            SCHEMA,
            migrations,
            MAX_CONNECTIONS,
        )
        .await
        .context("DATABASE_URL")?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("IDENTITY_ADDR {}: cannot listen", config.addr))?;
        let addr = listener.local_addr()?;
        let state = AppState::new(&config, db, keyring.clone(), clock).await?;
        let metrics = Exposition::bind(config.metrics_addr, state.metrics().metrics())
            .await
            .with_context(|| format!("METRICS_ADDR {}: cannot listen", config.metrics_addr))?;
        let key_watcher = service_kit::telemetry::service_span("identity")
            .in_scope(|| keyring.spawn_watcher(KEY_WATCH_INTERVAL));
        let upkeep = upkeep(
            state.pool().clone(),
            state.metrics().clone(),
            state.clock().clone(),
        );
        let social_tasks = state.social().start().await;
        let keyring = keyring.clone();
        let serve_options = ServeOptions {
            grace: config.shutdown_grace,
            ..ServeOptions::default()
        };
        let mailer = state.mailer().clone();
        Ok(Server {
            listener,
            addr,
            router: app(state.clone()),
            key_watcher,
            serve_options,
            keyring,
            mailer,
            state,
            metrics,
            upkeep,
            social_tasks,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served (`None` when `METRICS_ADDR` is empty).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(Exposition::local_addr)
    }

    /// The key ring this server signs with (tests call [`KeyRing::reload`] on it directly, so a
    /// check does not depend on the watcher's timing).
    pub fn keyring(&self) -> KeyRing {
        self.keyring.clone()
    }

    /// The state the router serves (tests read the hasher's counters through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish
    /// within the grace period, lets the mail senders finish the attempts in hand and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            listener,
            router,
            key_watcher,
            serve_options,
            mailer,
            metrics,
            upkeep,
            social_tasks,
            state,
            ..
        } = self;
        let _metrics = metrics.map(Exposition::spawn);
        let _upkeep = upkeep;
        let served = service_kit::serve::serve(listener, router, serve_options, shutdown).await;
        state.sessions().leave().await;
        key_watcher.abort();
        social_tasks.iter().for_each(tokio::task::JoinHandle::abort);
        mailer.stop().await;
        served
    }
}

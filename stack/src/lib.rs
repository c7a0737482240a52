//! Runs edge, identity and core-api in one process — each on its own port, talking HTTP exactly
//! as in production — for development and for the cross-service tests. It adds no behaviour of
//! its own: every request goes through the same routers the three binaries serve.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use service_kit::Clock;

/// One service serving in the background.
pub struct Running {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Serves `run_until` in a task until [`Running::stop`] is called or the handle is dropped.
    fn spawn<F, Fut>(addr: SocketAddr, metrics_addr: Option<SocketAddr>, run_until: F) -> Self
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut,
        Fut: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(run_until(rx));
        Running {
            addr,
            metrics_addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address of the service's own metrics listener (`None` when `METRICS_ADDR` is empty).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops accepting, closes idle keep-alive connections and waits for the server to end.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task)
            .await
            .context("server task panicked")?
            .context("server failed")?;
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts identity with `config` on the given clock.
pub async fn start_identity(config: identity::Config, clock: Clock) -> anyhow::Result<Running> {
    Ok(start_identity_with_state(config, clock).await?.0)
}

/// Starts identity and hands back its state too (tests read counters such as the hasher's).
pub async fn start_identity_with_state(
    config: identity::Config,
    clock: Clock,
) -> anyhow::Result<(Running, identity::AppState)> {
    let server = identity::Server::bind(config, clock)
        .await
        .context("identity did not start")?;
    let (addr, metrics_addr) = (server.local_addr(), server.metrics_addr());
    let state = server.state().clone();
    Ok((
        Running::spawn(addr, metrics_addr, |rx| {
            server.run_until(async move {
                let _ = rx.await;
            })
        }),
        state,
    ))
}

/// Starts core-api with `config`.
pub async fn start_core_api(config: core_api::Config) -> anyhow::Result<Running> {
    let server = core_api::Server::bind(config)
        .await
        .context("core-api did not start")?;
    let (addr, metrics_addr) = (server.local_addr(), server.metrics_addr());
    Ok(Running::spawn(addr, metrics_addr, |rx| {
        server.run_until(async move {
            let _ = rx.await;
        })
    }))
}

/// Starts edge with `config`.
pub async fn start_edge(config: edge::Config) -> anyhow::Result<Running> {
    let server = edge::Server::bind(config)
        .await
        .context("edge did not start")?;
    let (addr, metrics_addr) = (server.local_addr(), server.metrics_addr());
    Ok(Running::spawn(addr, metrics_addr, |rx| {
        server.run_until(async move {
            let _ = rx.await;
        })
    }))
}

/// The three services, wired to each other.
pub struct Stack {
    /// identity (private).
    pub identity: Running,
    /// core-api (private).
    pub core_api: Running,
    /// edge (public).
    pub edge: Running,
    /// identity's state, for tests that read its counters (e.g. `hasher().stats()`).
    pub identity_state: identity::AppState,
}

/// Starts identity, then core-api and edge pointed at it, in that order so core-api's first
/// JWKS fetch finds identity serving. Addresses of port 0 are resolved before the next service
/// is configured, so the three can run on ephemeral ports.
pub async fn start(
    identity_config: identity::Config,
    mut core_config: core_api::Config,
    mut edge_config: edge::Config,
    clock: Clock,
) -> anyhow::Result<Stack> {
    let (identity, identity_state) = start_identity_with_state(identity_config, clock).await?;
    core_config.jwks_url = format!("{}/.well-known/jwks.json", identity.url());
    let core_api = start_core_api(core_config).await?;
    edge_config.identity_url = identity.url();
    edge_config.core_api_url = core_api.url();
    let edge = start_edge(edge_config).await?;
    Ok(Stack {
        identity,
        core_api,
        edge,
        identity_state,
    })
}

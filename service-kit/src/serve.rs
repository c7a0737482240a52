//! The accept loop every Gatehouse service runs: HTTP/1.1 on hyper, `TCP_NODELAY` on each
//! connection, the client's address as `ConnectInfo<SocketAddr>`, an optional header-read timeout
//! (`408` to a client that began a request, see `request_timeout`) and connection cap, and a
//! graceful stop bounded by a grace period. It knows nothing of routes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::{Layer, ServiceExt};

use request_timeout::WriteTracked;

mod request_timeout;

/// The smallest `max_header_bytes` hyper accepts.
const MIN_HEADER_BYTES: usize = 8 * 1024;

/// How a service's listener treats connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a request's head may take to arrive: past it a client that had begun one is
    /// answered `408` and the connection closed, and an idle keep-alive connection is closed
    /// silently. `None` waits forever.
    pub header_read_timeout: Option<Duration>,
    /// At most this many open connections; when full, the listener stops accepting until one
    /// closes (the kernel's backlog holds the rest). `None`: no cap.
    pub max_connections: Option<usize>,
    /// After shutdown is asked for, how long requests in flight may take to finish before their
    /// connections are dropped.
    pub grace: Duration,
    /// Most bytes of request line and headers buffered per connection (at least 8 KiB); larger
    /// heads are answered `431` and the connection closed. `None`: hyper's default (~400 KB),
    /// which lets a thousand slow clients hold 400 MB.
    pub max_header_bytes: Option<usize>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: None,
            max_connections: None,
            grace: Duration::from_secs(10),
            max_header_bytes: None,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves. Then the listener is closed at once
/// (new connections are refused), every connection is told to finish its request in flight and
/// close (idle keep-alives close now), and this returns `Ok` once all have closed or `grace` has
/// passed, whichever comes first.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    if let Some(max) = options.max_header_bytes {
        // hyper refuses (panics on) a buffer smaller than 8 KiB.
        builder.max_buf_size(max.max(MIN_HEADER_BYTES));
    }
    let builder = Arc::new(builder);
    let slots = options
        .max_connections
        .map(|max| Arc::new(Semaphore::new(max.max(1))));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let permit = match &slots {
            None => None,
            Some(slots) => tokio::select! {
                // The semaphore is never closed, so this is always a permit.
                permit = slots.clone().acquire_owned() => permit.ok(),
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                () = &mut shutdown => break,
            },
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, remote)) => {
                let conn = serve_connection(
                    stream,
                    remote,
                    router.clone(),
                    builder.clone(),
                    stop_rx.clone(),
                    permit,
                );
                connections.spawn(conn);
            }
            Err(err) => wait_after_accept_error(err).await,
        }
    }

    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(options.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace = ?options.grace,
            "shutdown grace period over; dropping the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Resolves when the process is asked to stop: SIGTERM (`docker stop`, Kubernetes, systemd) or
/// SIGINT (Ctrl-C). Every binary's `main` passes this to its server's `run_until`.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops gracefully");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => tracing::info!("SIGTERM received; finishing requests in flight"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; finishing requests in flight"),
    }
}

/// One connection: requests served until the client closes it or shutdown asks it to finish.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    builder: Arc<http1::Builder>,
    mut stop: watch::Receiver<bool>,
    _slot: Option<OwnedSemaphorePermit>,
) {
    // Small JSON answers on keep-alive connections must not wait for Nagle's algorithm (the
    // proxied call crosses three of them).
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
    let service = Extension(ConnectInfo(remote))
        .layer(router)
        .map_request(|request: http::Request<Incoming>| request.map(Body::new));
    let mut conn = builder.serve_connection(
        TokioIo::new(WriteTracked::new(stream)),
        TowerToHyperService::new(service),
    );
    let stopping = async {
        // An error means the sender is gone: that is a stop too.
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    let ended = tokio::select! {
        ended = &mut conn => ended,
        () = stopping => {
            std::pin::Pin::new(&mut conn).graceful_shutdown();
            (&mut conn).await
        }
    };
    match ended {
        // On a server connection hyper's only timeout is the header-read one.
        Err(err) if err.is_timeout() => {
            let http1::Parts { io, read_buf, .. } = conn.into_parts();
            request_timeout::end_stalled_connection(io.into_inner(), &read_buf).await;
        }
        ended => log_connection_end(ended),
    }
}

fn log_connection_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::trace!(error = %err, "connection ended with an error");
    }
}

/// Errors that concern one connection are skipped; others (out of file descriptors, say) would
/// repeat at once, so the loop pauses before accepting again.
async fn wait_after_accept_error(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed; pausing for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests;

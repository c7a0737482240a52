//! Listening sockets for the services.

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// A listener that sets `TCP_NODELAY` on each connection it accepts.
pub type NoDelayListener = TapIo<TcpListener, fn(&mut TcpStream)>;

/// `listener` with `TCP_NODELAY` on every accepted connection: small JSON answers on keep-alive
/// connections must not wait for Nagle's algorithm (the proxied call crosses three of them).
pub fn with_nodelay(listener: TcpListener) -> NoDelayListener {
    listener.tap_io(set_nodelay as fn(&mut TcpStream))
}

fn set_nodelay(stream: &mut TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
}

//! What edge knows of the browser it serves: the peer address of the connection and the
//! User-Agent it sends. Forwarding headers (`X-Forwarded-For`, `Forwarded`) are never trusted.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::header::USER_AGENT;
use http::{Extensions, HeaderMap};

use crate::error::EdgeError;

/// The client's IP address: the peer of the TCP connection.
pub fn client_ip(extensions: &Extensions) -> Result<String, EdgeError> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_string())
        .ok_or(EdgeError::Internal(
            "no peer address: serve with into_make_service_with_connect_info",
        ))
}

/// The browser's User-Agent, empty when absent or not text.
pub fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

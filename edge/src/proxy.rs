//! The proxied call, edge's hot path (DESIGN §2): `/api/<path>` → session cookie → token
//! exchange with identity → core-api with `Authorization: Bearer` → core-api's answer.
//! It never forwards a request without a freshly exchanged token, never forwards the browser's
//! credentials or forwarding headers, and never relays core-api's `Set-Cookie`.

use axum::body::Body;
use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{AUTHORIZATION, CONNECTION, SET_COOKIE};
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Uri};
use service_kit::observe::RequestContext;
use url::Url;

use crate::body::{body_failure, declared_over_limit, stream_limited};
use crate::browser::{client_ip, user_agent};
use crate::error::EdgeError;
use crate::identity::{ExchangeRequest, ExchangeVerdict};
use crate::origin::Endpoint;
use crate::AppState;

/// Serves `/api/<path>` (all but `/api/auth/*`) on behalf of the signed-in browser.
pub async fn proxy_to_core_api(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, body) = request.into_parts();

    // 1. The session cookie. Without one there is nothing to exchange: identity is not asked.
    let session = state
        .cookie
        .read(&parts.headers)
        .ok_or(EdgeError::Unauthorized)?;

    // 2. Only the public origin may change state.
    state.public_origin.check(&parts, Endpoint::Other)?;

    // 3. Where the request goes. The token is bound to this exact path.
    let target = core_api_url(&state.core_api_base, &parts.uri)?;

    // 4. A body declared too large is refused before identity is asked; none of the body is read
    //    before the session is confirmed (DESIGN §14).
    if declared_over_limit(&parts.headers, state.body_limit) {
        return Err(EdgeError::PayloadTooLarge);
    }

    // 5. Exchange the session for a token bound to this method and path (identity checks the
    //    session, its binding and expiry; edge only relays the verdict).
    let client_ip = client_ip(&parts.extensions)?;
    let exchange = ExchangeRequest {
        session,
        method: &parts.method,
        path: target.path(),
        client_ip: &client_ip,
        user_agent: user_agent(&parts.headers),
    };
    let issued = match state
        .identity
        .exchange(&exchange, trace_headers(&parts.extensions))
        .await?
    {
        ExchangeVerdict::Issued(issued) => issued,
        ExchangeVerdict::SessionRejected => {
            return Err(EdgeError::SessionRejected {
                clear_cookie: state.cookie.clear(),
            });
        }
    };
    // Sliding expiry moved the session's end: the cookie must follow it (DESIGN §3).
    let refreshed_cookie = match issued.session_expires_in {
        Some(max_age) => Some(
            state
                .cookie
                .set(session.expose_secret(), Some(max_age))
                .ok_or(EdgeError::Internal(
                    "a cookie edge read could not be set again",
                ))?,
        ),
        None => None,
    };

    // 6. Forward with the token in place of the browser's credentials; the body streams through
    //    as it arrives, within BODY_LIMIT and BODY_TIMEOUT. core-api's own time runs after the
    //    body's.
    let headers = forward_headers(
        &parts.headers,
        issued.access_token.into_header(),
        trace_headers(&parts.extensions),
    );
    let timer = state.metrics.core_api_latency().start_timer();
    let mut forward = state
        .core_api
        .request(parts.method, target)
        .headers(headers);
    if !body.is_end_stream() {
        forward = forward
            .body(stream_limited(body, state.body_limit))
            .timeout(state.body_timeout + state.upstream_timeout);
    }
    let upstream = forward
        .send()
        .await
        .map_err(|err| body_failure(&err).unwrap_or_else(|| EdgeError::from_core_api(err)))?;

    // 7. Relay core-api's answer, less hop-by-hop headers and cookies, plus the session cookie
    //    when it was extended.
    let status = upstream.status();
    let mut headers = response_headers(upstream.headers());
    if let Some(cookie) = refreshed_cookie {
        headers.insert(SET_COOKIE, cookie);
    }
    let body = upstream.bytes().await.map_err(EdgeError::from_core_api)?;
    timer.observe_duration();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// core-api's URL for this request. A path the URL parser would rewrite (`..`, `%2e`, stray
/// characters) is refused, so core-api serves exactly the path the token is bound to.
fn core_api_url(base: &str, uri: &Uri) -> Result<Url, EdgeError> {
    let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let mut raw = String::with_capacity(base.len() + path_and_query.len());
    raw.push_str(base);
    raw.push_str(path_and_query);
    let url = Url::parse(&raw).map_err(|_| EdgeError::NotFound)?;
    if url.path() != uri.path() || !url.path().starts_with("/api/") {
        return Err(EdgeError::NotFound);
    }
    Ok(url)
}

/// The request id and a `traceparent` for one call to an upstream (a new span id per hop).
fn trace_headers(extensions: &Extensions) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(2);
    if let Some(context) = extensions.get::<RequestContext>() {
        headers.extend(context.outgoing_headers());
    }
    headers
}

/// The browser's headers core-api may see, plus the token, the request id and `traceparent`.
fn forward_headers(incoming: &HeaderMap, bearer: HeaderValue, trace: HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(incoming.len() + 3);
    for (name, value) in incoming {
        if is_forwardable_request_header(name) && !named_by_connection(incoming, name) {
            out.append(name.clone(), value.clone());
        }
    }
    out.insert(AUTHORIZATION, bearer);
    out.extend(trace);
    out
}

/// Credentials, identity claims and forwarding data are edge's to set, never the browser's;
/// hop-by-hop headers belong to one connection; `Host` and `Content-Length` are recomputed.
fn is_forwardable_request_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    !(is_hop_by_hop(name)
        || name.starts_with("x-forwarded-")
        || matches!(
            name,
            "cookie"
                | "authorization"
                | "x-user-id"
                | "x-real-ip"
                | "forwarded"
                | "host"
                | "content-length"
                | "expect"
                | "x-request-id"
                | "traceparent"
                | "tracestate"
        ))
}

/// core-api's headers the browser may see.
fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        let keep = !is_hop_by_hop(name.as_str())
            && name != "set-cookie"
            && !named_by_connection(upstream, name);
        if keep {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// RFC 9110 §7.6.1's connection-specific headers, plus every `Proxy-*`.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || name.starts_with("proxy-")
}

/// Whether the message's `Connection` header lists `name` (making it hop-by-hop too).
fn named_by_connection(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|listed| listed.trim().eq_ignore_ascii_case(name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn forwarding_strips_credentials_forwarding_and_hop_by_hop_headers() {
        let incoming = headers(&[
            ("cookie", "better-auth.session_token=abc"),
            ("authorization", "Bearer forged"),
            ("x-user-id", "admin"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-host", "evil"),
            ("forwarded", "for=1.2.3.4"),
            ("connection", "keep-alive, X-Secret-Hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic x"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("host", "edge.example.com"),
            ("x-request-id", "browser-id"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "vendor=browser"),
            ("accept", "application/json"),
            ("content-type", "application/json"),
            ("x-custom", "a"),
            ("x-custom", "b"),
        ]);
        let mut trace = HeaderMap::new();
        trace.insert("x-request-id", HeaderValue::from_static("rid"));
        trace.insert("traceparent", HeaderValue::from_static("00-edge"));
        let out = forward_headers(&incoming, HeaderValue::from_static("Bearer minted"), trace);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names.len(), 6, "{names:?}");
        assert_eq!(out["authorization"], "Bearer minted");
        assert_eq!(out["x-request-id"], "rid");
        assert_eq!(out["traceparent"], "00-edge");
        assert_eq!(out["accept"], "application/json");
        assert_eq!(out["content-type"], "application/json");
        assert_eq!(out.get_all("x-custom").iter().count(), 2);
    }

    #[test]
    fn responses_lose_cookies_and_hop_by_hop_headers() {
        let upstream = headers(&[
            ("set-cookie", "session=evil"),
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("content-type", "application/json"),
            ("location", "/api/orders/1"),
        ]);
        let out = response_headers(&upstream);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type", "location"]);
    }

    #[test]
    fn the_target_keeps_the_query_and_refuses_rewritten_paths() {
        let base = "http://127.0.0.1:8082";
        let url = core_api_url(base, &Uri::from_static("/api/orders?limit=5&x=%20")).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8082/api/orders?limit=5&x=%20"
        );
        assert_eq!(url.path(), "/api/orders");
        for bad in [
            "/api/../healthz",
            "/api/%2e%2e/healthz",
            "/api/./x",
            "/api/a/../../admin",
        ] {
            assert!(core_api_url(base, &Uri::from_static(bad)).is_err(), "{bad}");
        }
    }
}

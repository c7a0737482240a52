//! The server-rendered pages (DESIGN §8), the development mailbox, and the static CSS and
//! JavaScript they load. Pages only
//! render: every form is submitted by `/static/app.js` to the same `/api/auth/*` and `/api/*`
//! JSON endpoints a Better-Auth frontend uses; no page handler changes state. Every response of
//! this router carries the security headers below; pages are built with `maud`, which escapes every
//! value it splices in.

mod assets;
mod credentials;
mod dev_mailbox;
mod html;
mod public;
mod signed_in;
mod social;

use axum::routing::get;
use axum::Router;
use http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderValue, Response};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;

/// Scripts and styles only from edge itself (no inline code), no framing, forms post only here.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// HSTS for an https public URL: one year, subdomains included.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The pages and `/static/*`, with the security headers; HSTS only when `https` is true.
pub fn routes(https: bool) -> Router<AppState> {
    let hsts = https.then(|| HeaderValue::from_static(HSTS));
    Router::new()
        .route("/", get(public::home))
        .route("/sign-up", get(public::sign_up))
        .route("/sign-in", get(public::sign_in))
        .route("/verify-email", get(public::verify_email))
        .route("/forgot-password", get(public::forgot_password))
        .route("/reset-password", get(public::reset_password))
        .route("/account", get(signed_in::account))
        .route("/app", get(signed_in::app_page))
        .route("/dev/mailbox", get(dev_mailbox::dev_mailbox))
        .route("/api/auth/error", get(social::error_page))
        .route(assets::CSS_PATH, get(assets::stylesheet))
        .route(assets::JS_PATH, get(assets::script))
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            STRICT_TRANSPORT_SECURITY,
            move |_: &Response<axum::body::Body>| hsts.clone(),
        ))
}

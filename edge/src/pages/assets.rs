//! `/static/app.css` and `/static/app.js`, compiled into the binary. Pages link them with a
//! `?v=<content hash>` so they can be cached for a year: a new build changes the link.

use axum::response::IntoResponse;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use http::HeaderValue;

/// Where the stylesheet is served.
pub const CSS_PATH: &str = "/static/app.css";
/// Where the script is served.
pub const JS_PATH: &str = "/static/app.js";

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

/// FNV-1a over the file, at compile time: enough to tell two builds' files apart.
const fn fnv1a(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const CSS_HASH: u64 = fnv1a(CSS);
const JS_HASH: u64 = fnv1a(JS);

/// The stylesheet's versioned URL, for `<link>`.
pub fn css_url() -> String {
    format!("{CSS_PATH}?v={CSS_HASH:016x}")
}

/// The script's versioned URL, for `<script src>`.
pub fn js_url() -> String {
    format!("{JS_PATH}?v={JS_HASH:016x}")
}

/// `GET /static/app.css`.
pub async fn stylesheet() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CSS, CSS_HASH)
}

/// `GET /static/app.js`.
pub async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", JS, JS_HASH)
}

fn asset(content_type: &'static str, body: &'static str, hash: u64) -> impl IntoResponse {
    let etag = HeaderValue::from_str(&format!("\"{hash:016x}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (ETAG, etag),
        ],
        body,
    )
}

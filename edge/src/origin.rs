//! Where a state-changing request may come from: the public origin, the Origin/Referer and
//! `Sec-Fetch-*` checks (DESIGN §8, Better-Auth §4), and which callback URLs are safe to send a
//! browser to. Plain functions over headers and strings: no I/O, no axum types.

use http::header::{COOKIE, ORIGIN, REFERER};
use http::request::Parts;
use http::{HeaderMap, Method};
use url::Url;

use crate::config::{http_url, ConfigError};

/// edge's public origin (`scheme://host[:port]`), from `PUBLIC_URL`.
#[derive(Clone, Debug)]
pub struct PublicOrigin {
    serialized: String,
    secure: bool,
}

impl PublicOrigin {
    /// [`check_origin`] for a request's method and headers.
    pub fn check(&self, request: &Parts, endpoint: Endpoint) -> Result<(), OriginRejection> {
        check_origin(&request.method, &request.headers, self, endpoint)
    }

    /// Derives the origin from the public URL; anything but an http(s) URL with a host is refused.
    pub fn from_public_url(public_url: &str) -> Result<Self, ConfigError> {
        let url = http_url("PUBLIC_URL", public_url)?;
        Ok(PublicOrigin {
            serialized: url.origin().ascii_serialization(),
            secure: url.scheme() == "https",
        })
    }

    /// Whether the public URL is https (then the cookie is `__Host-` and `Secure`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Whether `candidate` (an origin or a URL) has exactly this scheme, host and port.
    fn matches(&self, candidate: &str) -> bool {
        candidate == self.serialized
            || Url::parse(candidate)
                .is_ok_and(|url| url.origin().ascii_serialization() == self.serialized)
    }
}

/// Which rules apply to the endpoint being called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/sign-in/email` and `/sign-up/email`: also guarded against login CSRF.
    LoginForm,
    /// Every other endpoint.
    Other,
}

/// Why a request was refused as coming from the wrong place (each is a `403`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OriginRejection {
    /// The request needs an origin and has none, or `null`.
    #[error("Missing or null Origin")]
    MissingOrNullOrigin,
    /// The request comes from another origin (or another site, by `Sec-Fetch-Site`).
    #[error("Invalid origin")]
    InvalidOrigin,
    /// A cross-site form navigation to sign-in or sign-up (login CSRF).
    #[error("Cross-site navigation login blocked")]
    CrossSiteNavigationLoginBlocked,
}

/// Checks that a request may change state from where it comes. Safe methods always pass.
pub fn check_origin(
    method: &Method,
    headers: &HeaderMap,
    public: &PublicOrigin,
    endpoint: Endpoint,
) -> Result<(), OriginRejection> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let cross_site = header_is(headers, "sec-fetch-site", "cross-site");
    if endpoint == Endpoint::LoginForm
        && cross_site
        && header_is(headers, "sec-fetch-mode", "navigate")
    {
        return Err(OriginRejection::CrossSiteNavigationLoginBlocked);
    }
    if cross_site {
        return Err(OriginRejection::InvalidOrigin);
    }
    // A cookie-bearing request must prove where it comes from; so must a login form whenever the
    // browser sends Sec-Fetch metadata (it then also sends Origin).
    let origin_required = headers.contains_key(COOKIE)
        || (endpoint == Endpoint::LoginForm && has_sec_fetch_metadata(headers));
    match request_origin(headers) {
        None if origin_required => Err(OriginRejection::MissingOrNullOrigin),
        None => Ok(()),
        Some(origin) if origin == "null" => Err(OriginRejection::MissingOrNullOrigin),
        Some(origin) if public.matches(&origin) => Ok(()),
        Some(_) => Err(OriginRejection::InvalidOrigin),
    }
}

/// Whether a `callbackURL` is safe to send the browser to: a same-origin relative path (one
/// leading `/`, no `//` or `\`, Better-Auth's character set) or an absolute URL on the public
/// origin.
pub fn is_safe_callback(callback: &str, public: &PublicOrigin) -> bool {
    // URL parsers silently drop tabs and newlines; a callback carrying any is refused outright.
    if callback.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return false;
    }
    if callback.starts_with('/') {
        return is_same_origin_path(callback);
    }
    !callback.contains('\\')
        && Url::parse(callback).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.origin().ascii_serialization() == public.serialized
        })
}

/// `^/(?!/|\\|%2f|%5c)[\w\-.+/@]*(\?[\w\-.+/=&%@]*)?$`, Better-Auth's relative-callback rule.
fn is_same_origin_path(candidate: &str) -> bool {
    let Some(rest) = candidate.strip_prefix('/') else {
        return false;
    };
    let escapes_origin = rest.starts_with('/')
        || rest.starts_with('\\')
        || rest.get(..3).is_some_and(|start| {
            start.eq_ignore_ascii_case("%2f") || start.eq_ignore_ascii_case("%5c")
        });
    if escapes_origin {
        return false;
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    path.bytes().all(|b| word(b) || b"-.+/@".contains(&b))
        && query.is_none_or(|q| q.bytes().all(|b| word(b) || b"-.+/=&%@".contains(&b)))
}

/// The request's origin: the `Origin` header, else the origin of `Referer`; `null` when either
/// is present but unusable.
fn request_origin(headers: &HeaderMap) -> Option<std::borrow::Cow<'_, str>> {
    if let Some(origin) = headers.get(ORIGIN) {
        return Some(origin.to_str().unwrap_or("null").into());
    }
    let referer = headers.get(REFERER)?;
    let origin = referer
        .to_str()
        .ok()
        .and_then(|r| Url::parse(r).ok())
        .map_or_else(
            || "null".to_owned(),
            |url| url.origin().ascii_serialization(),
        );
    Some(origin.into())
}

fn header_is(headers: &HeaderMap, name: &str, expected: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

fn has_sec_fetch_metadata(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|name| name.as_str().starts_with("sec-fetch-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn public() -> PublicOrigin {
        PublicOrigin::from_public_url("https://app.example.com/").expect("valid URL")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn check(
        method: Method,
        pairs: &[(&'static str, &'static str)],
        endpoint: Endpoint,
    ) -> Result<(), OriginRejection> {
        check_origin(&method, &headers(pairs), &public(), endpoint)
    }

    const COOKIE_HDR: (&str, &str) = ("cookie", "__Host-better-auth.session_token=abc");

    #[test]
    fn public_origin_drops_path_and_default_port_and_knows_https() {
        let origin =
            PublicOrigin::from_public_url("https://app.example.com:443/some/path").unwrap();
        assert_eq!(origin.serialized, "https://app.example.com");
        assert!(origin.is_secure());
        let plain = PublicOrigin::from_public_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(plain.serialized, "http://127.0.0.1:8080");
        assert!(!plain.is_secure());
        assert!(PublicOrigin::from_public_url("app.example.com").is_err());
    }

    #[test]
    fn safe_methods_are_never_checked() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            let evil = [
                COOKIE_HDR,
                ("origin", "https://evil.com"),
                ("sec-fetch-site", "cross-site"),
            ];
            assert_eq!(check(method, &evil, Endpoint::Other), Ok(()));
        }
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused_for_every_state_change() {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let pairs = [
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://app.example.com"),
            ];
            assert_eq!(
                check(method, &pairs, Endpoint::Other),
                Err(OriginRejection::InvalidOrigin)
            );
        }
    }

    #[test]
    fn cross_site_navigation_to_a_login_form_is_login_csrf() {
        let pairs = [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ];
        assert_eq!(
            check(Method::POST, &pairs, Endpoint::LoginForm),
            Err(OriginRejection::CrossSiteNavigationLoginBlocked)
        );
    }

    #[test]
    fn cookie_bearing_requests_need_the_public_origin() {
        assert_eq!(
            check(Method::POST, &[COOKIE_HDR], Endpoint::Other),
            Err(OriginRejection::MissingOrNullOrigin)
        );
        let null = [COOKIE_HDR, ("origin", "null")];
        assert_eq!(
            check(Method::POST, &null, Endpoint::Other),
            Err(OriginRejection::MissingOrNullOrigin)
        );
        let evil = [COOKIE_HDR, ("origin", "https://evil.com")];
        assert_eq!(
            check(Method::DELETE, &evil, Endpoint::Other),
            Err(OriginRejection::InvalidOrigin)
        );
        let other_port = [COOKIE_HDR, ("origin", "https://app.example.com:8443")];
        assert_eq!(
            check(Method::POST, &other_port, Endpoint::Other),
            Err(OriginRejection::InvalidOrigin)
        );
        let http = [COOKIE_HDR, ("origin", "http://app.example.com")];
        assert_eq!(
            check(Method::POST, &http, Endpoint::Other),
            Err(OriginRejection::InvalidOrigin)
        );
        let good = [COOKIE_HDR, ("origin", "https://app.example.com")];
        assert_eq!(check(Method::POST, &good, Endpoint::Other), Ok(()));
    }

    #[test]
    fn referer_stands_in_for_a_missing_origin() {
        let good = [
            COOKIE_HDR,
            ("referer", "https://app.example.com/account?x=1"),
        ];
        assert_eq!(check(Method::POST, &good, Endpoint::Other), Ok(()));
        let evil = [COOKIE_HDR, ("referer", "https://evil.com/app.example.com")];
        assert_eq!(
            check(Method::POST, &evil, Endpoint::Other),
            Err(OriginRejection::InvalidOrigin)
        );
        let junk = [COOKIE_HDR, ("referer", "not a url")];
        assert_eq!(
            check(Method::POST, &junk, Endpoint::Other),
            Err(OriginRejection::MissingOrNullOrigin)
        );
    }

    #[test]
    fn without_cookies_a_present_origin_must_still_match() {
        assert_eq!(check(Method::POST, &[], Endpoint::Other), Ok(()));
        assert_eq!(check(Method::POST, &[], Endpoint::LoginForm), Ok(()));
        let evil = [("origin", "https://evil.com")];
        assert_eq!(
            check(Method::POST, &evil, Endpoint::LoginForm),
            Err(OriginRejection::InvalidOrigin)
        );
        let good = [("origin", "https://app.example.com")];
        assert_eq!(check(Method::POST, &good, Endpoint::LoginForm), Ok(()));
    }

    #[test]
    fn a_login_form_with_fetch_metadata_needs_an_origin() {
        let no_origin = [("sec-fetch-mode", "cors")];
        assert_eq!(
            check(Method::POST, &no_origin, Endpoint::LoginForm),
            Err(OriginRejection::MissingOrNullOrigin)
        );
        assert_eq!(check(Method::POST, &no_origin, Endpoint::Other), Ok(()));
        let with_origin = [
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://app.example.com"),
        ];
        assert_eq!(
            check(Method::POST, &with_origin, Endpoint::LoginForm),
            Ok(())
        );
    }

    #[test]
    fn callbacks_stay_on_the_public_origin() {
        let public = public();
        for safe in [
            "/",
            "/app",
            "/account?tab=sessions&x=%20",
            "/a/b-c_d.e+f@g",
            "https://app.example.com/app?x=1",
        ] {
            assert!(is_safe_callback(safe, &public), "{safe} should be safe");
        }
        for unsafe_ in [
            "//evil.com",
            "/\\evil",
            "/%2fevil.com",
            "/%5Cevil.com",
            "https://evil.com/x",
            "http://app.example.com/app",
            "https://app.example.com.evil.com/",
            "https://app.example.com\\@evil.com",
            "javascript:alert(1)",
            "app",
            "/app#frag",
            "/a b",
            "https://app.example.com/\nx",
            "https://app.example.com/a b",
            "",
        ] {
            assert!(
                !is_safe_callback(unsafe_, &public),
                "{unsafe_} should be refused"
            );
        }
    }
}

//! The session cookie (DESIGN §3): its name and attributes, reading the session token from a
//! request, and the `Set-Cookie` values that set or clear it. The token's value is never logged,
//! displayed or put in a body.

use std::fmt;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

/// Cookie name over plain http (Better-Auth's default name).
const PLAIN_NAME: &str = "better-auth.session_token";
/// Cookie name over https: `__Host-` pins it to this host, `Path=/` and `Secure`.
const HOST_NAME: &str = "__Host-better-auth.session_token";
/// A session token is 32 bytes base64url (43 characters); anything longer than this is not one.
const MAX_TOKEN_LEN: usize = 128;
/// The device cookie's name over plain http (DESIGN §14).
const DEVICE_PLAIN_NAME: &str = "gatehouse.device";
/// The device cookie's name over https.
const DEVICE_HOST_NAME: &str = "__Host-gatehouse.device";
/// The social sign-in state cookie's names (DESIGN §17): it binds a flow to the browser that
/// started it.
const STATE_PLAIN_NAME: &str = "better-auth.state";
const STATE_HOST_NAME: &str = "__Host-better-auth.state";
/// The state cookie's `Max-Age`: as long as identity keeps the flow.
pub const STATE_MAX_AGE: u64 = 600;
/// The device cookie's `Max-Age`: one year, as identity honours it.
pub const DEVICE_MAX_AGE: u64 = 365 * 86_400;

/// A plausible session token as read from the browser's cookie, borrowed. Its `Debug` is
/// redacted.
#[derive(Clone, Copy)]
pub struct CookieToken<'a>(&'a str);

impl<'a> CookieToken<'a> {
    /// Accepts only what a session token can look like: 1–128 base64url characters.
    pub fn parse(value: &'a str) -> Option<Self> {
        let plausible = !value.is_empty()
            && value.len() <= MAX_TOKEN_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then_some(CookieToken(value))
    }

    /// The secret itself, for the one place that must send it (identity).
    pub fn expose_secret(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for CookieToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieToken(<redacted>)")
    }
}

/// The session cookie's name and attributes, fixed at start from the public URL's scheme.
#[derive(Clone, Debug)]
pub struct SessionCookie {
    name: &'static str,
    /// `; Path=/; HttpOnly; SameSite=Lax` plus `; Secure` over https.
    attributes: &'static str,
    clear: HeaderValue,
}

impl SessionCookie {
    /// The cookie for a public URL that is https (`secure`) or plain http.
    pub fn new(secure: bool) -> Self {
        Self::named(secure, PLAIN_NAME, HOST_NAME)
    }

    /// The device cookie (OWASP device cookies, DESIGN §14): same attributes, its own name, a
    /// token of the same shape that identity issues and checks (set with [`DEVICE_MAX_AGE`]).
    pub fn device(secure: bool) -> Self {
        Self::named(secure, DEVICE_PLAIN_NAME, DEVICE_HOST_NAME)
    }

    /// The social sign-in state cookie (same attributes, its own name; set with
    /// [`STATE_MAX_AGE`]). `SameSite=Lax` still travels on the provider's top-level redirect back.
    pub fn oauth_state(secure: bool) -> Self {
        Self::named(secure, STATE_PLAIN_NAME, STATE_HOST_NAME)
    }

    fn named(secure: bool, plain_name: &'static str, host_name: &'static str) -> Self {
        let (name, attributes) = if secure {
            (host_name, "; Path=/; HttpOnly; Secure; SameSite=Lax")
        } else {
            (plain_name, "; Path=/; HttpOnly; SameSite=Lax")
        };
        let clear = HeaderValue::try_from(format!("{name}=; Max-Age=0{attributes}"))
            .expect("invariant: the cookie name and attributes are constant visible ASCII");
        SessionCookie {
            name,
            attributes,
            clear,
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The session token the browser sent, if it sent a plausible one.
    pub fn read<'a>(&self, headers: &'a HeaderMap) -> Option<CookieToken<'a>> {
        self.values(headers).find_map(CookieToken::parse)
    }

    /// Whether the browser sent this cookie at all, plausible or not.
    pub fn is_sent(&self, headers: &HeaderMap) -> bool {
        self.values(headers).next().is_some()
    }

    /// `Set-Cookie` holding `token`; `max_age` in seconds, `None` for a browser-session cookie.
    /// `None` when `token` is not a plausible session token.
    pub fn set(&self, token: &str, max_age: Option<u64>) -> Option<HeaderValue> {
        let token = CookieToken::parse(token)?;
        let value = match max_age {
            Some(seconds) => format!(
                "{}={}; Max-Age={seconds}{}",
                self.name, token.0, self.attributes
            ),
            None => format!("{}={}{}", self.name, token.0, self.attributes),
        };
        HeaderValue::try_from(value).ok()
    }

    /// `Set-Cookie` that removes the cookie (same name and attributes, `Max-Age=0`).
    pub fn clear(&self) -> HeaderValue {
        self.clear.clone()
    }

    /// Every value of this cookie in the request's `Cookie` headers, in order.
    fn values<'a>(&self, headers: &'a HeaderMap) -> impl Iterator<Item = &'a str> {
        let name = self.name;
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|header| header.to_str().ok())
            .flat_map(|header| header.split(';'))
            .filter_map(move |pair| {
                let (key, value) = pair.trim().split_once('=')?;
                (key == name).then_some(value)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c";

    fn cookie_headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(COOKIE, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn plain_http_uses_the_better_auth_name_without_secure() {
        let cookie = SessionCookie::new(false);
        let set = cookie.set(TOKEN, Some(604_800)).unwrap();
        assert_eq!(
            set.to_str().unwrap(),
            format!(
                "better-auth.session_token={TOKEN}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
            )
        );
        assert_eq!(
            cookie.clear().to_str().unwrap(),
            "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn https_uses_the_host_prefix_and_secure() {
        let cookie = SessionCookie::new(true);
        let set = cookie.set(TOKEN, None).unwrap();
        assert_eq!(
            set.to_str().unwrap(),
            format!(
                "__Host-better-auth.session_token={TOKEN}; Path=/; HttpOnly; Secure; SameSite=Lax"
            )
        );
        assert!(cookie
            .clear()
            .to_str()
            .unwrap()
            .starts_with("__Host-better-auth.session_token=; Max-Age=0;"));
    }

    #[test]
    fn reads_the_token_among_other_cookies_and_headers() {
        let cookie = SessionCookie::new(false);
        let headers = cookie_headers(&[
            "theme=dark",
            "a=b; better-auth.session_token=abc_DEF-123; z=1",
        ]);
        assert_eq!(
            cookie.read(&headers).map(|t| t.expose_secret()),
            Some("abc_DEF-123")
        );
    }

    #[test]
    fn the_https_cookie_ignores_the_unprefixed_name() {
        let cookie = SessionCookie::new(true);
        let headers = cookie_headers(&["better-auth.session_token=abc"]);
        assert!(cookie.read(&headers).is_none());
        assert!(!cookie.is_sent(&headers));
    }

    #[test]
    fn implausible_values_count_as_no_cookie() {
        let cookie = SessionCookie::new(false);
        let too_long: &'static str =
            Box::leak(format!("better-auth.session_token={}", "a".repeat(129)).into_boxed_str());
        for value in [
            "better-auth.session_token=",
            "better-auth.session_token=abc.def",
            "better-auth.session_token=abc%2Fdef",
            "better-auth.session_token=\"abc\"",
            too_long,
        ] {
            let headers = cookie_headers(&[value]);
            assert!(cookie.read(&headers).is_none(), "{value}");
            assert!(cookie.is_sent(&headers), "{value}");
        }
        assert!(cookie.set("not/a token", Some(1)).is_none());
    }

    #[test]
    fn the_device_cookie_has_its_own_name_and_lasts_a_year() {
        let plain = SessionCookie::device(false);
        let set = plain.set(TOKEN, Some(DEVICE_MAX_AGE)).unwrap();
        assert_eq!(
            set.to_str().unwrap(),
            format!("gatehouse.device={TOKEN}; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax")
        );
        let secure = SessionCookie::device(true);
        assert!(secure
            .set(TOKEN, Some(DEVICE_MAX_AGE))
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("__Host-gatehouse.device="));
        let headers = cookie_headers(&["better-auth.session_token=abc; gatehouse.device=dev_1"]);
        assert_eq!(
            plain.read(&headers).map(|t| t.expose_secret()),
            Some("dev_1")
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = CookieToken::parse(TOKEN).unwrap();
        assert!(!format!("{token:?}").contains(TOKEN));
    }
}

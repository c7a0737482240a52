//! The session rules of DESIGN §6 as plain functions of the session, the client and the time
//! (milliseconds since the epoch): creation times, liveness, sliding expiry, binding, freshness.
//! Nothing here touches the store, the clock or HTTP.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use service_kit::duration::millis;

use crate::config::Config;

/// How long a session kept only for the browser session (`remember_me: false`) lives, as in
/// Better-Auth; it is never extended.
const BROWSER_SESSION_MS: i64 = 86_400_000;

/// The configured lifetimes, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// `SESSION_TTL`: lifetime after sign-in or the last extension.
    pub ttl_ms: i64,
    /// `SESSION_UPDATE_AGE`: how old the last extension must be before a use extends it.
    pub update_age_ms: i64,
    /// `SESSION_MAX_AGE`: absolute lifetime from sign-in.
    pub max_age_ms: i64,
    /// `SESSION_FRESH_AGE`: how long after sign-in the session is fresh.
    pub fresh_age_ms: i64,
    /// `SESSION_BIND_IP`: refuse a use from another IP address.
    pub bind_ip: bool,
}

impl SessionPolicy {
    /// The policy the configuration asks for.
    pub fn from_config(config: &Config) -> SessionPolicy {
        SessionPolicy {
            ttl_ms: millis(config.session_ttl),
            update_age_ms: millis(config.session_update_age),
            max_age_ms: millis(config.session_max_age),
            fresh_age_ms: millis(config.session_fresh_age),
            bind_ip: config.session_bind_ip,
        }
    }
}

/// The times of a session, all in ms since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimes {
    /// Sign-in.
    pub created_at: i64,
    /// When it stops being accepted.
    pub expires_at: i64,
    /// When its expiry was last set (creation or extension).
    pub extended_at: i64,
    /// The absolute cap: created_at + SESSION_MAX_AGE.
    pub max_expires_at: i64,
    /// Whether it outlives the browser session (and slides).
    pub remember: bool,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// The times of a session created at `now`.
pub fn new_session_times(now: i64, remember: bool, policy: &SessionPolicy) -> SessionTimes {
    let max_expires_at = now.saturating_add(policy.max_age_ms);
    let lifetime = if remember {
        policy.ttl_ms
    } else {
        policy.ttl_ms.min(BROWSER_SESSION_MS)
    };
    SessionTimes {
        created_at: now,
        expires_at: now.saturating_add(lifetime).min(max_expires_at),
        extended_at: now,
        max_expires_at,
        remember,
        revoked_at: None,
    }
}

/// Why a session was refused. Every variant gives the client the same answer; the name goes to
/// the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No session has this token (or it is not even shaped like one).
    Unknown,
    /// The session was revoked (sign-out, revocation).
    Revoked,
    /// The session expired.
    Expired,
    /// The client's User-Agent differs from the one the session was created with.
    UserAgentMismatch,
    /// The client's IP differs and `SESSION_BIND_IP` is on.
    IpMismatch,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Unknown => "unknown session token",
            Refusal::Revoked => "session revoked",
            Refusal::Expired => "session expired",
            Refusal::UserAgentMismatch => "User-Agent differs from the session's",
            Refusal::IpMismatch => "IP address differs from the session's",
        })
    }
}

/// A session is live until it is revoked or reaches its expiry.
pub fn check_live(times: &SessionTimes, now: i64) -> Result<(), Refusal> {
    if times.revoked_at.is_some() {
        return Err(Refusal::Revoked);
    }
    if now >= times.expires_at || now >= times.max_expires_at {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// Sliding expiry: a remembered session used more than `SESSION_UPDATE_AGE` after its last
/// extension gets `now + SESSION_TTL`, never past its absolute maximum. `None` when nothing
/// changes (not due, not remembered, or already at the cap).
pub fn sliding_expiry(times: &SessionTimes, now: i64, policy: &SessionPolicy) -> Option<i64> {
    let due = times.remember && now.saturating_sub(times.extended_at) > policy.update_age_ms;
    let extended = now.saturating_add(policy.ttl_ms).min(times.max_expires_at);
    (due && extended > times.expires_at).then_some(extended)
}

/// A session is fresh for `SESSION_FRESH_AGE` after sign-in.
pub fn is_fresh(times: &SessionTimes, now: i64, policy: &SessionPolicy) -> bool {
    now.saturating_sub(times.created_at) < policy.fresh_age_ms
}

/// Seconds until expiry for a remembered session's cookie; `None` (a browser-session cookie)
/// otherwise.
pub fn cookie_max_age(times: &SessionTimes, now: i64) -> Option<i64> {
    times
        .remember
        .then(|| (times.expires_at.saturating_sub(now) / 1000).max(0))
}

/// Where a request comes from, as edge reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The client's IP address in canonical text form.
    pub ip: String,
    /// The client's User-Agent (`""` when it sent none).
    pub user_agent: String,
}

impl Client {
    /// Checks the IP edge reports (an address, or an address with a port, which is dropped) and
    /// writes it canonically so comparisons do not depend on spelling.
    pub fn parse(ip: &str, user_agent: &str) -> Option<Client> {
        let ip = ip.trim();
        let address = ip
            .parse::<IpAddr>()
            .or_else(|_| ip.parse::<SocketAddr>().map(|socket| socket.ip()))
            .ok()?;
        Some(Client {
            ip: address.to_string(),
            user_agent: user_agent.to_owned(),
        })
    }
}

/// What the binding check found when it let the session through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Same IP, same User-Agent.
    Same,
    /// Same User-Agent from another IP (allowed unless `SESSION_BIND_IP`; worth a log line).
    IpChanged,
}

/// Binding: another User-Agent is refused; another IP is refused only when `bind_ip`.
pub fn check_binding(
    session_ip: &str,
    session_user_agent: &str,
    client: &Client,
    bind_ip: bool,
) -> Result<Binding, Refusal> {
    if client.user_agent != session_user_agent {
        return Err(Refusal::UserAgentMismatch);
    }
    if client.ip == session_ip {
        Ok(Binding::Same)
    } else if bind_ip {
        Err(Refusal::IpMismatch)
    } else {
        Ok(Binding::IpChanged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    const T0: i64 = 1_735_732_800_000;

    fn policy() -> SessionPolicy {
        SessionPolicy {
            ttl_ms: 7 * DAY,
            update_age_ms: DAY,
            max_age_ms: 30 * DAY,
            fresh_age_ms: DAY,
            bind_ip: false,
        }
    }

    #[test]
    fn a_new_remembered_session_lives_the_ttl_under_the_absolute_cap() {
        let times = new_session_times(T0, true, &policy());
        assert_eq!(times.expires_at, T0 + 7 * DAY);
        assert_eq!(times.max_expires_at, T0 + 30 * DAY);
        assert_eq!(times.extended_at, T0);
    }

    #[test]
    fn a_browser_session_lives_one_day_and_never_slides() {
        let times = new_session_times(T0, false, &policy());
        assert_eq!(times.expires_at, T0 + DAY);
        assert_eq!(sliding_expiry(&times, T0 + DAY - 1, &policy()), None);
        assert_eq!(cookie_max_age(&times, T0), None);
    }

    #[test]
    fn expiry_is_refused_from_the_expiry_instant_on() {
        let times = new_session_times(T0, true, &policy());
        assert_eq!(check_live(&times, T0 + 7 * DAY - 1), Ok(()));
        assert_eq!(check_live(&times, T0 + 7 * DAY), Err(Refusal::Expired));
    }

    #[test]
    fn a_revoked_session_is_refused_even_before_expiry() {
        let times = SessionTimes {
            revoked_at: Some(T0 + 1),
            ..new_session_times(T0, true, &policy())
        };
        assert_eq!(check_live(&times, T0 + 2), Err(Refusal::Revoked));
    }

    #[test]
    fn use_within_the_update_age_does_not_extend() {
        let times = new_session_times(T0, true, &policy());
        assert_eq!(sliding_expiry(&times, T0 + DAY, &policy()), None);
    }

    #[test]
    fn use_after_the_update_age_extends_to_now_plus_ttl() {
        let times = new_session_times(T0, true, &policy());
        let now = T0 + DAY + 1;
        assert_eq!(sliding_expiry(&times, now, &policy()), Some(now + 7 * DAY));
    }

    #[test]
    fn extension_never_passes_the_absolute_maximum() {
        let mut times = new_session_times(T0, true, &policy());
        times.expires_at = T0 + 27 * DAY;
        times.extended_at = T0 + 20 * DAY;
        let now = T0 + 26 * DAY;
        assert_eq!(sliding_expiry(&times, now, &policy()), Some(T0 + 30 * DAY));
        times.expires_at = T0 + 30 * DAY;
        assert_eq!(
            sliding_expiry(&times, now, &policy()),
            None,
            "already at the cap"
        );
        assert_eq!(check_live(&times, T0 + 30 * DAY), Err(Refusal::Expired));
    }

    #[test]
    fn freshness_lasts_the_fresh_age_from_sign_in() {
        let times = new_session_times(T0, true, &policy());
        assert!(is_fresh(&times, T0 + DAY - 1, &policy()));
        assert!(!is_fresh(&times, T0 + DAY, &policy()));
    }

    #[test]
    fn cookie_max_age_counts_seconds_to_expiry() {
        let times = new_session_times(T0, true, &policy());
        assert_eq!(cookie_max_age(&times, T0), Some(7 * 86_400));
    }

    #[test]
    fn client_ip_is_canonical_and_may_carry_a_port() {
        assert_eq!(
            Client::parse("127.0.0.1:5555", "ua").unwrap().ip,
            "127.0.0.1"
        );
        assert_eq!(Client::parse("0:0::1", "ua").unwrap().ip, "::1");
        assert_eq!(Client::parse("[::1]:80", "ua").unwrap().ip, "::1");
        assert_eq!(Client::parse("not-an-ip", "ua"), None);
        assert_eq!(Client::parse("", "ua"), None);
    }

    #[test]
    fn another_user_agent_is_refused() {
        let client = Client::parse("10.0.0.1", "Firefox").unwrap();
        assert_eq!(
            check_binding("10.0.0.1", "Chrome", &client, false),
            Err(Refusal::UserAgentMismatch)
        );
    }

    #[test]
    fn another_ip_is_noted_and_refused_only_when_bound() {
        let client = Client::parse("10.0.0.2", "Firefox").unwrap();
        assert_eq!(
            check_binding("10.0.0.1", "Firefox", &client, false),
            Ok(Binding::IpChanged)
        );
        assert_eq!(
            check_binding("10.0.0.1", "Firefox", &client, true),
            Err(Refusal::IpMismatch)
        );
        assert_eq!(
            check_binding("10.0.0.2", "Firefox", &client, true),
            Ok(Binding::Same)
        );
    }
}

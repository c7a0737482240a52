//! Ended sessions, from identity's `GET /v1/revocations` (DESIGN §15): the verifier refuses a
//! token whose `sid` ended, or whose `sub` lost every session issued before the token. The
//! subscription reconnects with backoff, and identity replays the last two minutes on each
//! connect, so a gap shorter than that loses nothing. Entries are kept three minutes (longer
//! than any token lives).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long an ended session is remembered: tokens live 60 s (+5 s leeway).
const KEEP_MS: i64 = 3 * 60 * 1000;
/// identity sends a comment every 15 s; silence this long means the stream is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(45);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The ended sessions and users this verifier knows of.
#[derive(Debug, Default)]
pub(crate) struct RevocationList {
    /// Fast path: nothing was ever revoked.
    any: AtomicBool,
    entries: RwLock<Entries>,
    /// The task following the stream; aborted with the list.
    subscription: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for RevocationList {
    fn drop(&mut self) {
        if let Some(task) = self
            .subscription
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

#[derive(Debug, Default)]
struct Entries {
    /// `sid` → when it ended (ms).
    sessions: HashMap<String, i64>,
    /// `sub` → tokens issued before this (ms) are refused.
    users: HashMap<String, i64>,
}

/// One `data:` line.
#[derive(Deserialize)]
struct Data {
    sid: Option<String>,
    at: Option<String>,
    sub: Option<String>,
    before: Option<String>,
}

impl RevocationList {
    /// Whether a token of session `sid` and user `sub`, issued at `iat` (seconds), is refused.
    pub(crate) fn refuses(&self, sid: &str, sub: &str, iat: i64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.sessions.contains_key(sid)
            || entries
                .users
                .get(sub)
                .is_some_and(|before| iat.saturating_mul(1000) < *before)
    }

    /// Takes one `data:` line's JSON; ignores what it cannot read.
    pub(crate) fn apply(&self, json: &str, now_ms: i64) {
        let Ok(data) = serde_json::from_str::<Data>(json) else {
            tracing::warn!("unreadable revocation event ignored");
            return;
        };
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        match data {
            Data {
                sid: Some(sid), at, ..
            } => {
                let at = at.as_deref().and_then(millis).unwrap_or(now_ms);
                entries.sessions.insert(sid, at);
            }
            Data {
                sub: Some(sub),
                before: Some(before),
                ..
            } => {
                let Some(before) = millis(&before) else {
                    return;
                };
                let kept = entries.users.entry(sub).or_insert(before);
                *kept = (*kept).max(before);
            }
            _ => return,
        }
        self.any.store(true, Ordering::Release);
        entries.sessions.retain(|_, at| *at > now_ms - KEEP_MS);
        entries.users.retain(|_, before| *before > now_ms - KEEP_MS);
    }
}

fn millis(rfc3339: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `http://host:port/v1/revocations` for a JWKS URL on that origin.
pub(crate) fn default_url(jwks_url: &str) -> Option<String> {
    let (scheme, rest) = jwks_url.split_once("://")?;
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    Some(format!("{scheme}://{authority}/v1/revocations"))
}

/// Follows the stream at `url` into `list` until the list is dropped.
pub(crate) fn subscribe(
    list: &Arc<RevocationList>,
    url: String,
    http: reqwest::Client,
    now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
) {
    let weak = Arc::downgrade(list);
    // A stream lives for hours: the caller's client may carry a whole-request timeout (the JWKS
    // fetch's), so the stream has its own client with a connect timeout only.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or(http);
    let task = tokio::spawn(async move {
        let list = weak;
        let mut backoff = MIN_BACKOFF;
        loop {
            match follow(&list, &url, &http, now_ms.as_ref()).await {
                Ok(Followed::ListDropped) => return,
                Ok(Followed::Ended) => backoff = MIN_BACKOFF,
                Err(error) => tracing::warn!(%error, url, "revocation stream unavailable"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    *list
        .subscription
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
}

enum Followed {
    /// The server closed the stream (or went silent): reconnect.
    Ended,
    /// Nobody needs the list any more.
    ListDropped,
}

async fn follow(
    list: &Weak<RevocationList>,
    url: &str,
    http: &reqwest::Client,
    now_ms: &(dyn Fn() -> i64 + Send + Sync),
) -> Result<Followed, String> {
    let mut response = http
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    tracing::info!(url, "following the revocation stream");
    let mut pending = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(READ_TIMEOUT, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) | Err(_) => return Ok(Followed::Ended),
            Ok(Err(error)) => return Err(error.to_string()),
        };
        pending.extend_from_slice(&chunk);
        let Some(list) = list.upgrade() else {
            return Ok(Followed::ListDropped);
        };
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") {
                list.apply(data.trim_start(), now_ms());
            }
        }
        if pending.len() > 64 * 1024 {
            return Err("revocation event line too long".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_revoked_session_is_refused_whatever_its_tokens_age() {
        let list = RevocationList::default();
        assert!(!list.refuses("s1", "u1", NOW / 1000));
        list.apply(r#"{"sid":"s1","at":"2027-01-15T08:00:00.000Z"}"#, NOW);
        assert!(list.refuses("s1", "u1", NOW / 1000));
        assert!(!list.refuses("s2", "u1", NOW / 1000));
    }

    #[test]
    fn a_user_end_refuses_tokens_issued_before_it_only() {
        let list = RevocationList::default();
        let before = OffsetDateTime::from_unix_timestamp(NOW / 1000).unwrap();
        let before = before.format(&Rfc3339).unwrap();
        list.apply(&format!(r#"{{"sub":"u1","before":"{before}"}}"#), NOW);
        assert!(list.refuses("any", "u1", NOW / 1000 - 1));
        assert!(!list.refuses("any", "u1", NOW / 1000));
        assert!(!list.refuses("any", "u2", NOW / 1000 - 1));
    }

    #[test]
    fn unreadable_events_change_nothing_and_old_entries_go() {
        let list = RevocationList::default();
        list.apply("not json", NOW);
        list.apply(r#"{"sub":"u1"}"#, NOW);
        assert!(!list.any.load(Ordering::Acquire));
        list.apply(r#"{"sid":"old","at":"2020-01-01T00:00:00Z"}"#, NOW);
        list.apply(r#"{"sid":"new"}"#, NOW);
        assert!(!list.refuses("old", "u", 0), "older than any token: pruned");
        assert!(list.refuses("new", "u", 0));
    }

    #[test]
    fn the_default_url_is_on_the_jwks_origin() {
        assert_eq!(
            default_url("http://identity:8081/.well-known/jwks.json").as_deref(),
            Some("http://identity:8081/v1/revocations")
        );
        assert_eq!(default_url("nonsense"), None);
    }
}

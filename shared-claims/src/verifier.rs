//! The verifier: every check of DESIGN §4, one named rule per line, against the request being
//! served, over the JWKS cache. It never holds a private key, never lets a token choose the key
//! that verifies it, and reads claims only after the signature has verified.

mod jwks_cache;
mod jws;
mod replay;
mod revocations;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use serde::Deserialize;

use self::jwks_cache::JwksCache;
use self::jws::Jws;
pub use self::replay::{MemoryReplayStore, ReplayFuture, ReplayStore, ReplayStoreError};
use self::revocations::RevocationList;
use crate::VerifyError::{self, *};
use crate::{Audience, Claims, JwkSet, TOKEN_LIFETIME_SECS, TOKEN_TYPE};

/// The most clock skew the verifier tolerates, whatever it is configured with (DESIGN §4).
const MAX_LEEWAY: Duration = Duration::from_secs(5);

/// The shortest background refresh period: a zero would panic the timer or hammer identity.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(100);

/// Where the keys come from and what a token must say to be accepted.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// identity's JWKS, e.g. `http://127.0.0.1:8081/.well-known/jwks.json`.
    pub jwks_url: String,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The audience this service is; a token's `aud` must contain it.
    pub audience: String,
    /// How often the JWKS is refetched in the background (default 30 s).
    pub refresh_interval: Duration,
    /// The least time between two refetches caused by an unknown `kid` (default 5 s).
    pub min_refetch_interval: Duration,
    /// Tolerated clock skew for `nbf`, `iat` and `exp` (default 5 s, at most 5 s).
    pub leeway: Duration,
    /// identity's stream of ended sessions (default: the JWKS URL's origin + `/v1/revocations`;
    /// `None`: not followed).
    pub revocations_url: Option<String>,
}

impl VerifierConfig {
    /// A configuration with the default intervals and leeway.
    pub fn new(
        jwks_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        let jwks_url = jwks_url.into();
        VerifierConfig {
            revocations_url: revocations::default_url(&jwks_url),
            jwks_url,
            issuer: issuer.into(),
            audience: audience.into(),
            refresh_interval: Duration::from_secs(30),
            min_refetch_interval: Duration::from_secs(5),
            leeway: Duration::from_secs(5),
        }
    }

    /// Caps the leeway at 5 s and keeps the refresh period usable.
    fn bounded(mut self) -> Self {
        self.leeway = self.leeway.min(MAX_LEEWAY);
        self.refresh_interval = self.refresh_interval.max(MIN_REFRESH_INTERVAL);
        self
    }
}

/// Told of every verification and every JWKS fetch, so a service can count them (core-api's
/// metrics) without this crate depending on a metrics library. Calls are on the hot path: keep
/// them to an atomic increment.
pub trait VerifierObserver: Send + Sync {
    /// A token was accepted (`Ok`) or refused, naming the failed check.
    fn verified(&self, outcome: Result<(), VerifyError>);
    /// A JWKS fetch ended; `true` when it succeeded (and so replaced the key set).
    fn jwks_refreshed(&self, succeeded: bool);
}

/// The observer of a verifier nobody watches.
struct Unobserved;

impl VerifierObserver for Unobserved {
    fn verified(&self, _: Result<(), VerifyError>) {}
    fn jwks_refreshed(&self, _: bool) {}
}

/// Verifies internal tokens; cheap to clone (an `Arc` inside), one per service.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
    clock: Clock,
}

struct Inner {
    config: VerifierConfig,
    leeway_secs: i64,
    /// Owned here only: the background refresh holds a `Weak`, so it ends with the last clone.
    keys: Arc<JwksCache>,
    observer: Arc<dyn VerifierObserver>,
    /// Ended sessions; its subscription holds a `Weak` and is aborted when the list drops.
    revoked: Arc<RevocationList>,
    /// Accepted `jti`s.
    replay: Arc<dyn ReplayStore>,
}

impl Verifier {
    /// Fetches the JWKS once (failure is logged, not fatal) and spawns the background refresh,
    /// which stops when the last clone of the Verifier is dropped.
    pub async fn start(config: VerifierConfig, http: reqwest::Client) -> Verifier {
        Verifier::start_observed(config, http, Arc::new(Unobserved)).await
    }

    /// Like [`Verifier::start`], telling `observer` of every verification and JWKS fetch (the
    /// first fetch included).
    pub async fn start_observed(
        config: VerifierConfig,
        http: reqwest::Client,
        observer: Arc<dyn VerifierObserver>,
    ) -> Verifier {
        let config = config.bounded();
        let keys = Arc::new(JwksCache::remote(
            config.jwks_url.clone(),
            http.clone(),
            config.min_refetch_interval,
            Arc::clone(&observer),
        ));
        keys.refresh().await;
        jwks_cache::spawn_periodic_refresh(Arc::downgrade(&keys), config.refresh_interval);
        let revoked = Arc::new(RevocationList::default());
        if let Some(url) = config.revocations_url.clone() {
            let clock = Clock::system();
            revocations::subscribe(&revoked, url, http, Arc::new(move || clock.now_millis()));
        }
        Verifier::over(config, keys, observer, revoked, default_replay_store())
    }

    /// A verifier over a fixed key set, never fetching (tests, offline tools).
    pub fn with_keys(config: VerifierConfig, keys: JwkSet) -> Verifier {
        Verifier::over(
            config.bounded(),
            Arc::new(JwksCache::fixed(&keys)),
            Arc::new(Unobserved),
            Arc::new(RevocationList::default()),
            default_replay_store(),
        )
    }

    /// The same verifier telling `observer` of its verifications (its JWKS fetches keep going
    /// to the observer it was started with).
    pub fn with_observer(self, observer: Arc<dyn VerifierObserver>) -> Verifier {
        self.rebuilt(|parts| parts.observer = observer)
    }

    /// The same verifier keeping accepted `jti`s in `store` (shared by replicas) instead of
    /// this process's memory.
    pub fn with_replay_store(self, store: Arc<dyn ReplayStore>) -> Verifier {
        self.rebuilt(|parts| parts.replay = store)
    }

    /// A new verifier sharing this one's keys and revocations, with one part replaced.
    fn rebuilt(self, change: impl FnOnce(&mut Parts)) -> Verifier {
        let Inner {
            config,
            keys,
            observer,
            revoked,
            replay,
            ..
        } = &*self.inner;
        let mut parts = Parts {
            observer: Arc::clone(observer),
            replay: Arc::clone(replay),
        };
        change(&mut parts);
        Verifier {
            clock: self.clock.clone(),
            ..Verifier::over(
                config.clone(),
                Arc::clone(keys),
                parts.observer,
                Arc::clone(revoked),
                parts.replay,
            )
        }
    }

    fn over(
        config: VerifierConfig,
        keys: Arc<JwksCache>,
        observer: Arc<dyn VerifierObserver>,
        revoked: Arc<RevocationList>,
        replay: Arc<dyn ReplayStore>,
    ) -> Verifier {
        let leeway_secs = i64::try_from(config.leeway.as_secs()).unwrap_or(0);
        Verifier {
            inner: Arc::new(Inner {
                config,
                leeway_secs,
                keys,
                observer,
                revoked,
                replay,
            }),
            clock: Clock::system(),
        }
    }

    /// The same verifier reading "now" from `clock` (e.g. a test's adjustable clock).
    pub fn with_clock(mut self, clock: Clock) -> Verifier {
        self.clock = clock;
        self
    }

    /// Every check of DESIGN §4 against the request being served.
    pub async fn verify(
        &self,
        token: &str,
        method: &str,
        path: &str,
    ) -> Result<Claims, VerifyError> {
        self.verify_at(token, method, path, self.clock.now_unix())
            .await
    }

    /// Same, at a given time (seconds since epoch) — what tests use.
    pub async fn verify_at(
        &self,
        token: &str,
        method: &str,
        path: &str,
        now_unix: i64,
    ) -> Result<Claims, VerifyError> {
        let verified = self.check(token, method, path, now_unix).await;
        if let Err(error) = &verified {
            tracing::debug!(%error, method, path, "internal token refused");
        }
        self.inner
            .observer
            .verified(verified.as_ref().map(|_| ()).map_err(|error| *error));
        verified
    }

    /// Tells the observer of a request refused before verification (no bearer token at all),
    /// and hands the error back.
    pub fn refused_without_token(&self, error: VerifyError) -> VerifyError {
        self.inner.observer.verified(Err(error));
        error
    }

    /// Whether at least one key is known (core-api's /readyz).
    pub fn has_keys(&self) -> bool {
        self.inner.keys.has_keys()
    }

    async fn check(
        &self,
        token: &str,
        method: &str,
        path: &str,
        now: i64,
    ) -> Result<Claims, VerifyError> {
        let config = &self.inner.config;
        let jws = Jws::parse(token)?;

        let header = &jws.header;
        ensure(
            is_ed25519_algorithm(header.alg.as_deref()),
            UnsupportedAlgorithm,
        )?;
        ensure(is_access_token_type(header.typ.as_deref()), WrongType)?;
        if let Some(name) = header.forbidden_member() {
            return Err(ForbiddenHeader(name));
        }
        let kid = header
            .kid
            .as_deref()
            .filter(|kid| !kid.is_empty())
            .ok_or(MissingKid)?;
        let signature = jws.signature()?;
        let key = self.inner.keys.key_for(kid).await.ok_or(UnknownKey)?;
        key.verify_strict(jws.signing_input.as_bytes(), &signature)
            .map_err(|_| BadSignature)?;

        let claims = jws.claims::<RawClaims>()?.into_claims()?;
        let latest_start = now.saturating_add(self.inner.leeway_secs);
        ensure(claims.iss == config.issuer, IssuerMismatch)?;
        ensure(claims.aud.contains(&config.audience), AudienceMismatch)?;
        ensure(claims.nbf <= latest_start, NotYetValid)?;
        ensure(claims.iat <= latest_start, IssuedInFuture)?;
        ensure(
            now < claims.exp.saturating_add(self.inner.leeway_secs),
            Expired,
        )?;
        ensure(
            claims.exp.saturating_sub(claims.iat) <= TOKEN_LIFETIME_SECS,
            LifetimeTooLong,
        )?;
        ensure(!claims.sub.is_empty(), MissingClaim("sub"))?;
        ensure(!claims.jti.is_empty(), MissingClaim("jti"))?;
        ensure(!claims.sid.is_empty(), MissingClaim("sid"))?;
        ensure(claims.htm == method, MethodMismatch)?;
        ensure(claims.htu == path, PathMismatch)?;
        ensure(
            !self
                .inner
                .revoked
                .refuses(&claims.sid, &claims.sub, claims.iat),
            SessionRevoked,
        )?;
        // Last: only a token that passed every other check uses up its jti.
        match self
            .inner
            .replay
            .first_use(&claims.jti, claims.exp, now)
            .await
        {
            Ok(true) => Ok(claims),
            Ok(false) => Err(Replayed),
            Err(error) => {
                tracing::warn!(%error, "single use of a token cannot be checked");
                Err(ReplayStoreUnavailable)
            }
        }
    }
}

/// The parts [`Verifier::rebuilt`] may replace.
struct Parts {
    observer: Arc<dyn VerifierObserver>,
    replay: Arc<dyn ReplayStore>,
}

fn default_replay_store() -> Arc<dyn ReplayStore> {
    Arc::new(MemoryReplayStore::with_default_capacity())
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.inner.config)
            .field("has_keys", &self.has_keys())
            .finish_non_exhaustive()
    }
}

/// `Ok` when the rule holds, else the named failure.
fn ensure(holds: bool, otherwise: VerifyError) -> Result<(), VerifyError> {
    if holds {
        Ok(())
    } else {
        Err(otherwise)
    }
}

/// `EdDSA`, or its RFC 9864 name `Ed25519`: the only algorithms an Ed25519 key may verify.
fn is_ed25519_algorithm(alg: Option<&str>) -> bool {
    matches!(alg, Some("EdDSA" | "Ed25519"))
}

/// `at+jwt`, or its full media type, compared case-insensitively (RFC 7515 §4.1.9, RFC 9068).
fn is_access_token_type(typ: Option<&str>) -> bool {
    typ.is_some_and(|typ| {
        typ.eq_ignore_ascii_case(TOKEN_TYPE) || typ.eq_ignore_ascii_case("application/at+jwt")
    })
}

/// The payload as sent, every claim optional so a missing one is named rather than "malformed".
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
    jti: Option<String>,
    sid: Option<String>,
    client_id: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    htm: Option<String>,
    htu: Option<String>,
}

impl RawClaims {
    fn into_claims(self) -> Result<Claims, VerifyError> {
        Ok(Claims {
            iss: self.iss.ok_or(MissingClaim("iss"))?,
            sub: self.sub.ok_or(MissingClaim("sub"))?,
            aud: self.aud.ok_or(MissingClaim("aud"))?,
            iat: self.iat.ok_or(MissingClaim("iat"))?,
            nbf: self.nbf.ok_or(MissingClaim("nbf"))?,
            exp: self.exp.ok_or(MissingClaim("exp"))?,
            jti: self.jti.ok_or(MissingClaim("jti"))?,
            sid: self.sid.ok_or(MissingClaim("sid"))?,
            client_id: self.client_id.ok_or(MissingClaim("client_id"))?,
            email: self.email.ok_or(MissingClaim("email"))?,
            email_verified: self.email_verified.ok_or(MissingClaim("email_verified"))?,
            htm: self.htm.ok_or(MissingClaim("htm"))?,
            htu: self.htu.ok_or(MissingClaim("htu"))?,
        })
    }
}

//! The authorization-code flow with PKCE (S256), `state` and `nonce`: starting it (a stored row
//! and the provider's authorization URL) and finishing it at the callback (the browser's state
//! cookie must equal the returned `state`; the row is used up by the one callback that takes it;
//! the code is exchanged with the PKCE verifier; the ID token is verified). It knows nothing of
//! users or sessions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use subtle::ConstantTimeEq;

use super::id_token::{self, Expected};
use super::provider::Provider;
use super::userinfo::{self, ProviderProfile};
use super::CallbackError;

/// How long a flow may take from start to callback (the state cookie lives as long).
pub const FLOW_TTL_SECS: i64 = 600;

/// Where the flow goes when it ends, and for whom (checked by edge before the flow started).
#[derive(Clone, Debug)]
pub struct Destinations {
    pub callback_url: String,
    pub error_url: String,
    pub new_user_url: Option<String>,
    /// link-social: the signed-in user the provider's account is linked to.
    pub link_user_id: Option<String>,
}

/// A flow just started.
pub struct Started {
    /// The provider's authorization URL to send the browser to.
    pub url: String,
    /// The state: edge puts it in the browser's state cookie.
    pub state: String,
}

/// 32 random bytes, base64url.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// `<PUBLIC_URL>/api/auth/callback/<id>`.
pub fn redirect_uri(public_url: &str, provider_id: &str) -> String {
    format!(
        "{}/api/auth/callback/{provider_id}",
        public_url.trim_end_matches('/')
    )
}

/// Stores a new flow and builds the authorization URL.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    pool: &AnyPool,
    provider: &Provider,
    authorization_endpoint: &str,
    redirect_uri: &str,
    destinations: &Destinations,
    extra_scopes: &[String],
    login_hint: Option<&str>,
    now_ms: i64,
) -> Result<Started, sqlx::Error> {
    let state = random_token();
    // RFC 7636 §4.1: 43–128 characters; 64 random bytes give 86.
    let mut verifier_bytes = [0u8; 64];
    OsRng.fill_bytes(&mut verifier_bytes);
    let code_verifier = URL_SAFE_NO_PAD.encode(verifier_bytes);
    let nonce = random_token();
    sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
        .bind(now_ms)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, provider_id, code_verifier, nonce, callback_url, \
         error_url, new_user_url, link_user_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(digest(&state))
    .bind(&provider.settings.id)
    .bind(&code_verifier)
    .bind(&nonce)
    .bind(&destinations.callback_url)
    .bind(&destinations.error_url)
    .bind(destinations.new_user_url.as_deref())
    .bind(destinations.link_user_id.as_deref())
    .bind(now_ms + FLOW_TTL_SECS * 1000)
    .execute(pool)
    .await?;

    let mut scopes = provider.settings.scopes.clone();
    for scope in extra_scopes {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.settings.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if provider.is_openid() {
        query.append_pair("nonce", &nonce);
    }
    if let Some(hint) = login_hint {
        query.append_pair("login_hint", hint);
    }
    let separator = if authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    Ok(Started {
        url: format!("{authorization_endpoint}{separator}{}", query.finish()),
        state,
    })
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// A flow taken back from the store at its callback.
pub struct Resumed {
    pub destinations: Destinations,
    code_verifier: String,
    nonce: String,
}

/// Checks the state against the browser's cookie and uses up its row. Before any row is touched,
/// a missing state or a cookie for another flow is refused, so another browser replaying a
/// callback cannot spend the owner's flow.
pub async fn resume(
    pool: &AnyPool,
    provider_id: &str,
    query: &CallbackQuery,
    state_cookie: Option<&str>,
    now_ms: i64,
) -> Result<Resumed, CallbackError> {
    let state = query
        .state
        .as_deref()
        .filter(|state| !state.is_empty())
        .ok_or_else(|| CallbackError::early("state_not_found"))?;
    let bound =
        state_cookie.is_some_and(|cookie| bool::from(cookie.as_bytes().ct_eq(state.as_bytes())));
    if !bound {
        return Err(CallbackError::early("state_mismatch"));
    }
    let row = sqlx::query(
        "DELETE FROM oauth_states WHERE state_hash = $1 AND provider_id = $2 \
         RETURNING code_verifier, nonce, callback_url, error_url, new_user_url, link_user_id, expires_at",
    )
    .bind(digest(state))
    .bind(provider_id)
    .fetch_optional(pool)
    .await
    .map_err(CallbackError::database)?
    .ok_or_else(|| CallbackError::early("state_mismatch"))?;
    let read = |error: sqlx::Error| CallbackError::database(error);
    let destinations = Destinations {
        callback_url: row.try_get(2).map_err(read)?,
        error_url: row.try_get(3).map_err(read)?,
        new_user_url: row.try_get(4).map_err(read)?,
        link_user_id: row.try_get(5).map_err(read)?,
    };
    let expires_at: i64 = row.try_get(6).map_err(read)?;
    if expires_at <= now_ms {
        return Err(CallbackError::to(&destinations.error_url, "state_mismatch"));
    }
    Ok(Resumed {
        code_verifier: row.try_get(0).map_err(read)?,
        nonce: row.try_get(1).map_err(read)?,
        destinations,
    })
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// The provider's account, and the scopes it granted.
pub struct Finished {
    pub profile: ProviderProfile,
    pub scopes: String,
}

/// Finishes a resumed flow: the provider's error, `iss` (RFC 9207), the code exchange with the
/// PKCE verifier, then the ID token (OpenID) or the user APIs (GitHub).
pub async fn finish(
    provider: &Provider,
    redirect_uri: &str,
    resumed: &Resumed,
    query: &CallbackQuery,
    now_secs: i64,
) -> Result<Finished, CallbackError> {
    let fail = |code: &str| CallbackError::to(&resumed.destinations.error_url, code);
    if let Some(error) = &query.error {
        // The provider's own code, passed through (e.g. `access_denied`) if it is a plain word.
        let plain = error.len() <= 64
            && error
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return Err(fail(if plain {
            error
        } else {
            "invalid_callback_request"
        }));
    }
    let endpoints = provider
        .endpoints()
        .ok_or_else(|| fail("oauth_provider_not_found"))?;
    if let (Some(iss), Some(issuer)) = (&query.iss, &endpoints.issuer) {
        if !issuer.contains("{tenantid}") && iss != issuer {
            return Err(fail("issuer_mismatch"));
        }
    }
    let code = query.code.as_deref().ok_or_else(|| fail("no_code"))?;

    let settings = &provider.settings;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", resumed.code_verifier.as_str()),
        ("client_id", settings.client_id.as_str()),
    ];
    if endpoints.secret_in_body {
        form.push(("client_secret", settings.client_secret.expose_secret()));
    }
    let mut request = provider
        .http()
        .post(&endpoints.token)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form);
    if !endpoints.secret_in_body {
        // RFC 6749 §2.3.1: both parts form-urlencoded before Basic.
        let encode =
            |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
        request = request.basic_auth(
            encode(&settings.client_id),
            Some(encode(settings.client_secret.expose_secret())),
        );
    }
    let answer = request.send().await.map_err(|error| {
        tracing::warn!(provider = %settings.id, %error, "token request failed");
        fail("invalid_code")
    })?;
    if !answer.status().is_success() {
        tracing::info!(provider = %settings.id, status = %answer.status(), "provider refused the code");
        return Err(fail("invalid_code"));
    }
    let tokens: TokenAnswer = answer.json().await.map_err(|error| {
        tracing::warn!(provider = %settings.id, %error, "token answer unreadable");
        fail("invalid_code")
    })?;

    let profile = if provider.is_openid() {
        let id_token = tokens.id_token.as_deref().ok_or_else(|| {
            tracing::info!(provider = %settings.id, "token answer without an ID token");
            fail("unable_to_get_user_info")
        })?;
        let claims = verified_claims(provider, &endpoints, id_token, &resumed.nonce, now_secs)
            .await
            .map_err(|error| {
                tracing::info!(provider = %settings.id, %error, "ID token refused");
                fail("unable_to_get_user_info")
            })?;
        let from_token = ProviderProfile {
            subject: claims.sub,
            email: claims.email,
            email_verified: claims.email_verified.unwrap_or(false),
            name: claims.name,
            image: claims.picture,
        };
        userinfo::complete_from_userinfo(
            provider,
            endpoints.userinfo.as_deref(),
            &tokens.access_token,
            from_token,
        )
        .await
    } else {
        let user_url = endpoints.userinfo.as_deref().unwrap_or_default();
        userinfo::github_profile(provider, user_url, &tokens.access_token).await
    }
    .map_err(|error| {
        tracing::info!(provider = %settings.id, %error, "provider profile refused");
        fail("unable_to_get_user_info")
    })?;
    Ok(Finished {
        profile,
        // RFC 6749 separates scopes with spaces; GitHub with commas.
        scopes: tokens
            .scope
            .map(|scope| scope.replace(',', " "))
            .unwrap_or_else(|| settings.scopes.join(" ")),
    })
}

async fn verified_claims(
    provider: &Provider,
    endpoints: &super::provider::Endpoints,
    id_token: &str,
    nonce: &str,
    now_secs: i64,
) -> Result<id_token::IdClaims, String> {
    let kid = id_token::key_id(id_token).map_err(|error| error.to_string())?;
    let mut keys = provider.jwks(false).await?;
    if kid.as_deref().is_some_and(|kid| keys.find(kid).is_none()) {
        keys = provider.jwks(true).await?;
    }
    let expected = Expected {
        issuer: endpoints.issuer.as_deref().unwrap_or_default(),
        client_id: &provider.settings.client_id,
        nonce,
        announced_algs: &endpoints.id_token_algs,
        now: now_secs,
    };
    id_token::verify(id_token, &keys, &expected).map_err(|error| error.to_string())
}

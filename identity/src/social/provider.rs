//! A configured provider at run time: its endpoints (found by OpenID discovery, or fixed for
//! GitHub) and, for OpenID providers, its JWKS. Discovery runs at start; a provider that cannot
//! be reached then is retried in the background (its sign-in answers `503` meanwhile) while the
//! rest of identity serves. The JWKS is refreshed in the background and on an unknown `kid`
//! (at most once per [`JWKS_MIN_REFETCH`]), keeping the last good set when a fetch fails.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::settings::{Protocol, ProviderSettings};

/// How often a provider's JWKS is fetched again.
const JWKS_REFRESH: Duration = Duration::from_secs(600);
/// The least time between two fetches caused by unknown `kid`s.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(5);
/// The first wait before discovery is tried again; doubled up to [`DISCOVERY_RETRY_MAX`].
const DISCOVERY_RETRY_FIRST: Duration = Duration::from_millis(500);
const DISCOVERY_RETRY_MAX: Duration = Duration::from_secs(30);
/// Largest discovery document or JWKS accepted.
const DOCUMENT_LIMIT: usize = 256 * 1024;

/// The endpoints a flow needs.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// The issuer as discovered (`None` for GitHub).
    pub issuer: Option<String>,
    pub authorization: String,
    pub token: String,
    /// OpenID userinfo, or GitHub's user API.
    pub userinfo: Option<String>,
    pub jwks_uri: Option<String>,
    /// ID-token algorithms the provider signs with (discovery); asymmetric ones only are used.
    pub id_token_algs: Vec<String>,
    /// Send the client secret in the form body instead of HTTP Basic.
    pub secret_in_body: bool,
}

/// OpenID Connect Discovery 1.0 §3, the fields used.
#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

/// One provider: settings, and endpoints once known.
#[derive(Clone)]
pub struct Provider {
    pub settings: Arc<ProviderSettings>,
    endpoints: Arc<RwLock<Option<Endpoints>>>,
    jwks: Arc<Mutex<JwksCache>>,
    http: reqwest::Client,
}

#[derive(Default)]
struct JwksCache {
    keys: Option<JwkSet>,
    /// The last fetch an unknown `kid` caused (periodic fetches do not count, so the first
    /// rotation after a periodic fetch is picked up at once).
    forced_at: Option<tokio::time::Instant>,
}

impl Provider {
    /// A provider whose endpoints are not known yet (GitHub's are: they are fixed).
    pub fn new(settings: ProviderSettings, http: reqwest::Client) -> Provider {
        let endpoints = match settings.protocol {
            Protocol::GitHub => Some(Endpoints {
                issuer: None,
                authorization: "https://github.com/login/oauth/authorize".into(),
                token: "https://github.com/login/oauth/access_token".into(),
                userinfo: Some("https://api.github.com/user".into()),
                jwks_uri: None,
                id_token_algs: Vec::new(),
                secret_in_body: true,
            }),
            Protocol::OpenId { .. } => None,
        };
        Provider {
            settings: Arc::new(settings),
            endpoints: Arc::new(RwLock::new(endpoints)),
            jwks: Arc::new(Mutex::new(JwksCache::default())),
            http,
        }
    }

    /// The endpoints, `None` while discovery has not succeeded.
    pub fn endpoints(&self) -> Option<Endpoints> {
        self.endpoints
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether the provider speaks OpenID Connect (ID token, nonce).
    pub fn is_openid(&self) -> bool {
        matches!(self.settings.protocol, Protocol::OpenId { .. })
    }

    /// Runs discovery now, then (if it failed) again in the background with backoff, and
    /// refreshes the JWKS periodically; the task ends when the handle is dropped.
    pub async fn start(&self) -> tokio::task::JoinHandle<()> {
        let first = self.discover().await;
        if let Err(error) = &first {
            tracing::warn!(provider = %self.settings.id, %error, "social provider not reachable at start; retrying in the background");
        }
        let provider = self.clone();
        tokio::spawn(async move {
            let mut wait = DISCOVERY_RETRY_FIRST;
            let mut discovered = first.is_ok();
            while !discovered {
                tokio::time::sleep(wait).await;
                match provider.discover().await {
                    Ok(()) => discovered = true,
                    Err(error) => {
                        tracing::warn!(provider = %provider.settings.id, %error, "social provider discovery failed");
                        wait = (wait * 2).min(DISCOVERY_RETRY_MAX);
                    }
                }
            }
            if !provider.is_openid() {
                return;
            }
            loop {
                tokio::time::sleep(JWKS_REFRESH).await;
                if let Err(error) = provider.refresh_jwks(true).await {
                    tracing::warn!(provider = %provider.settings.id, %error, "provider JWKS refresh failed; keeping the last good set");
                }
            }
        })
    }

    /// Fetches the discovery document and the JWKS; the endpoints are set only when both work.
    async fn discover(&self) -> Result<(), String> {
        let Protocol::OpenId { issuer, .. } = &self.settings.protocol else {
            return Ok(());
        };
        let url = format!("{issuer}/.well-known/openid-configuration");
        let document: DiscoveryDocument = self.get_json(&url).await?;
        // Discovery §4.3: the document's issuer is exactly the configured one. Microsoft's
        // multi-tenant document names a templated issuer under the same host instead.
        let templated = matches!(
            self.settings.protocol,
            Protocol::OpenId {
                tenant_templated: true,
                ..
            }
        );
        if document.issuer.trim_end_matches('/') != issuer && !templated {
            return Err(format!(
                "discovery names issuer `{}`, not `{issuer}`",
                document.issuer
            ));
        }
        let secret_in_body = !document.token_endpoint_auth_methods_supported.is_empty()
            && !document
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|method| method == "client_secret_basic")
            && document
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|method| method == "client_secret_post");
        let endpoints = Endpoints {
            issuer: Some(document.issuer),
            authorization: document.authorization_endpoint,
            token: document.token_endpoint,
            userinfo: document.userinfo_endpoint,
            jwks_uri: Some(document.jwks_uri),
            id_token_algs: document.id_token_signing_alg_values_supported,
            secret_in_body,
        };
        let keys: JwkSet = self
            .get_json(endpoints.jwks_uri.as_deref().unwrap_or_default())
            .await?;
        self.jwks.lock().await.keys = Some(keys);
        *self
            .endpoints
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(endpoints);
        tracing::info!(provider = %self.settings.id, "social provider discovered");
        Ok(())
    }

    /// The provider's keys; with `unknown_kid`, fetched again first unless an unknown `kid` did
    /// that less than [`JWKS_MIN_REFETCH`] ago (one fetch at a time: the lock is held across it),
    /// so a flood of made-up `kid`s costs the provider one fetch per interval.
    pub async fn jwks(&self, unknown_kid: bool) -> Result<JwkSet, String> {
        if unknown_kid {
            self.refresh_jwks(false).await?;
        }
        self.jwks
            .lock()
            .await
            .keys
            .clone()
            .ok_or_else(|| "no JWKS yet".to_owned())
    }

    async fn refresh_jwks(&self, periodic: bool) -> Result<(), String> {
        let mut cache = self.jwks.lock().await;
        if !periodic {
            let recent = cache
                .forced_at
                .is_some_and(|at| at.elapsed() < JWKS_MIN_REFETCH);
            if recent {
                return Ok(());
            }
            cache.forced_at = Some(tokio::time::Instant::now());
        }
        let uri = self
            .endpoints()
            .and_then(|endpoints| endpoints.jwks_uri)
            .ok_or("provider not discovered")?;
        cache.keys = Some(self.get_json(&uri).await?);
        Ok(())
    }

    /// GETs a JSON document of bounded size.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let answer = get_ok(self.http.get(url), url).await?;
        let bytes = answer
            .bytes()
            .await
            .map_err(|error| format!("GET {url}: {error}"))?;
        if bytes.len() > DOCUMENT_LIMIT {
            return Err(format!(
                "GET {url}: document larger than {DOCUMENT_LIMIT} bytes"
            ));
        }
        serde_json::from_slice(&bytes).map_err(|error| format!("GET {url}: {error}"))
    }

    /// The HTTP client for the provider's token and userinfo endpoints.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// Sends a GET for JSON to a provider; an answer other than 2xx is an error naming the URL.
pub(super) async fn get_ok(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<reqwest::Response, String> {
    let answer = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    if !answer.status().is_success() {
        return Err(format!("GET {url}: {}", answer.status()));
    }
    Ok(answer)
}

/// The configured providers.
#[derive(Clone, Default)]
pub struct Providers {
    list: Arc<Vec<Provider>>,
}

impl Providers {
    /// Providers for `settings`, sharing one HTTP client (no redirects followed, bounded time).
    pub fn new(settings: &[ProviderSettings]) -> anyhow::Result<Providers> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent("gatehouse-identity")
            .build()?;
        Ok(Providers {
            list: Arc::new(
                settings
                    .iter()
                    .map(|settings| Provider::new(settings.clone(), http.clone()))
                    .collect(),
            ),
        })
    }

    /// Tries discovery once for each provider, one after the other (each bounded by the
    /// client's timeouts), and starts their background tasks.
    pub async fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::with_capacity(self.list.len());
        for provider in self.list.iter() {
            tasks.push(provider.start().await);
        }
        tasks
    }

    /// The provider with this id.
    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|provider| provider.settings.id == id)
    }

    /// Every provider, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.list.iter()
    }
}

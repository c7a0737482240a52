//! Who the provider says the user is, as one [`ProviderProfile`]: from the verified ID token,
//! completed from the OpenID userinfo endpoint when the token carries no email (whose `sub` must
//! then be the token's), or for GitHub from its user and emails APIs.

use serde::{Deserialize, Deserializer};

use super::provider::{get_ok, Provider};

/// The provider's account as Gatehouse uses it.
#[derive(Clone, Debug)]
pub struct ProviderProfile {
    /// The provider's stable subject (`sub`; GitHub's numeric user id).
    pub subject: String,
    /// The address the provider gives, if any.
    pub email: Option<String>,
    /// Whether the provider asserts that address is verified.
    pub email_verified: bool,
    pub name: Option<String>,
    pub image: Option<String>,
}

/// `email_verified` as a boolean, or the string `"true"`/`"false"` some providers send.
pub fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<Flag>::deserialize(deserializer)? {
        Some(Flag::Bool(flag)) => Some(flag),
        Some(Flag::Text(text)) => Some(text.eq_ignore_ascii_case("true")),
        None => None,
    })
}

#[derive(Deserialize)]
struct OpenIdUserInfo {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    email_verified: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// Completes `profile` from the userinfo endpoint when the ID token named no email.
pub async fn complete_from_userinfo(
    provider: &Provider,
    userinfo_url: Option<&str>,
    access_token: &str,
    mut profile: ProviderProfile,
) -> Result<ProviderProfile, String> {
    let (None, Some(url)) = (&profile.email, userinfo_url) else {
        return Ok(profile);
    };
    let info: OpenIdUserInfo = get_with_token(provider, url, access_token).await?;
    if info.sub != profile.subject {
        return Err("userinfo names another subject than the ID token".into());
    }
    profile.email = info.email;
    profile.email_verified = info.email_verified.unwrap_or(false);
    profile.name = profile.name.or(info.name);
    profile.image = profile.image.or(info.picture);
    Ok(profile)
}

/// GitHub's user (`/user`) and its primary address with GitHub's verified flag (`/user/emails`).
pub async fn github_profile(
    provider: &Provider,
    user_url: &str,
    access_token: &str,
) -> Result<ProviderProfile, String> {
    let user: GitHubUser = get_with_token(provider, user_url, access_token).await?;
    let emails_url = format!("{}/emails", user_url.trim_end_matches('/'));
    let emails: Vec<GitHubEmail> = get_with_token(provider, &emails_url, access_token).await?;
    let primary = emails.into_iter().find(|email| email.primary);
    Ok(ProviderProfile {
        subject: user.id.to_string(),
        email_verified: primary.as_ref().is_some_and(|email| email.verified),
        email: primary.map(|email| email.email),
        name: user.name.or(user.login),
        image: user.avatar_url,
    })
}

async fn get_with_token<T: serde::de::DeserializeOwned>(
    provider: &Provider,
    url: &str,
    access_token: &str,
) -> Result<T, String> {
    let answer = get_ok(provider.http().get(url).bearer_auth(access_token), url).await?;
    answer
        .json()
        .await
        .map_err(|error| format!("GET {url}: {error}"))
}

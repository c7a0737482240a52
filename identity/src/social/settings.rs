//! Social providers as configured (DESIGN §17): `SOCIAL_PROVIDERS` names them, and each id has
//! `SOCIAL_<ID>_CLIENT_ID`, `SOCIAL_<ID>_CLIENT_SECRET`, `SOCIAL_<ID>_NAME` and either
//! `SOCIAL_<ID>_ISSUER` (any OpenID provider, by discovery) or `SOCIAL_<ID>_PRESET`. A provider
//! whose id is itself a preset's name (`google`, `github`, `microsoft`, `gitlab`) takes that
//! preset unless an issuer is given. Every problem is one line naming the variable.

use std::fmt;

use secrecy::SecretString;

/// The most providers one deployment configures (a typo'd list should not spawn hundreds of
/// discovery tasks).
const MAX_PROVIDERS: usize = 16;

/// How a provider is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect: discovery from the issuer, an ID token verified against its JWKS.
    OpenId {
        /// The issuer URL (discovery is `<issuer>/.well-known/openid-configuration`).
        issuer: String,
        /// Microsoft's multi-tenant issuers are templated: the ID token's `iss` carries the
        /// user's tenant (`{tenantid}` in the discovered issuer is replaced by the token's `tid`).
        tenant_templated: bool,
    },
    /// GitHub: OAuth 2.0 without ID tokens; who the user is comes from its user and emails APIs.
    GitHub,
}

/// One configured provider.
#[derive(Clone)]
pub struct ProviderSettings {
    /// The id in `SOCIAL_PROVIDERS` and in `/api/auth/callback/<id>` (lower case).
    pub id: String,
    /// The label on the pages ("Continue with <name>").
    pub name: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretString,
    /// Discovery and verification.
    pub protocol: Protocol,
    /// The scopes asked for.
    pub scopes: Vec<String>,
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// A preset: what a provider id like `google` means without an issuer.
struct Preset {
    name: &'static str,
    label: &'static str,
    protocol: fn() -> Protocol,
    scopes: &'static [&'static str],
}

const OPENID_SCOPES: &[&str] = &["openid", "email", "profile"];

const PRESETS: &[Preset] = &[
    Preset {
        name: "google",
        label: "Google",
        protocol: || openid("https://accounts.google.com", false),
        scopes: OPENID_SCOPES,
    },
    Preset {
        name: "microsoft",
        label: "Microsoft",
        protocol: || openid("https://login.microsoftonline.com/common/v2.0", true),
        scopes: OPENID_SCOPES,
    },
    Preset {
        name: "gitlab",
        label: "GitLab",
        protocol: || openid("https://gitlab.com", false),
        scopes: OPENID_SCOPES,
    },
    Preset {
        name: "github",
        label: "GitHub",
        protocol: || Protocol::GitHub,
        scopes: &["read:user", "user:email"],
    },
];

fn openid(issuer: &str, tenant_templated: bool) -> Protocol {
    Protocol::OpenId {
        issuer: issuer.to_owned(),
        tenant_templated,
    }
}

/// Reads every provider named in `SOCIAL_PROVIDERS` through `var` (the environment in the
/// binary, a map in tests). An empty or absent list configures none.
pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Vec<ProviderSettings>, String> {
    let list = var("SOCIAL_PROVIDERS").unwrap_or_default();
    let ids: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    if ids.len() > MAX_PROVIDERS {
        return Err(format!(
            "SOCIAL_PROVIDERS names {} providers; at most {MAX_PROVIDERS} are supported",
            ids.len()
        ));
    }
    let mut providers: Vec<ProviderSettings> = Vec::with_capacity(ids.len());
    for id in ids {
        let valid = id.len() <= 32
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!(
                "SOCIAL_PROVIDERS: `{id}` is not a provider id (lower-case letters, digits, - and _, at most 32)"
            ));
        }
        if providers.iter().any(|seen| seen.id == id) {
            return Err(format!("SOCIAL_PROVIDERS names `{id}` twice"));
        }
        providers.push(provider(id, &var)?);
    }
    Ok(providers)
}

fn provider(id: &str, var: &impl Fn(&str) -> Option<String>) -> Result<ProviderSettings, String> {
    let prefix = format!("SOCIAL_{}_", id.to_ascii_uppercase().replace('-', "_"));
    let named = |suffix: &str| format!("{prefix}{suffix}");
    let required = |suffix: &str| {
        var(&named(suffix))
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                format!(
                    "{} is not set (provider `{id}` is in SOCIAL_PROVIDERS)",
                    named(suffix)
                )
            })
    };
    let client_id = required("CLIENT_ID")?;
    let client_secret = SecretString::from(required("CLIENT_SECRET")?);
    let issuer = var(&named("ISSUER")).filter(|value| !value.trim().is_empty());
    let preset_name = var(&named("PRESET")).filter(|value| !value.trim().is_empty());
    let (protocol, label, scopes) = match (issuer, preset_name) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "{} and {} are both set: choose one",
                named("ISSUER"),
                named("PRESET")
            ))
        }
        (Some(issuer), None) => {
            let issuer = issuer.trim().trim_end_matches('/').to_owned();
            check_issuer(&issuer).map_err(|why| format!("{}: {why}", named("ISSUER")))?;
            (openid(&issuer, false), id.to_owned(), OPENID_SCOPES)
        }
        (None, preset_name) => {
            let wanted = preset_name.as_deref().map(str::trim).unwrap_or(id);
            let preset = PRESETS.iter().find(|preset| preset.name == wanted).ok_or_else(|| {
                match preset_name {
                    Some(_) => format!(
                        "{} must be one of google, github, microsoft, gitlab, got `{wanted}`",
                        named("PRESET")
                    ),
                    None => format!(
                        "{} is not set and `{id}` is not a preset (google, github, microsoft, gitlab)",
                        named("ISSUER")
                    ),
                }
            })?;
            ((preset.protocol)(), preset.label.to_owned(), preset.scopes)
        }
    };
    let name = var(&named("NAME"))
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or(label);
    if name.chars().count() > 64 {
        return Err(format!("{} must be at most 64 characters", named("NAME")));
    }
    Ok(ProviderSettings {
        id: id.to_owned(),
        name,
        client_id,
        client_secret,
        protocol,
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
    })
}

/// An issuer is an https URL (plain http only on the loopback interface, for tests and
/// development) without query or fragment (OpenID Connect Discovery §2).
fn check_issuer(issuer: &str) -> Result<(), String> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| {
            issuer
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    if !(issuer.starts_with("https://") || loopback) {
        return Err(format!(
            "must be an https:// URL (http:// only on the loopback interface), got `{issuer}`"
        ));
    }
    if issuer.contains(['?', '#']) || issuer.contains(char::is_whitespace) {
        return Err(format!(
            "must have no query, fragment or spaces, got `{issuer}`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Vec<ProviderSettings>, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn no_list_means_no_providers() {
        assert!(read(&[]).unwrap().is_empty());
        assert!(read(&[("SOCIAL_PROVIDERS", " ")]).unwrap().is_empty());
    }

    #[test]
    fn an_issuer_configures_any_openid_provider() {
        let providers = read(&[
            ("SOCIAL_PROVIDERS", "corp"),
            ("SOCIAL_CORP_CLIENT_ID", "gatehouse"),
            ("SOCIAL_CORP_CLIENT_SECRET", "s3cret"),
            ("SOCIAL_CORP_ISSUER", "https://sso.example.com/"),
            ("SOCIAL_CORP_NAME", "Example SSO"),
        ])
        .unwrap();
        let corp = &providers[0];
        assert_eq!(
            (corp.id.as_str(), corp.name.as_str()),
            ("corp", "Example SSO")
        );
        assert_eq!(corp.protocol, openid("https://sso.example.com", false));
        assert_eq!(corp.client_secret.expose_secret(), "s3cret");
        assert!(!format!("{corp:?}").contains("s3cret"));
    }

    #[test]
    fn a_preset_is_taken_from_the_id_or_named() {
        let providers = read(&[
            ("SOCIAL_PROVIDERS", "google,work"),
            ("SOCIAL_GOOGLE_CLIENT_ID", "a"),
            ("SOCIAL_GOOGLE_CLIENT_SECRET", "b"),
            ("SOCIAL_WORK_CLIENT_ID", "c"),
            ("SOCIAL_WORK_CLIENT_SECRET", "d"),
            ("SOCIAL_WORK_PRESET", "microsoft"),
        ])
        .unwrap();
        assert_eq!(providers[0].name, "Google");
        assert_eq!(
            providers[0].protocol,
            openid("https://accounts.google.com", false)
        );
        assert_eq!(providers[1].name, "Microsoft");
        assert!(matches!(
            providers[1].protocol,
            Protocol::OpenId {
                tenant_templated: true,
                ..
            }
        ));
    }

    #[test]
    fn each_problem_names_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("SOCIAL_PROVIDERS", "corp")], "SOCIAL_CORP_CLIENT_ID"),
            (
                &[("SOCIAL_PROVIDERS", "corp"), ("SOCIAL_CORP_CLIENT_ID", "x")],
                "SOCIAL_CORP_CLIENT_SECRET",
            ),
            (
                &[
                    ("SOCIAL_PROVIDERS", "corp"),
                    ("SOCIAL_CORP_CLIENT_ID", "x"),
                    ("SOCIAL_CORP_CLIENT_SECRET", "y"),
                ],
                "SOCIAL_CORP_ISSUER",
            ),
            (
                &[
                    ("SOCIAL_PROVIDERS", "corp"),
                    ("SOCIAL_CORP_CLIENT_ID", "x"),
                    ("SOCIAL_CORP_CLIENT_SECRET", "y"),
                    ("SOCIAL_CORP_ISSUER", "http://sso.example.com"),
                ],
                "SOCIAL_CORP_ISSUER",
            ),
            (
                &[
                    ("SOCIAL_PROVIDERS", "corp"),
                    ("SOCIAL_CORP_CLIENT_ID", "x"),
                    ("SOCIAL_CORP_CLIENT_SECRET", "y"),
                    ("SOCIAL_CORP_PRESET", "myspace"),
                ],
                "SOCIAL_CORP_PRESET",
            ),
            (&[("SOCIAL_PROVIDERS", "Bad Id")], "SOCIAL_PROVIDERS"),
        ];
        for (vars, variable) in cases {
            let error = read(vars).unwrap_err();
            assert!(error.contains(variable), "{error} should name {variable}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }
}

//! `/account`'s password and deletion sections, which depend on whether the user has a password.
//! A user with one changes it, and confirms a deletion with it. A user created by a social
//! provider has none (DESIGN §17): they are offered "Set a password" — a reset link mailed to
//! their address, whose page lets them choose one — and delete with a fresh session alone
//! (identity's rule, DESIGN §6). Whether there is a password is asked of identity's
//! list-accounts (`credential`) while the page is rendered, so the right form is there from the
//! first paint; the page never changes state.

use maud::{html, Markup};
use serde_json::Value;

use super::html::{form, password_field, Field, OnSuccess};
use crate::auth_api::social::ProviderLink;
use crate::identity::SessionLookup;
use crate::AppState;

/// How a user signs in, as list-accounts tells it.
#[derive(Debug, PartialEq, Eq)]
pub struct SignInMethods {
    /// Whether the user has a password (list-accounts' `credential`).
    password: bool,
    /// The ids of the providers linked to the account.
    providers: Vec<String>,
}

impl SignInMethods {
    /// A user with a password: the page as it was before social sign-in, which is also what is
    /// shown when identity cannot say (the change-password form then answers for itself).
    pub fn with_password() -> SignInMethods {
        SignInMethods {
            password: true,
            providers: Vec::new(),
        }
    }

    /// From list-accounts' items (`providerId` of each).
    fn from_accounts(accounts: &[Value]) -> SignInMethods {
        let ids = accounts
            .iter()
            .filter_map(|account| account["providerId"].as_str());
        let (password, providers): (Vec<&str>, Vec<&str>) = ids.partition(|id| *id == "credential");
        SignInMethods {
            password: !password.is_empty(),
            providers: providers.into_iter().map(str::to_owned).collect(),
        }
    }
}

/// How the caller signs in, from identity's list-accounts.
pub async fn sign_in_methods(state: &AppState, caller: &SessionLookup<'_>) -> SignInMethods {
    let listed = match state.identity.endpoint("v1/accounts/list") {
        Ok(url) => state.identity.post::<_, Vec<Value>>(&url, caller).await,
        Err(error) => Err(error),
    };
    match listed {
        Ok(accounts) => SignInMethods::from_accounts(&accounts),
        Err(error) => {
            tracing::warn!(%error, "account page: cannot list the ways to sign in");
            SignInMethods::with_password()
        }
    }
}

/// The password section: change it, or (without one) have a link mailed to set one.
pub fn password_section(
    methods: &SignInMethods,
    email: &str,
    providers: &[ProviderLink],
) -> Markup {
    if methods.password {
        return html! {
            section aria-labelledby="password-h" {
                h2 id="password-h" { "Change your password" }
                (form(
                    "password",
                    "/api/auth/change-password",
                    &OnSuccess {
                        done: Some("Your password was changed."),
                        reset: true,
                        ..OnSuccess::default()
                    },
                    &[
                        password_field("currentPassword", "Current password", "current-password"),
                        password_field(
                            "newPassword",
                            "New password (at least 8 characters)",
                            "new-password",
                        ),
                        Field::new(
                            "revokeOtherSessions",
                            "Sign out my other devices",
                            "checkbox",
                            "off",
                        ),
                    ],
                    &[],
                    "Change password",
                ))
            }
        };
    }
    html! {
        section aria-labelledby="password-h" {
            h2 id="password-h" { "Sign in with a password" }
            p id="no-password" {
                "You sign in with " (provider_names(&methods.providers, providers))
                ", so your account has no password. To also sign in with your email address and \
                 a password, set one: we email " strong { (email) } " a link to choose it."
            }
            p { "Setting it signs you out on every device, this one included." }
            (form(
                "set-password",
                "/api/auth/request-password-reset",
                &OnSuccess {
                    done: Some("Check your email: the link we sent lets you choose your password."),
                    ..OnSuccess::default()
                },
                &[],
                &[("email", email), ("redirectTo", "/reset-password")],
                "Set a password",
            ))
        }
    }
}

/// The deletion section: confirmed with the password, or (without one) by a tick and a fresh
/// session, which identity checks.
pub fn delete_section(methods: &SignInMethods) -> Markup {
    let intro = "This removes your account and signs you out everywhere. It cannot be undone.";
    if methods.password {
        return html! {
            section aria-labelledby="delete-h" class="danger" {
                h2 id="delete-h" { "Delete your account" }
                p { (intro) }
                (form(
                    "delete",
                    "/api/auth/delete-user",
                    &OnSuccess {
                        next: Some("/"),
                        ..OnSuccess::default()
                    },
                    &[password_field(
                        "password",
                        "Your password, to confirm",
                        "current-password",
                    )],
                    &[],
                    "Delete my account",
                ))
            }
        };
    }
    html! {
        section aria-labelledby="delete-h" class="danger" {
            h2 id="delete-h" { "Delete your account" }
            p { (intro) }
            form id="delete" method="post" data-api="/api/auth/delete-user" data-next="/"
                aria-describedby="delete-alert" {
                div class="form-error" role="alert" id="delete-alert" {}
                p class="form-status" role="status" id="delete-status" {}
                div class="field checkbox" {
                    // Without a name it is never sent: the browser only insists on the tick.
                    input id="delete-confirm" type="checkbox" required;
                    label for="delete-confirm" { "I understand that my account will be deleted for good" }
                }
                button type="submit" { "Delete my account" }
            }
        }
    }
}

/// The linked providers' names (their ids when no longer configured), as "A", "A and B" or
/// "A, B and C".
fn provider_names(ids: &[String], configured: &[ProviderLink]) -> String {
    let names: Vec<&str> = ids
        .iter()
        .map(|id| {
            configured
                .iter()
                .find(|provider| &provider.id == id)
                .map_or(id.as_str(), |provider| provider.name.as_str())
        })
        .collect();
    match names.split_last() {
        None => "a sign-in provider".to_owned(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provider_only() -> SignInMethods {
        SignInMethods::from_accounts(&[json!({"providerId": "corp", "accountId": "s"})])
    }

    fn corp() -> ProviderLink {
        ProviderLink {
            id: "corp".into(),
            name: "<b>Corp</b>".into(),
        }
    }

    #[test]
    fn list_accounts_tells_whether_there_is_a_password() {
        let both = [
            json!({"providerId": "credential"}),
            json!({"providerId": "corp"}),
        ];
        assert_eq!(
            SignInMethods::from_accounts(&both),
            SignInMethods {
                password: true,
                providers: vec!["corp".into()]
            }
        );
        assert_eq!(
            provider_only(),
            SignInMethods {
                password: false,
                providers: vec!["corp".into()]
            }
        );
    }

    #[test]
    fn a_user_with_a_password_changes_it_and_confirms_deletion_with_it() {
        let methods = SignInMethods::with_password();
        let password = password_section(&methods, "a@example.com", &[]).into_string();
        assert!(password.contains("Change your password"));
        assert!(password.contains("name=\"currentPassword\""));
        assert!(!password.contains("Set a password"));
        let delete = delete_section(&methods).into_string();
        assert!(delete.contains("name=\"password\""), "{delete}");
        assert!(!delete.contains("delete-confirm"));
    }

    #[test]
    fn a_user_without_a_password_is_offered_one_and_deletes_without_it() {
        let methods = provider_only();
        let password = password_section(&methods, "<a@example.com>", &[corp()]).into_string();
        assert!(!password.contains("currentPassword"), "{password}");
        assert!(password.contains("You sign in with &lt;b&gt;Corp&lt;/b&gt;,"));
        assert!(password.contains("data-api=\"/api/auth/request-password-reset\""));
        assert!(password.contains("name=\"email\" value=\"&lt;a@example.com&gt;\""));
        assert!(password.contains("name=\"redirectTo\" value=\"/reset-password\""));
        assert!(password.contains(">Set a password</button>"));
        assert!(!password.contains("<b>") && !password.contains("<a@"));

        let delete = delete_section(&methods).into_string();
        assert!(!delete.contains("type=\"password\""), "{delete}");
        assert!(delete.contains("data-api=\"/api/auth/delete-user\""));
        assert!(delete.contains("<input id=\"delete-confirm\" type=\"checkbox\" required>"));
    }

    #[test]
    fn providers_are_named_as_a_sentence_would() {
        let ids = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
        assert_eq!(provider_names(&ids(&["corp"]), &[corp()]), "<b>Corp</b>");
        assert_eq!(provider_names(&ids(&["a", "b"]), &[]), "a and b");
        assert_eq!(provider_names(&ids(&["a", "b", "c"]), &[]), "a, b and c");
        assert_eq!(provider_names(&[], &[]), "a sign-in provider");
    }
}

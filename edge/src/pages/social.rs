//! Social sign-in on the pages (DESIGN §17): "Continue with <name>" for each configured provider
//! on `/sign-in` and `/sign-up`, the linked-accounts section of `/account`, the error callback's
//! codes in words, and `/api/auth/error` (where a callback goes when it knows nowhere better).
//! The buttons are wired by `/static/app.js`, which posts to sign-in/social or link-social and
//! follows the provider URL they answer.

use std::borrow::Cow;

use axum::extract::Query;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::html::page;
use crate::auth_api::social::ProviderLink;

/// A social callback's `?error=` code, in words (unknown codes are named).
pub fn error_in_words(code: &str) -> Cow<'static, str> {
    let words = match code {
        "account_not_linked" => {
            "An account with this email address already exists, and it could not be linked to \
             this provider because one of the two addresses is not verified. Sign in with your \
             password, verify your address, then link the provider from your account page."
        }
        "access_denied" => "You cancelled signing in with the provider, or it refused.",
        "state_mismatch" | "state_not_found" | "state_invalid" | "please_restart_the_process" => {
            "This sign-in could not be matched to this browser, or it took too long. Start again."
        }
        "email_not_found" => "The provider did not share an email address, which Gatehouse needs.",
        "email_not_verified" => "Verify your email address first: use the link we emailed you.",
        "unable_to_link_account" => {
            "The provider's account could not be linked: the provider must confirm a verified \
             email address, and you must still be signed in here."
        }
        "email_does_not_match" => {
            "The provider's account has another email address than yours, so it was not linked."
        }
        "account_already_linked_to_different_user" => {
            "This provider account is already linked to another Gatehouse account."
        }
        "issuer_mismatch"
        | "unable_to_get_user_info"
        | "invalid_code"
        | "no_code"
        | "invalid_callback_request" => {
            "The provider's answer could not be trusted, so you were not signed in. Try again."
        }
        "oauth_provider_not_found" => "This sign-in provider is not configured.",
        "unable_to_create_user" => "Your account could not be created. Try again.",
        _ => return format!("Signing in with the provider failed (reason: {code}).").into(),
    };
    words.into()
}

/// The error paragraph for a page's `?error=`, or nothing.
pub fn error_message(code: Option<&str>) -> Markup {
    html! {
        @if let Some(code) = code {
            p class="message error" role="alert" id="social-error" { (error_in_words(code)) }
        }
    }
}

/// "Continue with <name>" buttons; after the provider, the browser returns to `next` (a new
/// user to `new_user_next`), or to `error_page` with `?error=` on failure.
pub fn continue_buttons(
    providers: &[ProviderLink],
    next: &str,
    new_user_next: &str,
    error_page: &str,
) -> Markup {
    html! {
        @if !providers.is_empty() {
            section class="social" aria-label="Other ways to continue" {
                div class="form-error" role="alert" id="social-alert" {}
                @for provider in providers {
                    button type="button" class="secondary" data-social=(provider.id)
                        data-next=(next) data-new-user-next=(new_user_next)
                        data-error=(error_page) { "Continue with " (provider.name) }
                }
            }
        }
    }
}

/// `/account`'s linked accounts: the list (loaded by the script) and a "Link" button per
/// provider (the script hides those already linked).
pub fn linked_accounts(providers: &[ProviderLink], error: Option<&str>) -> Markup {
    html! {
        section aria-labelledby="accounts-h" {
            h2 id="accounts-h" { "Ways to sign in" }
            (error_message(error))
            div class="form-error" role="alert" id="accounts-alert" {}
            ul id="accounts" class="sessions" aria-live="polite" { li { "Loading…" } }
            div class="actions" {
                @for provider in providers {
                    button type="button" class="secondary" data-link=(provider.id)
                        data-name=(provider.name) { "Link " (provider.name) }
                }
            }
        }
    }
}

/// `/api/auth/error`'s query.
#[derive(Deserialize)]
pub struct ErrorQuery {
    error: Option<String>,
}

/// `GET /api/auth/error?error=CODE`: a failed social sign-in, in words.
pub async fn error_page(Query(query): Query<ErrorQuery>) -> Response {
    let code = query.error.as_deref().unwrap_or("unknown");
    let main = html! {
        (error_message(Some(code)))
        p { a href="/sign-in" { "Back to sign in" } }
    };
    page("Sign-in failed", main)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corp() -> ProviderLink {
        ProviderLink {
            id: "\"corp\"".into(),
            name: "<script>Corp</script>".into(),
        }
    }

    #[test]
    fn known_codes_read_as_sentences_and_unknown_ones_are_escaped() {
        assert!(error_in_words("account_not_linked").contains("already exists"));
        let odd = error_message(Some("<script>\"x\"")).into_string();
        assert!(odd.contains("(reason: &lt;script&gt;&quot;x&quot;)") && !odd.contains("<script>"));
        assert!(error_message(None).into_string().is_empty());
    }

    #[test]
    fn buttons_escape_provider_names() {
        let html = continue_buttons(&[corp()], "/app", "/account", "/sign-in").into_string();
        assert!(html.contains("data-social=\"&quot;corp&quot;\""));
        assert!(html.contains("Continue with &lt;script&gt;Corp&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(continue_buttons(&[], "/app", "/app", "/sign-in")
            .into_string()
            .is_empty());
    }

    #[test]
    fn linked_accounts_escape_provider_names_and_the_error() {
        let html = linked_accounts(&[corp()], Some("<script>")).into_string();
        assert!(html.contains("data-link=\"&quot;corp&quot;\""));
        assert!(html.contains("data-name=\"&lt;script&gt;Corp&lt;/script&gt;\""));
        assert!(html.contains("Link &lt;script&gt;Corp&lt;/script&gt;"));
        assert!(!html.contains("<script>"), "{html}");
    }
}

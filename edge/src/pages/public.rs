//! The pages anyone may see: home, sign-up, sign-in, the verify-email landing, forgot-password
//! and reset-password. They render forms; `/static/app.js` submits them to `/api/auth/*`.

use std::borrow::Cow;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::html::{email_field, form, page, password_field, safe_next, Field, OnSuccess};
use super::social;
use crate::AppState;

/// Where the browser goes after signing in or up when no safe `next` is given.
const DEFAULT_NEXT: &str = "/app";

/// Query parameters the pages read; anything else is ignored.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    next: Option<String>,
    error: Option<String>,
    token: Option<String>,
}

/// `GET /`.
pub async fn home() -> Response {
    page(
        "Welcome",
        html! {
            p { "Gatehouse keeps your account safe. Choose where to go:" }
            ul class="links" {
                li { a href="/sign-up" { "Create an account" } }
                li { a href="/sign-in" { "Sign in" } }
                li { a href="/app" { "The app: products and your orders" } }
                li { a href="/account" { "Your account and sessions" } }
                li { a href="/forgot-password" { "Forgot your password?" } }
                li { a href="/verify-email" { "Verify your email address" } }
            }
        },
    )
}

fn name_field() -> Field<'static> {
    Field {
        maxlength: Some(200),
        ..Field::new("name", "Name", "text", "name")
    }
}

/// `GET /sign-up[?next=/path]`.
pub async fn sign_up(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let next = safe_next(q.next.as_deref(), &state.public_origin).unwrap_or(DEFAULT_NEXT);
    let providers = crate::auth_api::social::providers(&state).await;
    let main = html! {
        (social::error_message(q.error.as_deref()))
        (form(
            "sign-up",
            "/api/auth/sign-up/email",
            &OnSuccess {
                next: Some(next),
                pending: Some(
                    "Account created. Check your email for the verification link, then sign in.",
                ),
                ..OnSuccess::default()
            },
            &[
                name_field(),
                email_field("email"),
                password_field("password", "Password (at least 8 characters)", "new-password"),
            ],
            &[("callbackURL", "/verify-email")],
            "Create account",
        ))
        (social::continue_buttons(&providers, next, next, "/sign-up"))
        p { "Already have an account? " a href="/sign-in" { "Sign in" } "." }
    };
    page("Create an account", main)
}

/// `GET /sign-in[?next=/path]`: `next` is honoured only as a same-origin path.
pub async fn sign_in(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let next = safe_next(q.next.as_deref(), &state.public_origin).unwrap_or(DEFAULT_NEXT);
    let providers = crate::auth_api::social::providers(&state).await;
    let main = html! {
        (social::error_message(q.error.as_deref()))
        (form(
            "sign-in",
            "/api/auth/sign-in/email",
            &OnSuccess {
                next: Some(next),
                ..OnSuccess::default()
            },
            &[
                email_field("email"),
                password_field("password", "Password", "current-password"),
                Field {
                    checked: true,
                    ..Field::new("rememberMe", "Keep me signed in on this device", "checkbox", "off")
                },
            ],
            &[],
            "Sign in",
        ))
        (social::continue_buttons(&providers, next, next, "/sign-in"))
        p {
            a href="/forgot-password" { "Forgot your password?" }
            " · "
            a href="/sign-up" { "Create an account" }
        }
    };
    page("Sign in", main)
}

/// In words, what went wrong with a mailed link (`?error=CODE`).
fn link_error(code: &str) -> Cow<'static, str> {
    match code {
        "TOKEN_EXPIRED" => "This link has expired. Ask for a new one below.".into(),
        "INVALID_TOKEN" => {
            "This link is not valid or was already used. Ask for a new one below.".into()
        }
        "USER_NOT_FOUND" | "INVALID_USER" => "No account matches this link.".into(),
        other => format!("This link could not be used (reason: {other}). Ask for a new one below.")
            .into(),
    }
}

/// `GET /verify-email[?error=CODE]`: where the verification link lands, plus "resend".
pub async fn verify_email(Query(q): Query<PageQuery>) -> Response {
    page("Verify your email", verify_email_main(q.error.as_deref()))
}

fn verify_email_main(error: Option<&str>) -> Markup {
    html! {
        @match error {
            Some(code) => p class="message error" role="alert" { (link_error(code)) },
            None => p class="message ok" {
                "If you arrived from the link in your email, your address is now verified. "
                a href="/sign-in" { "Sign in" }
                "."
            },
        }
        h2 { "Need a new link?" }
        (form(
            "resend",
            "/api/auth/send-verification-email",
            &OnSuccess {
                done: Some("If an account needs verifying, a new link is on its way."),
                ..OnSuccess::default()
            },
            &[email_field("email")],
            &[("callbackURL", "/verify-email")],
            "Send a new verification link",
        ))
    }
}

/// `GET /forgot-password`.
pub async fn forgot_password() -> Response {
    let main = html! {
        p { "Enter your email address and we will send you a link to choose a new password." }
        (form(
            "forgot",
            "/api/auth/request-password-reset",
            &OnSuccess {
                done: Some("If this email has an account, a reset link is on its way."),
                ..OnSuccess::default()
            },
            &[email_field("email")],
            &[("redirectTo", "/reset-password")],
            "Email me a reset link",
        ))
    };
    page("Forgot your password?", main)
}

/// `GET /reset-password?token=…` (or `?error=CODE` when the link was refused).
pub async fn reset_password(Query(q): Query<PageQuery>) -> Response {
    page(
        "Reset your password",
        reset_password_main(q.error.as_deref(), q.token.as_deref()),
    )
}

fn reset_password_main(error: Option<&str>, token: Option<&str>) -> Markup {
    if let Some(code) = error {
        return html! {
            p class="message error" role="alert" {
                (link_error(code).replace(" Ask for a new one below.", ""))
            }
            p { a href="/forgot-password" { "Request a new reset link" } "." }
        };
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return html! {
            p class="message error" role="alert" { "This page needs the link from your reset email." }
            p { a href="/forgot-password" { "Request a reset link" } "." }
        };
    };
    form(
        "reset",
        "/api/auth/reset-password",
        &OnSuccess {
            next: Some("/sign-in"),
            ..OnSuccess::default()
        },
        &[password_field(
            "newPassword",
            "New password (at least 8 characters)",
            "new-password",
        )],
        &[("token", token)],
        "Set new password",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_link_error_is_escaped() {
        let odd = "<script>\"x\"</script>";
        for html in [
            verify_email_main(Some(odd)).into_string(),
            reset_password_main(Some(odd), None).into_string(),
        ] {
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("(reason: &lt;script&gt;&quot;x&quot;&lt;/script&gt;)"));
        }
    }

    #[test]
    fn the_reset_token_is_escaped() {
        let html = reset_password_main(None, Some("\"><script>")).into_string();
        assert!(html.contains("name=\"token\" value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(!html.contains("<script>"), "{html}");
    }
}

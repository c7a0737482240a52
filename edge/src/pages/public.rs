//! The pages anyone may see: home, sign-up, sign-in, the verify-email landing, forgot-password
//! and reset-password. They render forms; `/static/app.js` submits them to `/api/auth/*`.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::html::{email_field, escape, form, page, password_field, safe_next, Field};
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
        "<p>Gatehouse keeps your account safe. Choose where to go:</p><ul class=\"links\">\
         <li><a href=\"/sign-up\">Create an account</a></li>\
         <li><a href=\"/sign-in\">Sign in</a></li>\
         <li><a href=\"/app\">The app: products and your orders</a></li>\
         <li><a href=\"/account\">Your account and sessions</a></li>\
         <li><a href=\"/forgot-password\">Forgot your password?</a></li>\
         <li><a href=\"/verify-email\">Verify your email address</a></li></ul>",
    )
}

fn name_field() -> Field<'static> {
    Field {
        name: "name",
        label: "Name",
        kind: "text",
        autocomplete: "name",
        extra: "maxlength=\"200\"",
    }
}

/// `GET /sign-up[?next=/path]`.
pub async fn sign_up(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let next = safe_next(q.next.as_deref(), &state.public_origin).unwrap_or(DEFAULT_NEXT);
    let attrs = format!(
        "data-next=\"{}\" data-pending=\"Account created. Check your email for the verification link, then sign in.\"",
        escape(next)
    );
    let main = form(
        "sign-up",
        "/api/auth/sign-up/email",
        &attrs,
        &[
            name_field(),
            email_field("email"),
            password_field(
                "password",
                "Password (at least 8 characters)",
                "new-password",
            ),
        ],
        &[("callbackURL", "/verify-email")],
        "Create account",
    ) + &social::continue_buttons(
        &crate::auth_api::social::providers(&state).await,
        next,
        next,
        "/sign-up",
    ) + "<p>Already have an account? <a href=\"/sign-in\">Sign in</a>.</p>";
    let main = social::error_message(q.error.as_deref()) + &main;
    page("Create an account", &main)
}

/// `GET /sign-in[?next=/path]`: `next` is honoured only as a same-origin path.
pub async fn sign_in(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let next = safe_next(q.next.as_deref(), &state.public_origin).unwrap_or(DEFAULT_NEXT);
    let attrs = format!("data-next=\"{}\"", escape(next));
    let main = form(
        "sign-in",
        "/api/auth/sign-in/email",
        &attrs,
        &[
            email_field("email"),
            password_field("password", "Password", "current-password"),
            Field {
                name: "rememberMe",
                label: "Keep me signed in on this device",
                kind: "checkbox",
                autocomplete: "off",
                extra: "checked",
            },
        ],
        &[],
        "Sign in",
    ) + &social::continue_buttons(
        &crate::auth_api::social::providers(&state).await,
        next,
        next,
        "/sign-in",
    ) + "<p><a href=\"/forgot-password\">Forgot your password?</a> · \
          <a href=\"/sign-up\">Create an account</a></p>";
    let main = social::error_message(q.error.as_deref()) + &main;
    page("Sign in", &main)
}

/// In words, what went wrong with a mailed link (`?error=CODE`).
fn link_error(code: &str) -> String {
    match code {
        "TOKEN_EXPIRED" => "This link has expired. Ask for a new one below.".to_owned(),
        "INVALID_TOKEN" => {
            "This link is not valid or was already used. Ask for a new one below.".to_owned()
        }
        "USER_NOT_FOUND" | "INVALID_USER" => "No account matches this link.".to_owned(),
        other => format!(
            "This link could not be used (reason: {}). Ask for a new one below.",
            escape(other)
        ),
    }
}

/// `GET /verify-email[?error=CODE]`: where the verification link lands, plus "resend".
pub async fn verify_email(Query(q): Query<PageQuery>) -> Response {
    let outcome = match q.error.as_deref() {
        Some(code) => format!(
            "<p class=\"message error\" role=\"alert\">{}</p>",
            link_error(code)
        ),
        None => "<p class=\"message ok\">If you arrived from the link in your email, your address \
                 is now verified. <a href=\"/sign-in\">Sign in</a>.</p>"
            .to_owned(),
    };
    let resend = form(
        "resend",
        "/api/auth/send-verification-email",
        "data-done=\"If an account needs verifying, a new link is on its way.\"",
        &[email_field("email")],
        &[("callbackURL", "/verify-email")],
        "Send a new verification link",
    );
    page(
        "Verify your email",
        &format!("{outcome}<h2>Need a new link?</h2>{resend}"),
    )
}

/// `GET /forgot-password`.
pub async fn forgot_password() -> Response {
    let main = form(
        "forgot",
        "/api/auth/request-password-reset",
        "data-done=\"If this email has an account, a reset link is on its way.\"",
        &[email_field("email")],
        &[("redirectTo", "/reset-password")],
        "Email me a reset link",
    );
    page(
        "Forgot your password?",
        &format!("<p>Enter your email address and we will send you a link to choose a new password.</p>{main}"),
    )
}

/// `GET /reset-password?token=…` (or `?error=CODE` when the link was refused).
pub async fn reset_password(Query(q): Query<PageQuery>) -> Response {
    if let Some(code) = q.error.as_deref() {
        let main = format!(
            "<p class=\"message error\" role=\"alert\">{}</p><p><a href=\"/forgot-password\">Request a new reset link</a>.</p>",
            link_error(code).replace(" Ask for a new one below.", "")
        );
        return page("Reset your password", &main);
    }
    let Some(token) = q.token.as_deref().filter(|t| !t.is_empty()) else {
        return page(
            "Reset your password",
            "<p class=\"message error\" role=\"alert\">This page needs the link from your reset email.</p>\
             <p><a href=\"/forgot-password\">Request a reset link</a>.</p>",
        );
    };
    let main = form(
        "reset",
        "/api/auth/reset-password",
        "data-next=\"/sign-in\"",
        &[password_field(
            "newPassword",
            "New password (at least 8 characters)",
            "new-password",
        )],
        &[("token", token)],
        "Set new password",
    );
    page("Reset your password", &main)
}

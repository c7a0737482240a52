//! The pages for signed-in browsers: `/account` and `/app`. A visit without a live session is
//! sent to `/sign-in?next=<page>`; the session is checked with identity exactly as get-session
//! does. The data is loaded by `/static/app.js` through `/api/auth/*` and `/api/*`.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use super::html::{escape, form, page, password_field, Field};
use crate::browser::{client_ip, user_agent};
use crate::error::EdgeError;
use crate::identity::SessionLookup;
use crate::AppState;

/// The signed-in user (Better-Auth JSON) and the cookie to send again when identity extended
/// the session.
struct Visitor {
    user: Value,
    refreshed_cookie: Option<HeaderValue>,
}

/// What a page visit found: a signed-in visitor, or the redirect to sign-in.
enum Visit {
    SignedIn(Visitor),
    SignedOut(Response),
}

async fn visit(
    state: &AppState,
    parts: &Parts,
    page_path: &'static str,
) -> Result<Visit, EdgeError> {
    let to_sign_in = |clear: bool| {
        let location = HeaderValue::from_static(match page_path {
            "/account" => "/sign-in?next=/account",
            _ => "/sign-in?next=/app",
        });
        let mut response = (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response();
        if clear {
            response
                .headers_mut()
                .insert(SET_COOKIE, state.cookie.clear());
        }
        Visit::SignedOut(response)
    };
    let Some(token) = state.cookie.read(&parts.headers) else {
        return Ok(to_sign_in(state.cookie.is_sent(&parts.headers)));
    };
    let client_ip = client_ip(&parts.extensions)?;
    let lookup = SessionLookup {
        session_token: token.expose_secret(),
        client_ip: &client_ip,
        user_agent: user_agent(&parts.headers),
    };
    let Some(current) = state.identity.session(&lookup).await? else {
        return Ok(to_sign_in(true));
    };
    let refreshed_cookie = if current.refreshed {
        state
            .cookie
            .set(token.expose_secret(), current.cookie_max_age)
    } else {
        None
    };
    Ok(Visit::SignedIn(Visitor {
        user: current.user,
        refreshed_cookie,
    }))
}

fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// `GET /account`: profile, name, password, sessions, sign out everywhere, delete account.
pub async fn account(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, _) = request.into_parts();
    let visitor = match visit(&state, &parts, "/account").await? {
        Visit::SignedIn(visitor) => visitor,
        Visit::SignedOut(redirect) => return Ok(redirect),
    };
    let text = |key: &str| escape(visitor.user[key].as_str().unwrap_or(""));
    let verified = if visitor.user["emailVerified"] == Value::Bool(true) {
        "Yes"
    } else {
        "Not yet — <a href=\"/verify-email\">send a verification link</a>"
    };
    let name_value = format!("value=\"{}\" maxlength=\"200\"", text("name"));
    let mut main = format!(
        "<section aria-labelledby=\"profile-h\"><h2 id=\"profile-h\">Profile</h2><dl class=\"facts\">\
         <dt>Name</dt><dd id=\"profile-name\">{name}</dd><dt>Email</dt><dd>{email}</dd>\
         <dt>Email verified</dt><dd>{verified}</dd><dt>Member since</dt><dd>{since}</dd></dl></section>",
        name = text("name"),
        email = text("email"),
        since = text("createdAt"),
    );
    main.push_str("<section aria-labelledby=\"name-h\"><h2 id=\"name-h\">Change your name</h2>");
    main.push_str(&form(
        "name",
        "/api/auth/update-user",
        "data-reload=\"true\"",
        &[Field {
            name: "name",
            label: "Name",
            kind: "text",
            autocomplete: "name",
            extra: &name_value,
        }],
        &[],
        "Save name",
    ));
    main.push_str("</section><section aria-labelledby=\"password-h\"><h2 id=\"password-h\">Change your password</h2>");
    main.push_str(&form(
        "password",
        "/api/auth/change-password",
        "data-done=\"Your password was changed.\" data-reset=\"true\"",
        &[
            password_field("currentPassword", "Current password", "current-password"),
            password_field(
                "newPassword",
                "New password (at least 8 characters)",
                "new-password",
            ),
            Field {
                name: "revokeOtherSessions",
                label: "Sign out my other devices",
                kind: "checkbox",
                autocomplete: "off",
                extra: "",
            },
        ],
        &[],
        "Change password",
    ));
    main.push_str("</section>");
    main.push_str(&super::social::linked_accounts(
        &crate::auth_api::social::providers(&state).await,
        page_error(&parts).as_deref(),
    ));
    main.push_str(
        "<section aria-labelledby=\"sessions-h\"><h2 id=\"sessions-h\">Where you are signed in</h2>\
         <div class=\"form-error\" role=\"alert\" id=\"sessions-alert\"></div>\
         <ul id=\"sessions\" class=\"sessions\" data-load=\"sessions\" aria-live=\"polite\"><li>Loading…</li></ul>\
         <div class=\"actions\"><button type=\"button\" id=\"sign-out\" data-post=\"/api/auth/sign-out\" data-next=\"/sign-in\">Sign out</button>\
         <button type=\"button\" id=\"sign-out-everywhere\" data-post=\"/api/auth/revoke-sessions\" data-next=\"/sign-in\">Sign out everywhere</button></div></section>\
         <section aria-labelledby=\"delete-h\" class=\"danger\"><h2 id=\"delete-h\">Delete your account</h2>\
         <p>This removes your account and signs you out everywhere. It cannot be undone.</p>",
    );
    main.push_str(&form(
        "delete",
        "/api/auth/delete-user",
        "data-next=\"/\"",
        &[password_field(
            "password",
            "Your password, to confirm",
            "current-password",
        )],
        &[],
        "Delete my account",
    ));
    main.push_str("</section>");
    Ok(with_cookie(
        page("Your account", &main),
        visitor.refreshed_cookie,
    ))
}

/// The `?error=` a failed link-social sent the browser back with.
fn page_error(parts: &Parts) -> Option<String> {
    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(key, _)| key == "error")
        .map(|(_, value)| value.into_owned())
}

/// `GET /app`: the profile from `/api/profile`, products, placing an order, your orders.
pub async fn app_page(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, _) = request.into_parts();
    let visitor = match visit(&state, &parts, "/app").await? {
        Visit::SignedIn(visitor) => visitor,
        Visit::SignedOut(redirect) => return Ok(redirect),
    };
    let main = "<div class=\"form-error\" role=\"alert\" id=\"app-alert\"></div>\
        <section aria-labelledby=\"profile-h\"><h2 id=\"profile-h\">Your profile</h2>\
        <dl class=\"facts\" id=\"profile\" data-load=\"profile\" aria-live=\"polite\"><dt>Status</dt><dd>Loading…</dd></dl></section>\
        <section aria-labelledby=\"products-h\"><h2 id=\"products-h\">Products</h2>\
        <ul id=\"products\" class=\"products\" data-load=\"products\"><li>Loading…</li></ul>\
        <h3>Place an order</h3>\
        <form id=\"order\" method=\"post\" data-api=\"/api/orders\" data-orders=\"true\" data-done=\"Order placed.\" aria-describedby=\"order-alert\">\
        <div class=\"form-error\" role=\"alert\" id=\"order-alert\"></div><p class=\"form-status\" role=\"status\" id=\"order-status\"></p>\
        <div class=\"field\"><label for=\"order-product_id\">Product</label>\
        <select id=\"order-product_id\" name=\"product_id\" required aria-describedby=\"order-product_id-error\"></select>\
        <p class=\"field-error\" id=\"order-product_id-error\"></p></div>\
        <div class=\"field\"><label for=\"order-quantity\">Quantity (1–100)</label>\
        <input id=\"order-quantity\" name=\"quantity\" type=\"number\" min=\"1\" max=\"100\" value=\"1\" required aria-describedby=\"order-quantity-error\">\
        <p class=\"field-error\" id=\"order-quantity-error\"></p></div>\
        <button type=\"submit\">Place order</button></form></section>\
        <section aria-labelledby=\"orders-h\"><h2 id=\"orders-h\">Your orders</h2>\
        <table class=\"orders\"><thead><tr><th scope=\"col\">Placed</th><th scope=\"col\">Product</th>\
        <th scope=\"col\">Quantity</th><th scope=\"col\">Total</th><th scope=\"col\">Status</th></tr></thead>\
        <tbody id=\"orders\" data-load=\"orders\" aria-live=\"polite\"><tr><td colspan=\"5\">Loading…</td></tr></tbody></table></section>";
    Ok(with_cookie(
        page("Your app", main),
        visitor.refreshed_cookie,
    ))
}

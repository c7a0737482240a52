//! The pages for signed-in browsers: `/account` and `/app`. A visit without a live session is
//! sent to `/sign-in?next=<page>`; the session is checked with identity exactly as get-session
//! does. The data is loaded by `/static/app.js` through `/api/auth/*` and `/api/*`.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use maud::{html, Markup};
use serde_json::Value;

use super::credentials::{self, SignInMethods};
use super::html::{form, page, Field, OnSuccess};
use crate::auth_api::social::ProviderLink;
use crate::browser::{client_ip, user_agent};
use crate::error::EdgeError;
use crate::identity::SessionLookup;
use crate::AppState;

/// The signed-in user (Better-Auth JSON), the cookie to send again when identity extended the
/// session, and the browser as identity knows it (for the page's further questions).
struct Visitor<'a> {
    user: Value,
    refreshed_cookie: Option<HeaderValue>,
    session_token: &'a str,
    client_ip: String,
    user_agent: &'a str,
}

impl Visitor<'_> {
    /// The caller fields of identity's account endpoints.
    fn lookup(&self) -> SessionLookup<'_> {
        SessionLookup {
            session_token: self.session_token,
            client_ip: &self.client_ip,
            user_agent: self.user_agent,
        }
    }
}

/// What a page visit found: a signed-in visitor, or the redirect to sign-in.
enum Visit<'a> {
    SignedIn(Visitor<'a>),
    SignedOut(Response),
}

async fn visit<'a>(
    state: &AppState,
    parts: &'a Parts,
    page_path: &'static str,
) -> Result<Visit<'a>, EdgeError> {
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
        session_token: token.expose_secret(),
        client_ip,
        user_agent: user_agent(&parts.headers),
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
    let caller = visitor.lookup();
    let (providers, methods) = tokio::join!(
        crate::auth_api::social::providers(&state),
        credentials::sign_in_methods(&state, &caller),
    );
    let main = account_main(
        &visitor.user,
        &methods,
        &providers,
        page_error(&parts).as_deref(),
    );
    Ok(with_cookie(
        page("Your account", main),
        visitor.refreshed_cookie,
    ))
}

/// `/account`'s main part for `user` (Better-Auth JSON), who signs in by `methods`.
fn account_main(
    user: &Value,
    methods: &SignInMethods,
    providers: &[ProviderLink],
    error: Option<&str>,
) -> Markup {
    let text = |key: &str| user[key].as_str().unwrap_or("");
    html! {
        section aria-labelledby="profile-h" {
            h2 id="profile-h" { "Profile" }
            dl class="facts" {
                dt { "Name" } dd id="profile-name" { (text("name")) }
                dt { "Email" } dd { (text("email")) }
                dt { "Email verified" }
                dd {
                    @if user["emailVerified"] == Value::Bool(true) {
                        "Yes"
                    } @else {
                        "Not yet — " a href="/verify-email" { "send a verification link" }
                    }
                }
                dt { "Member since" } dd { (text("createdAt")) }
            }
        }
        section aria-labelledby="name-h" {
            h2 id="name-h" { "Change your name" }
            (form(
                "name",
                "/api/auth/update-user",
                &OnSuccess {
                    reload: true,
                    ..OnSuccess::default()
                },
                &[Field {
                    value: Some(text("name")),
                    maxlength: Some(200),
                    ..Field::new("name", "Name", "text", "name")
                }],
                &[],
                "Save name",
            ))
        }
        (credentials::password_section(methods, text("email"), providers))
        (super::social::linked_accounts(providers, error))
        section aria-labelledby="sessions-h" {
            h2 id="sessions-h" { "Where you are signed in" }
            div class="form-error" role="alert" id="sessions-alert" {}
            ul id="sessions" class="sessions" data-load="sessions" aria-live="polite" { li { "Loading…" } }
            div class="actions" {
                button type="button" id="sign-out" data-post="/api/auth/sign-out" data-next="/sign-in" { "Sign out" }
                button type="button" id="sign-out-everywhere" data-post="/api/auth/revoke-sessions" data-next="/sign-in" { "Sign out everywhere" }
            }
        }
        (credentials::delete_section(methods))
    }
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
    let main = html! {
        div class="form-error" role="alert" id="app-alert" {}
        section aria-labelledby="profile-h" {
            h2 id="profile-h" { "Your profile" }
            dl class="facts" id="profile" data-load="profile" aria-live="polite" {
                dt { "Status" } dd { "Loading…" }
            }
        }
        section aria-labelledby="products-h" {
            h2 id="products-h" { "Products" }
            ul id="products" class="products" data-load="products" { li { "Loading…" } }
            h3 { "Place an order" }
            form id="order" method="post" data-api="/api/orders" data-orders="true"
                data-done="Order placed." aria-describedby="order-alert" {
                div class="form-error" role="alert" id="order-alert" {}
                p class="form-status" role="status" id="order-status" {}
                div class="field" {
                    label for="order-product_id" { "Product" }
                    select id="order-product_id" name="product_id" required
                        aria-describedby="order-product_id-error" {}
                    p class="field-error" id="order-product_id-error" {}
                }
                div class="field" {
                    label for="order-quantity" { "Quantity (1–100)" }
                    input id="order-quantity" name="quantity" type="number" min="1" max="100"
                        value="1" required aria-describedby="order-quantity-error";
                    p class="field-error" id="order-quantity-error" {}
                }
                button type="submit" { "Place order" }
            }
        }
        section aria-labelledby="orders-h" {
            h2 id="orders-h" { "Your orders" }
            table class="orders" {
                thead {
                    tr {
                        th scope="col" { "Placed" }
                        th scope="col" { "Product" }
                        th scope="col" { "Quantity" }
                        th scope="col" { "Total" }
                        th scope="col" { "Status" }
                    }
                }
                tbody id="orders" data-load="orders" aria-live="polite" {
                    tr { td colspan="5" { "Loading…" } }
                }
            }
        }
    };
    Ok(with_cookie(
        page("Your app", main),
        visitor.refreshed_cookie,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_profile_is_escaped() {
        let user = json!({
            "name": "\"><script>alert(1)</script>",
            "email": "<script>@example.com",
            "emailVerified": false,
            "createdAt": "2025-01-01T00:00:00.000Z",
        });
        let html = account_main(&user, &SignInMethods::with_password(), &[], None).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(
            "<dd id=\"profile-name\">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</dd>"
        ));
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(html.contains("<dd>&lt;script&gt;@example.com</dd>"));
        assert!(html.contains("Not yet — <a href=\"/verify-email\">"));
    }
}

//! The page skeleton and form pieces shared by every page, built with `maud` (every value is
//! escaped as it is spliced), and the rule for the `next` parameter. Plain functions: no I/O.

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderValue;
use maud::{html, Markup, DOCTYPE};

use super::assets::{css_url, js_url};
use crate::origin::{is_safe_callback, PublicOrigin};

/// `next` when it is a same-origin path (one leading `/`, no `//` or `\`, Better-Auth's
/// character set), else `None`: sign-in never sends the browser elsewhere.
pub fn safe_next<'a>(next: Option<&'a str>, public: &PublicOrigin) -> Option<&'a str> {
    next.filter(|next| next.starts_with('/') && is_safe_callback(next, public))
}

/// A complete page: `title` (plain text) and its `main` part.
/// Pages are never cached: they may carry a user's data or a one-time token.
pub fn page(title: &str, main: Markup) -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        skeleton(title, main).into_string(),
    )
        .into_response()
}

/// The document around a page's `main` part.
fn skeleton(title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gatehouse" }
                link rel="stylesheet" href=(css_url());
                script src=(js_url()) defer {}
            }
            body {
                header class="top" {
                    a class="brand" href="/" { "Gatehouse" }
                    nav aria-label="Main" {
                        a href="/app" { "App" }
                        a href="/account" { "Account" }
                        a href="/sign-in" { "Sign in" }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    noscript {
                        p class="notice" { "These forms need JavaScript. Pages and links work without it." }
                    }
                    (main)
                }
            }
        }
    }
}

/// One labelled input with its error paragraph linked by `aria-describedby`.
pub struct Field<'a> {
    /// The JSON key the script sends (also the input's `name`).
    pub name: &'a str,
    /// The visible label.
    pub label: &'a str,
    /// `type` of the input.
    pub kind: &'a str,
    /// `autocomplete` token.
    pub autocomplete: &'a str,
    /// The input's initial `value`.
    pub value: Option<&'a str>,
    /// `minlength`.
    pub minlength: Option<u32>,
    /// `maxlength`.
    pub maxlength: Option<u32>,
    /// Whether a checkbox starts `checked`.
    pub checked: bool,
}

impl<'a> Field<'a> {
    /// A field with no value, length limits or check mark.
    pub fn new(name: &'a str, label: &'a str, kind: &'a str, autocomplete: &'a str) -> Self {
        Field {
            name,
            label,
            kind,
            autocomplete,
            value: None,
            minlength: None,
            maxlength: None,
            checked: false,
        }
    }

    fn render(&self, form: &str) -> Markup {
        let id = format!("{form}-{}", self.name);
        let error_id = format!("{id}-error");
        let checkbox = self.kind == "checkbox";
        let input = html! {
            input id=(id) name=(self.name) type=(self.kind) autocomplete=(self.autocomplete)
                required[!checkbox] aria-describedby=(error_id) value=[self.value]
                minlength=[self.minlength] maxlength=[self.maxlength] checked[self.checked];
        };
        let label = html! { label for=(id) { (self.label) } };
        html! {
            div class={ "field " (self.kind) } {
                @if checkbox { (input) (label) } @else { (label) (input) }
                p class="field-error" id=(error_id) {}
            }
        }
    }
}

/// What `/static/app.js` does when a form's call succeeds (its `data-*` attributes).
#[derive(Default)]
pub struct OnSuccess<'a> {
    /// Go to this same-origin path.
    pub next: Option<&'a str>,
    /// Show this when the account waits for its address to be verified.
    pub pending: Option<&'a str>,
    /// Show this in the form's status line.
    pub done: Option<&'a str>,
    /// Empty the form.
    pub reset: bool,
    /// Reload the page.
    pub reload: bool,
}

/// A form the script submits as JSON to `api`, doing `on_success` when it works; `hidden` are
/// extra JSON fields as `(name, value)` pairs.
pub fn form(
    id: &str,
    api: &str,
    on_success: &OnSuccess<'_>,
    fields: &[Field<'_>],
    hidden: &[(&str, &str)],
    submit: &str,
) -> Markup {
    let alert_id = format!("{id}-alert");
    html! {
        form id=(id) method="post" data-api=(api) data-next=[on_success.next]
            data-pending=[on_success.pending] data-done=[on_success.done]
            data-reset=[on_success.reset.then_some("true")]
            data-reload=[on_success.reload.then_some("true")] aria-describedby=(alert_id) {
            div class="form-error" role="alert" id=(alert_id) {}
            p class="form-status" role="status" id={ (id) "-status" } {}
            @for (name, value) in hidden {
                input type="hidden" name=(name) value=(value);
            }
            @for field in fields {
                (field.render(id))
            }
            button type="submit" { (submit) }
        }
    }
}

/// An email input.
pub fn email_field(autocomplete: &str) -> Field<'_> {
    Field::new("email", "Email address", "email", autocomplete)
}

/// A password input named `name`.
pub fn password_field<'a>(name: &'a str, label: &'a str, autocomplete: &'a str) -> Field<'a> {
    Field {
        minlength: (autocomplete == "new-password").then_some(8),
        ..Field::new(name, label, "password", autocomplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_escaped() {
        let html = skeleton("<script>\"x\"</script>", html! {}).into_string();
        assert!(
            html.contains("<title>&lt;script&gt;&quot;x&quot;&lt;/script&gt; · Gatehouse</title>")
        );
        assert!(html.contains("<h1>&lt;script&gt;&quot;x&quot;&lt;/script&gt;</h1>"));
        assert!(!html.contains("<script>\""));
    }

    #[test]
    fn field_values_and_hidden_values_are_escaped() {
        let html = form(
            "f",
            "/api/x",
            &OnSuccess {
                done: Some("\"><script>"),
                ..OnSuccess::default()
            },
            &[Field {
                value: Some("\"><script>alert(1)</script>"),
                ..Field::new("name", "Name", "text", "name")
            }],
            &[("token", "\"><script>")],
            "<script>",
        )
        .into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(html.contains("data-done=\"&quot;&gt;&lt;script&gt;\""));
    }

    #[test]
    fn next_must_be_a_same_origin_path() {
        let public = PublicOrigin::from_public_url("https://app.example.com").unwrap();
        assert_eq!(safe_next(Some("/account"), &public), Some("/account"));
        assert_eq!(safe_next(Some("/app?x=1"), &public), Some("/app?x=1"));
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "https://evil.com",
            "https://app.example.com/app",
            "javascript:alert(1)",
            "/%2fevil.com",
            "/a\"><script>",
            "",
        ] {
            assert_eq!(safe_next(Some(bad), &public), None, "{bad}");
        }
        assert_eq!(safe_next(None, &public), None);
    }

    #[test]
    fn every_input_has_a_label_and_a_linked_error() {
        let html = form(
            "f",
            "/api/auth/x",
            &OnSuccess::default(),
            &[email_field("email")],
            &[("token", "\"><b>")],
            "Go",
        )
        .into_string();
        assert!(html.contains("<label for=\"f-email\">"));
        assert!(html.contains("id=\"f-email\""));
        assert!(html.contains("aria-describedby=\"f-email-error\""));
        assert!(html.contains("id=\"f-email-error\""));
        assert!(html.contains("role=\"alert\""));
        assert!(!html.contains("<b>"));
    }
}

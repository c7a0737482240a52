//! The page skeleton and form pieces shared by every page, the one HTML escaper they all use,
//! and the rule for the `next` parameter. Plain functions over strings: no I/O.

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderValue;

pub use service_kit::html::escape_html as escape;

use super::assets::{css_url, js_url};
use crate::origin::{is_safe_callback, PublicOrigin};

/// `next` when it is a same-origin path (one leading `/`, no `//` or `\`, Better-Auth's
/// character set), else `None`: sign-in never sends the browser elsewhere.
pub fn safe_next<'a>(next: Option<&'a str>, public: &PublicOrigin) -> Option<&'a str> {
    next.filter(|next| next.starts_with('/') && is_safe_callback(next, public))
}

/// A complete page: `title` (plain text) and `main` (HTML, already escaped by its builder).
/// Pages are never cached: they may carry a user's data or a one-time token.
pub fn page(title: &str, main: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Gatehouse</title><link rel=\"stylesheet\" href=\"{css}\">\
         <script src=\"{js}\" defer></script></head><body>\
         <header class=\"top\"><a class=\"brand\" href=\"/\">Gatehouse</a><nav aria-label=\"Main\">\
         <a href=\"/app\">App</a><a href=\"/account\">Account</a><a href=\"/sign-in\">Sign in</a>\
         </nav></header><main id=\"main\"><h1>{title}</h1>\
         <noscript><p class=\"notice\">These forms need JavaScript. Pages and links work without it.</p></noscript>\
         {main}</main></body></html>\n",
        title = escape(title),
        css = css_url(),
        js = js_url(),
    );
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
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
    /// Extra attributes (trusted, written by pages: `minlength="8"`, `value="…"` escaped).
    pub extra: &'a str,
}

impl Field<'_> {
    fn render(&self, form: &str) -> String {
        let id = format!("{form}-{}", self.name);
        let required = if self.kind == "checkbox" {
            ""
        } else {
            " required"
        };
        let input = format!(
            "<input id=\"{id}\" name=\"{name}\" type=\"{kind}\" autocomplete=\"{ac}\"{required} \
             aria-describedby=\"{id}-error\" {extra}>",
            name = self.name,
            kind = self.kind,
            ac = self.autocomplete,
            extra = self.extra,
        );
        let label = format!("<label for=\"{id}\">{}</label>", escape(self.label));
        let (first, second) = if self.kind == "checkbox" {
            (input, label)
        } else {
            (label, input)
        };
        format!(
            "<div class=\"field {kind}\">{first}{second}<p class=\"field-error\" id=\"{id}-error\"></p></div>",
            kind = self.kind
        )
    }
}

/// A form the script submits as JSON to `api` with `data-*` saying what success does
/// (`data_attrs`, trusted); `hidden` are extra JSON fields as `(name, value)` pairs (escaped).
pub fn form(
    id: &str,
    api: &str,
    data_attrs: &str,
    fields: &[Field<'_>],
    hidden: &[(&str, &str)],
    submit: &str,
) -> String {
    let mut out = format!(
        "<form id=\"{id}\" method=\"post\" data-api=\"{api}\" {data_attrs} aria-describedby=\"{id}-alert\">\
         <div class=\"form-error\" role=\"alert\" id=\"{id}-alert\"></div>\
         <p class=\"form-status\" role=\"status\" id=\"{id}-status\"></p>"
    );
    for (name, value) in hidden {
        out.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        ));
    }
    for field in fields {
        out.push_str(&field.render(id));
    }
    out.push_str(&format!(
        "<button type=\"submit\">{}</button></form>",
        escape(submit)
    ));
    out
}

/// An email input.
pub fn email_field(autocomplete: &str) -> Field<'_> {
    Field {
        name: "email",
        label: "Email address",
        kind: "email",
        autocomplete,
        extra: "",
    }
}

/// A password input named `name`.
pub fn password_field<'a>(name: &'a str, label: &'a str, autocomplete: &'a str) -> Field<'a> {
    Field {
        name,
        label,
        kind: "password",
        autocomplete,
        extra: if autocomplete == "new-password" {
            "minlength=\"8\""
        } else {
            ""
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
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
            "",
            &[email_field("email")],
            &[("token", "\"><b>")],
            "Go",
        );
        assert!(html.contains("<label for=\"f-email\">"));
        assert!(html.contains("id=\"f-email\""));
        assert!(html.contains("aria-describedby=\"f-email-error\""));
        assert!(html.contains("id=\"f-email-error\""));
        assert!(html.contains("role=\"alert\""));
        assert!(!html.contains("<b>"));
    }
}

//! `GET /dev/mailbox` (development only, DESIGN §8): identity's outbox as a page, newest mail
//! first, with its To, Subject, time, text and clickable links. It exists only while identity
//! keeps an outbox (`SMTP_URL` unset); otherwise `404`. Every value is HTML-escaped.

use service_kit::html::escape_html;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderValue;

use crate::error::EdgeError;
use crate::identity::OutboxMail;
use crate::AppState;

/// The page allows no scripts, styles from elsewhere or frames.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// `GET /dev/mailbox`.
pub async fn dev_mailbox(State(state): State<AppState>) -> Result<Response, EdgeError> {
    let Some(outbox) = state.identity.outbox().await? else {
        return Err(EdgeError::NotFound);
    };
    let page = render(&outbox.messages);
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                http::header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
        ],
        page,
    )
        .into_response())
}

fn render(mails: &[OutboxMail]) -> String {
    let mut page = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Development mailbox</title>\
         <style>body{font-family:sans-serif;max-width:60em;margin:2em auto}article{border:1px solid #ccc;\
         padding:1em;margin:1em 0}pre{white-space:pre-wrap}</style></head><body>\
         <h1>Development mailbox</h1><p>Mail identity would have sent (SMTP_URL is unset), newest first.</p>\n",
    );
    if mails.is_empty() {
        page.push_str("<p>No mail yet.</p>\n");
    }
    for mail in mails {
        page.push_str(&format!(
            "<article><dl><dt>To</dt><dd class=\"to\">{}</dd><dt>Subject</dt><dd class=\"subject\">{}</dd>\
             <dt>Time</dt><dd><time datetime=\"{time}\">{time}</time></dd></dl><ul>",
            escape_html(&mail.to),
            escape_html(&mail.subject),
            time = escape_html(&mail.sent_at),
        ));
        for link in mail.links.iter().filter(|link| is_web_link(link)) {
            let link = escape_html(link);
            page.push_str(&format!("<li><a href=\"{link}\">{link}</a></li>"));
        }
        page.push_str(&format!(
            "</ul><pre>{}</pre></article>\n",
            escape_html(&mail.text)
        ));
    }
    page.push_str("</body></html>\n");
    page
}

/// Only http(s) links become clickable (never `javascript:` and the like).
fn is_web_link(link: &str) -> bool {
    link.starts_with("http://") || link.starts_with("https://")
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped_and_only_web_links_are_clickable() {
        let mails = [OutboxMail {
            to: "<b>@example.com".into(),
            subject: "\"quoted\" & <i>".into(),
            sent_at: "2025-01-01T00:00:00.000Z".into(),
            text: "<script>alert(1)</script>".into(),
            links: vec![
                "http://h/api/auth/verify-email?token=t&callbackURL=/v\"><script>".into(),
                "javascript:alert(1)".into(),
            ],
        }];
        let page = render(&mails);
        assert!(
            !page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"),
            "{page}"
        );
        assert!(page.contains("href=\"http://h/api/auth/verify-email?token=t&amp;callbackURL=/v&quot;&gt;&lt;script&gt;\""));
        assert!(!page.contains("href=\"javascript:"));
        assert!(page.contains("&quot;quoted&quot; &amp; &lt;i&gt;"));
    }
}

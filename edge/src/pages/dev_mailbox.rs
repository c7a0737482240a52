//! `GET /dev/mailbox` (development only, DESIGN §8): identity's outbox as a page, newest mail
//! first, with its To, Subject, time, text and clickable links. It exists only while identity
//! keeps mail for it (`DEV_MAILBOX=true`); otherwise `404`. It is a page like the others: the
//! same skeleton and, from the pages' router, the same security headers. Every value is
//! HTML-escaped.

use axum::extract::State;
use axum::response::Response;

use super::html::{escape, page};
use crate::error::EdgeError;
use crate::identity::OutboxMail;
use crate::AppState;

/// `GET /dev/mailbox`.
pub async fn dev_mailbox(State(state): State<AppState>) -> Result<Response, EdgeError> {
    let Some(outbox) = state.identity.outbox().await? else {
        return Err(EdgeError::NotFound);
    };
    Ok(page("Development mailbox", &render(&outbox.messages)))
}

/// The page's main part: one article per mail.
fn render(mails: &[OutboxMail]) -> String {
    let mut main = String::from(
        "<p class=\"notice\">Mail identity keeps instead of sending it (<code>DEV_MAILBOX=true</code>), \
         newest first. Never run a deployment like this: anyone who reaches this page can use every link.</p>\n",
    );
    if mails.is_empty() {
        main.push_str("<p>No mail yet.</p>\n");
    }
    for mail in mails {
        main.push_str(&format!(
            "<article class=\"mail\"><dl class=\"facts\"><dt>To</dt><dd class=\"to\">{}</dd><dt>Subject</dt><dd class=\"subject\">{}</dd>\
             <dt>Time</dt><dd><time datetime=\"{time}\">{time}</time></dd></dl><ul class=\"links\">",
            escape(&mail.to),
            escape(&mail.subject),
            time = escape(&mail.sent_at),
        ));
        for link in mail.links.iter().filter(|link| is_web_link(link)) {
            let link = escape(link);
            main.push_str(&format!("<li><a href=\"{link}\">{link}</a></li>"));
        }
        main.push_str(&format!(
            "</ul><pre>{}</pre></article>\n",
            escape(&mail.text)
        ));
    }
    main
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

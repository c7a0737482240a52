//! `GET /dev/mailbox` (development only, DESIGN §8): identity's outbox as a page, newest mail
//! first, with its To, Subject, time, text and clickable links. It exists only while identity
//! keeps mail for it (`DEV_MAILBOX=true`); otherwise `404`. It is a page like the others: the
//! same skeleton and, from the pages' router, the same security headers.

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};

use super::html::page;
use crate::error::EdgeError;
use crate::identity::OutboxMail;
use crate::AppState;

/// `GET /dev/mailbox`.
pub async fn dev_mailbox(State(state): State<AppState>) -> Result<Response, EdgeError> {
    let Some(outbox) = state.identity.outbox().await? else {
        return Err(EdgeError::NotFound);
    };
    Ok(page("Development mailbox", render(&outbox.messages)))
}

/// The page's main part: one article per mail.
fn render(mails: &[OutboxMail]) -> Markup {
    html! {
        p class="notice" {
            "Mail identity keeps instead of sending it (" code { "DEV_MAILBOX=true" } "), newest \
             first. Never run a deployment like this: anyone who reaches this page can use every link."
        }
        "\n"
        @if mails.is_empty() {
            p { "No mail yet." }
            "\n"
        }
        @for mail in mails {
            article class="mail" {
                dl class="facts" {
                    dt { "To" } dd class="to" { (mail.to) }
                    dt { "Subject" } dd class="subject" { (mail.subject) }
                    dt { "Time" } dd { time datetime=(mail.sent_at) { (mail.sent_at) } }
                }
                ul class="links" {
                    @for link in mail.links.iter().filter(|link| is_web_link(link)) {
                        li { a href=(link) { (link) } }
                    }
                }
                pre { (mail.text) }
            }
            "\n"
        }
    }
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
        let page = render(&mails).into_string();
        assert!(
            !page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"),
            "{page}"
        );
        assert!(page.contains("href=\"http://h/api/auth/verify-email?token=t&amp;callbackURL=/v&quot;&gt;&lt;script&gt;\""));
        assert!(!page.contains("href=\"javascript:"));
        assert!(page.contains("&quot;quoted&quot; &amp; &lt;i&gt;"));
    }
}

//! The development outbox (`SMTP_URL` unset): the newest mails, kept in memory and listed at
//! `GET /v1/dev/outbox` for edge's `/dev/mailbox`. With an SMTP server it does not exist and the
//! endpoint answers `404`. It holds links in clear, which is why it exists in development only.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use service_kit::timefmt::rfc3339_millis;

use super::Mail;
use crate::error::ApiError;
use crate::AppState;

/// Mails kept; older ones are forgotten.
const CAPACITY: usize = 200;

/// The outbox, newest mail first. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    mails: Arc<Mutex<VecDeque<(Mail, i64)>>>,
}

impl Outbox {
    /// Keeps a mail sent at `now` (ms since the epoch).
    pub fn push(&self, mail: Mail, now: i64) {
        let mut mails = self.mails.lock().unwrap_or_else(PoisonError::into_inner);
        mails.push_front((mail, now));
        mails.truncate(CAPACITY);
    }

    /// The mails, newest first.
    pub fn list(&self) -> Vec<(Mail, i64)> {
        self.mails.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }
}

/// One listed mail.
#[derive(Serialize)]
struct OutboxMail {
    to: String,
    subject: String,
    sent_at: String,
    text: String,
    html: String,
    links: Vec<String>,
}

/// `GET /v1/dev/outbox` body.
#[derive(Serialize)]
pub struct OutboxListing {
    messages: Vec<OutboxMail>,
}

/// `GET /v1/dev/outbox` → `{"messages":[{to, subject, sent_at, text, html, links}]}`, newest
/// first; `404` when mail goes to an SMTP server.
pub async fn list_outbox(State(state): State<AppState>) -> Result<Json<OutboxListing>, ApiError> {
    let outbox = state.mailer().outbox().ok_or(ApiError::NotFound)?;
    let messages = outbox
        .list()
        .into_iter()
        .map(|(mail, at)| OutboxMail {
            to: mail.to,
            subject: mail.subject,
            sent_at: rfc3339_millis(at),
            text: mail.text,
            html: mail.html,
            links: mail.links,
        })
        .collect();
    Ok(Json(OutboxListing { messages }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(subject: &str) -> Mail {
        Mail { to: "a@example.com".into(), subject: subject.into(), text: String::new(), html: String::new(), links: Vec::new() }
    }

    #[test]
    fn newest_first_and_bounded() {
        let outbox = Outbox::default();
        for n in 0..CAPACITY + 5 {
            outbox.push(mail(&n.to_string()), n as i64);
        }
        let listed = outbox.list();
        assert_eq!(listed.len(), CAPACITY);
        assert_eq!(listed[0].0.subject, (CAPACITY + 4).to_string());
        assert_eq!(listed[0].1, (CAPACITY + 4) as i64);
    }
}

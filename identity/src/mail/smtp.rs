//! Delivery to an SMTP server with `lettre`: a bounded queue drained by one background worker,
//! which sends mails in the order they were queued and retries a failed send with backoff. The
//! request that queued a mail never waits for it. Failures are logged with the subject and the
//! error only — never the recipient's link or body.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;

use super::{Mail, SmtpUrl};

/// Mails waiting for the worker; beyond this, new mails are dropped (and logged).
const QUEUE_CAPACITY: usize = 1024;
/// Attempts per mail before giving up.
const ATTEMPTS: u32 = 3;
/// Longest wait for one SMTP conversation step.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The sending end of the delivery queue.
#[derive(Clone, Debug)]
pub(super) struct Queue {
    sender: mpsc::Sender<Mail>,
}

impl Queue {
    /// Builds the transport from `SMTP_URL` (no connection yet) and starts the worker, which
    /// ends when the last `Queue` clone is dropped.
    pub(super) fn start(url: &SmtpUrl, from: Mailbox) -> Result<Queue, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|err| format!("SMTP_URL is not usable: {err}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(deliver_in_order(transport, from, receiver));
        Ok(Queue { sender })
    }

    /// Queues a mail; a full queue drops it (the user can ask again) rather than wait.
    pub(super) fn push(&self, mail: Mail) {
        if let Err(err) = self.sender.try_send(mail) {
            let subject = match &err {
                mpsc::error::TrySendError::Full(mail) | mpsc::error::TrySendError::Closed(mail) => &mail.subject,
            };
            tracing::error!(subject, "mail dropped: the delivery queue is full or closed");
        }
    }
}

/// The wait before attempt `attempt + 1`: 1 s, then 4 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(4u64.pow(attempt.saturating_sub(1)))
}

/// Sends every queued mail, one at a time, in order.
async fn deliver_in_order(
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    mut queue: mpsc::Receiver<Mail>,
) {
    while let Some(mail) = queue.recv().await {
        let message = match build_message(&from, &mail) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(subject = %mail.subject, error = %err, "mail not sent: it cannot be built");
                continue;
            }
        };
        for attempt in 1..=ATTEMPTS {
            match transport.send(message.clone()).await {
                Ok(_) => {
                    tracing::info!(subject = %mail.subject, attempt, "mail delivered");
                    break;
                }
                Err(err) if attempt < ATTEMPTS => {
                    tracing::warn!(subject = %mail.subject, attempt, error = %err, "mail delivery failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(err) => {
                    tracing::error!(subject = %mail.subject, attempt, error = %err, "mail delivery failed; giving up");
                }
            }
        }
    }
}

/// The MIME message: `multipart/alternative` with the plain text first, HTML second.
fn build_message(from: &Mailbox, mail: &Mail) -> Result<Message, String> {
    let to: Mailbox = mail.to.parse().map_err(|err| format!("bad recipient: {err}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(4));
    }

    #[test]
    fn a_message_has_both_bodies() {
        let from: Mailbox = "Gatehouse <no-reply@localhost>".parse().unwrap();
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Hello".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
            links: Vec::new(),
        };
        let formatted = String::from_utf8(build_message(&from, &mail).unwrap().formatted()).unwrap();
        assert!(formatted.contains("multipart/alternative"), "{formatted}");
        assert!(formatted.contains("text/plain") && formatted.contains("text/html"));
    }
}

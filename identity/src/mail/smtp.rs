//! One delivery attempt to the SMTP server with `lettre`: the transport built from `SMTP_URL`
//! and the MIME message. An error says whether trying again can help (a `5xx` refusal or a mail
//! that cannot be built will never go through) and carries the server's words only — never the
//! recipient's link or body.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Mail, SmtpUrl};

/// Longest wait for one SMTP conversation step.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a whole delivery attempt (well under the sender's lease).
pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an attempt failed.
#[derive(Debug)]
pub(super) struct SendError {
    /// `true` when no later attempt can succeed.
    pub permanent: bool,
    /// What went wrong, for the log and the row's `last_error`.
    pub reason: String,
}

/// The SMTP transport and the sender address. Cheap to clone (connections are pooled inside).
#[derive(Clone)]
pub(super) struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    /// Builds the transport from `SMTP_URL` (no connection yet); the error names the variable.
    pub(super) fn new(url: &SmtpUrl, from: Mailbox) -> Result<Smtp, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|err| format!("SMTP_URL is not usable: {err}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Smtp { transport, from })
    }

    /// One attempt to hand `mail` to the server, bounded by `ATTEMPT_TIMEOUT`.
    pub(super) async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = build_message(&self.from, mail).map_err(|reason| SendError {
            permanent: true,
            reason,
        })?;
        match tokio::time::timeout(ATTEMPT_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(SendError {
                permanent: err.is_permanent(),
                reason: err.to_string(),
            }),
            Err(_) => Err(SendError {
                permanent: false,
                reason: "the mail server did not answer in time".into(),
            }),
        }
    }
}

/// The MIME message: `multipart/alternative` with the plain text first, HTML second.
fn build_message(from: &Mailbox, mail: &Mail) -> Result<Message, String> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|err| format!("bad recipient: {err}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let formatted =
            String::from_utf8(build_message(&from, &mail).unwrap().formatted()).unwrap();
        assert!(formatted.contains("multipart/alternative"), "{formatted}");
        assert!(formatted.contains("text/plain") && formatted.contains("text/html"));
    }

    #[tokio::test]
    async fn a_mail_that_cannot_be_built_fails_for_good() {
        let url: SmtpUrl = "smtp://127.0.0.1:9".parse().unwrap();
        let smtp = Smtp::new(&url, "Gatehouse <no-reply@localhost>".parse().unwrap()).unwrap();
        let mail = Mail {
            to: "not an address".into(),
            subject: "s".into(),
            text: String::new(),
            html: String::new(),
            links: Vec::new(),
        };
        let error = smtp.send(&mail).await.unwrap_err();
        assert!(error.permanent, "{error:?}");
    }
}

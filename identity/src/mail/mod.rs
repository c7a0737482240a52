//! Outgoing mail: what a mail is (`Mail`), how it is written (`compose`), and where it goes —
//! an SMTP server through a bounded background queue (`smtp`), or, when `SMTP_URL` is unset, the
//! development outbox (`outbox`). Sending never waits for a mail server and never fails the
//! request that caused it. A mail carries a secret link: its `Debug` shows only the recipient and
//! subject, and no log line ever holds a body or a link.

pub mod compose;
pub mod outbox;
mod smtp;

use std::fmt;
use std::str::FromStr;

use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;

pub use outbox::{list_outbox, Outbox};

/// One mail to one recipient, with a plain-text and an HTML body.
#[derive(Clone)]
pub struct Mail {
    /// The recipient's normalised address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body (holds the links in clear).
    pub text: String,
    /// The HTML body.
    pub html: String,
    /// The links the mail carries, in order (the development mailbox makes them clickable).
    pub links: Vec<String>,
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// `SMTP_URL`: `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS),
/// `smtps://host:port` (implicit TLS), credentials in the userinfo. Its `Debug` is redacted
/// because the userinfo may hold a password.
#[derive(Clone)]
pub struct SmtpUrl(SecretString);

impl SmtpUrl {
    /// The URL in clear, for the transport only.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl FromStr for SmtpUrl {
    type Err = String;

    fn from_str(value: &str) -> Result<SmtpUrl, String> {
        if !(value.starts_with("smtp://") || value.starts_with("smtps://")) {
            return Err("must be an smtp:// or smtps:// URL".into());
        }
        Ok(SmtpUrl(SecretString::from(value)))
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpUrl(<redacted>)")
    }
}

/// Where mail goes.
#[derive(Clone, Debug)]
enum Delivery {
    /// To the SMTP worker's queue.
    Smtp(smtp::Queue),
    /// Into the development outbox.
    Outbox(Outbox),
}

/// Sends mail without waiting for it to be delivered. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Mailer {
    delivery: Delivery,
    public_url: String,
}

impl Mailer {
    /// Checks `SMTP_URL` and `MAIL_FROM` and, with an SMTP server, starts the delivery worker
    /// (it ends when the last `Mailer` clone is dropped). The error names the variable.
    pub fn start(config: &Config) -> Result<Mailer, String> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|err| format!("MAIL_FROM must be an address like `Gatehouse <no-reply@example.com>`: {err}"))?;
        let delivery = match &config.smtp_url {
            Some(url) => Delivery::Smtp(smtp::Queue::start(url, from)?),
            None => {
                tracing::warn!(
                    "SMTP_URL is unset: development mode. Mail (with its verification and reset \
                     links) goes to the outbox, which edge shows at /dev/mailbox to anyone who can \
                     reach it. Set SMTP_URL in production."
                );
                Delivery::Outbox(Outbox::default())
            }
        };
        let public_url = config.public_url.trim_end_matches('/').to_owned();
        Ok(Mailer { delivery, public_url })
    }

    /// Hands a mail over for delivery at `now` (ms since the epoch); never waits for a server.
    pub fn send(&self, mail: Mail, now: i64) {
        match &self.delivery {
            Delivery::Smtp(queue) => queue.push(mail),
            Delivery::Outbox(outbox) => outbox.push(mail, now),
        }
    }

    /// The development outbox, which exists only when `SMTP_URL` is unset.
    pub fn outbox(&self) -> Option<&Outbox> {
        match &self.delivery {
            Delivery::Outbox(outbox) => Some(outbox),
            Delivery::Smtp(_) => None,
        }
    }

    /// `PUBLIC_URL` without a trailing `/`: the base of every link in a mail.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_mail_and_an_smtp_url_never_show_their_secrets_in_debug() {
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Reset".into(),
            text: "https://x/reset-password/s3cret".into(),
            html: "s3cret".into(),
            links: vec!["s3cret".into()],
        };
        assert!(!format!("{mail:?}").contains("s3cret"));
        let url: SmtpUrl = "smtp://user:hunter22@mail:25".parse().unwrap();
        assert!(!format!("{url:?}").contains("hunter22"));
        assert!("http://mail:25".parse::<SmtpUrl>().is_err());
    }

    #[tokio::test]
    async fn without_smtp_url_mail_goes_to_the_outbox_and_a_bad_sender_is_named() {
        let config = Config::try_parse_from(["identity"]).unwrap();
        let mailer = Mailer::start(&config).unwrap();
        assert!(mailer.outbox().is_some());
        let config = Config::try_parse_from(["identity", "--smtp-url", "smtp://127.0.0.1:2525"]).unwrap();
        assert!(Mailer::start(&config).unwrap().outbox().is_none());
        let config = Config::try_parse_from(["identity", "--mail-from", "not an address"]).unwrap();
        assert!(Mailer::start(&config).unwrap_err().starts_with("MAIL_FROM"));
    }
}

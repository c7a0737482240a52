//! Outgoing mail: what a mail is (`Mail`), how it is written (`compose`), the durable outbox it
//! is written to in the transaction that creates its link (`outbox`), and the sender that
//! delivers it to the SMTP server with retries (`sender`, `smtp`) — or, with `DEV_MAILBOX=true`,
//! keeps it for edge's `/dev/mailbox`. A request never waits for a mail server and never fails
//! because of one. A mail carries a secret link: its `Debug` shows only the recipient and
//! subject, and no log line ever holds a body or a link.

pub mod compose;
pub mod outbox;
pub mod sender;
mod smtp;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};
use service_kit::db::Database;
use service_kit::Clock;
use sqlx::{Any, Executor};
use tokio::sync::{Notify, Semaphore};

use crate::config::Config;

pub use outbox::{list_outbox, pending_count};

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

/// What a mail is for: it decides the priority and the quota kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    /// A password-reset link: sent before anything else.
    PasswordReset,
    /// An email-verification link.
    EmailVerification,
    /// The notice to an account's owner that someone tried to sign up with their address.
    SignUpNotice,
}

impl MailKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "reset-password",
            MailKind::EmailVerification => "verify-email",
            MailKind::SignUpNotice => "sign-up-notice",
        }
    }

    /// Lower goes first; password reset has a sender lane of its own for priority 0.
    pub fn priority(self) -> i64 {
        match self {
            MailKind::PasswordReset => 0,
            MailKind::EmailVerification | MailKind::SignUpNotice => 1,
        }
    }
}

/// Where mail goes.
enum Delivery {
    /// To the SMTP server, by the sender tasks.
    Smtp(sender::Senders),
    /// Kept in the outbox for the development mailbox (`DEV_MAILBOX=true`).
    DevMailbox,
}

/// Background mail work a stopping identity waits for (more runs, untracked).
const TRACKED_TASKS: u32 = 1 << 16;
/// How long a stopping identity waits for that work.
const AFTER_ANSWER_GRACE: Duration = Duration::from_secs(10);

struct Shared {
    delivery: Delivery,
    public_url: String,
    /// Wakes the senders after a mail is committed.
    wake: Arc<Notify>,
    /// One permit per running `spawn_after_answer` task.
    after_answer: Arc<Semaphore>,
}

/// Writes mail to the outbox and wakes its senders. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Shared>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("dev_mailbox", &self.dev_mailbox())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks `MAIL_FROM` and `SMTP_URL` and, with an SMTP server, starts the senders over `db`
    /// (they stop with [`Mailer::stop`] or when the last clone is dropped). The error names the
    /// variable.
    pub fn start(config: &Config, db: &Database, clock: Clock) -> Result<Mailer, String> {
        let from: Mailbox = config.mail_from.parse().map_err(|err| {
            format!("MAIL_FROM must be an address like `Gatehouse <no-reply@example.com>`: {err}")
        })?;
        config.check_mail_settings()?;
        let wake = Arc::new(Notify::new());
        let delivery = match &config.smtp_url {
            Some(url) => {
                let smtp = smtp::Smtp::new(url, from)?;
                Delivery::Smtp(sender::Senders::start(
                    db.clone(),
                    smtp,
                    clock,
                    wake.clone(),
                ))
            }
            None => Delivery::DevMailbox,
        };
        let public_url = config.public_url.trim_end_matches('/').to_owned();
        let after_answer = Arc::new(Semaphore::new(TRACKED_TASKS as usize));
        Ok(Mailer {
            inner: Arc::new(Shared {
                delivery,
                public_url,
                wake,
                after_answer,
            }),
        })
    }

    /// Writes `mail` to the outbox in the caller's transaction; call [`Mailer::wake`] once it
    /// has committed. The sender gives it up if it cannot go out before `expires_at`.
    pub async fn write<'e>(
        &self,
        executor: impl Executor<'e, Database = Any>,
        mail: &Mail,
        kind: MailKind,
        now: i64,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        outbox::write(executor, mail, kind, self.dev_mailbox(), now, expires_at).await
    }

    /// Runs `work` — a request's mail, looked up and written after its answer so the answer's
    /// timing tells nothing — in the background; a stopping identity waits for it, so its mail is
    /// in the outbox before the senders stop.
    pub fn spawn_after_answer(&self, work: impl Future<Output = ()> + Send + 'static) {
        let permit = self.inner.after_answer.clone().try_acquire_owned().ok();
        tokio::spawn(async move {
            work.await;
            drop(permit);
        });
    }

    /// Wakes this process's senders: a mail has been committed.
    pub fn wake(&self) {
        self.inner.wake.notify_waiters();
    }

    /// Whether mail is kept for the development mailbox (`DEV_MAILBOX=true`) instead of sent.
    pub fn dev_mailbox(&self) -> bool {
        matches!(self.inner.delivery, Delivery::DevMailbox)
    }

    /// A stopping identity: waits for the mail work of answered requests, then stops the senders
    /// after the attempts in hand.
    pub async fn stop(&self) {
        let all_done = self.inner.after_answer.acquire_many(TRACKED_TASKS);
        if tokio::time::timeout(AFTER_ANSWER_GRACE, all_done)
            .await
            .is_err()
        {
            tracing::warn!("mail of answered requests still being written at stop");
        }
        if let Delivery::Smtp(senders) = &self.inner.delivery {
            senders.stop().await;
        }
    }

    /// `PUBLIC_URL` without a trailing `/`: the base of every link in a mail.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
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
    async fn mail_goes_to_exactly_one_place_and_a_bad_sender_is_named() {
        let (_dir, db) = outbox::tests::store().await;
        let start = |args: &[&str]| {
            let config = Config::try_parse_from(["identity"].iter().chain(args)).unwrap();
            Mailer::start(&config, &db, Clock::adjustable())
        };
        assert!(start(&["--dev-mailbox", "true"]).unwrap().dev_mailbox());
        let smtp = start(&["--smtp-url", "smtp://127.0.0.1:2525"]).unwrap();
        assert!(!smtp.dev_mailbox());
        smtp.stop().await;
        let neither = start(&[]).unwrap_err();
        assert!(
            neither.contains("SMTP_URL") && neither.contains("DEV_MAILBOX"),
            "{neither}"
        );
        let both = start(&[
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--dev-mailbox",
            "true",
        ])
        .unwrap_err();
        assert!(
            both.contains("SMTP_URL") && both.contains("DEV_MAILBOX"),
            "{both}"
        );
        assert!(
            start(&["--dev-mailbox", "true", "--mail-from", "not an address"])
                .unwrap_err()
                .starts_with("MAIL_FROM")
        );
    }

    #[tokio::test]
    async fn a_stopping_mailer_waits_for_the_mail_work_of_answered_requests() {
        let (_dir, db) = outbox::tests::store().await;
        let config = Config::try_parse_from(["identity", "--dev-mailbox", "true"]).unwrap();
        let mailer = Mailer::start(&config, &db, Clock::adjustable()).unwrap();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        mailer.spawn_after_answer(async move {
            let _ = released.await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        // However long it is given, stop does not finish while the work runs.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), mailer.stop())
                .await
                .is_err()
        );
        release.send(()).unwrap();
        mailer.stop().await;
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }
}

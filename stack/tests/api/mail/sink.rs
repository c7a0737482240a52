//! The SMTP sink the mail tests deliver to: Python's aiosmtpd in a child process, writing each
//! message as one JSON line that the tests poll.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;
use test_support::eventually;

use super::MAIL_DEADLINE;

/// The aiosmtpd handler: every message becomes one JSON line (recipients, subject, decoded
/// bodies), written with a single call so a reader never sees half a line.
const SINK_HANDLER: &str = r#"
import email, json
from email import policy

class Sink:
    def __init__(self, path):
        self.path = path

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "to": envelope.rcpt_tos,
            "from": str(message["from"]),
            "subject": str(message["subject"]),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"
"#;

/// A real SMTP server in a child process, killed on drop.
pub(crate) struct SmtpSink {
    child: Child,
    port: u16,
    mailbox: PathBuf,
    _dir: TempDir,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free port and waits until it accepts connections; `None` (test
    /// skipped) when Python or aiosmtpd is missing — which fails instead when `CI=true`.
    pub(crate) async fn start() -> Option<SmtpSink> {
        SmtpSink::start_on(free_port()).await
    }

    /// Whether aiosmtpd can run here; `false` (test skipped, after saying why) when Python or
    /// aiosmtpd is missing — which fails instead when `CI=true`.
    pub(crate) fn available() -> bool {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output();
        let missing = match probe {
            Ok(output) if output.status.success() => None,
            Ok(output) => Some(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
            Err(err) => Some(format!("python3 cannot be run: {err}")),
        };
        if let Some(why) = missing {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("aiosmtpd is required when CI=true (pip install aiosmtpd): {why}");
            }
            eprintln!("skipping a real-SMTP test: aiosmtpd is not available ({why})");
            return false;
        }
        true
    }

    /// Starts aiosmtpd on `port` (one that was refused until now, say).
    pub(crate) async fn start_on(port: u16) -> Option<SmtpSink> {
        if !SmtpSink::available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut handler =
            std::fs::File::create(dir.path().join("gatehouse_sink.py")).expect("handler file");
        handler
            .write_all(SINK_HANDLER.as_bytes())
            .expect("handler written");
        let mailbox = dir.path().join("mailbox.jsonl");
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "gatehouse_sink.Sink",
            ])
            .arg(&mailbox)
            .env("PYTHONPATH", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let mut sink = SmtpSink {
            child,
            port,
            mailbox,
            _dir: dir,
        };
        eventually(
            MAIL_DEADLINE,
            &format!("aiosmtpd listening on {port}"),
            || {
                if let Ok(Some(status)) = sink.child.try_wait() {
                    panic!("aiosmtpd exited before listening: {status}");
                }
                tokio::net::TcpStream::connect(("127.0.0.1", port))
            },
        )
        .await;
        Some(sink)
    }

    /// `SMTP_URL` for identity.
    pub(crate) fn url(&self) -> identity::mail::SmtpUrl {
        format!("smtp://127.0.0.1:{}", self.port)
            .parse()
            .expect("an smtp URL")
    }

    /// Every mail received so far, oldest first.
    pub(crate) fn mails(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.mailbox).unwrap_or_default();
        text.split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// The mails to `to` with `subject`.
    pub(crate) fn mails_to(&self, to: &str, subject: &str) -> Vec<Value> {
        self.mails()
            .into_iter()
            .filter(|mail| is_to(mail, to) && mail["subject"] == subject)
            .collect()
    }

    /// Waits until `count` mails to `to` with `subject` have arrived; returns them.
    pub(crate) async fn wait_for(&self, to: &str, subject: &str, count: usize) -> Vec<Value> {
        let what = format!("{count} mail(s) {subject:?} to {to} arrive");
        eventually(MAIL_DEADLINE, &what, || async {
            let mails = self.mails_to(to, subject);
            if mails.len() >= count {
                return Ok(mails);
            }
            let seen: Vec<_> = self
                .mails()
                .iter()
                .map(|mail| (mail["to"].clone(), mail["subject"].clone()))
                .collect();
            Err(format!("mailbox: {seen:?}"))
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on (yet).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// `SMTP_URL` for a server on `port` of this host.
pub(crate) fn smtp_url_on(port: u16) -> identity::mail::SmtpUrl {
    format!("smtp://127.0.0.1:{port}")
        .parse()
        .expect("an smtp URL")
}

pub(crate) fn is_to(mail: &Value, to: &str) -> bool {
    mail["to"]
        .as_array()
        .is_some_and(|list| list.iter().any(|address| address == to))
}

//! The texts of identity's mails and their links, which follow Better-Auth's flow (DESIGN §8):
//! verification `{PUBLIC_URL}/api/auth/verify-email?token=…&callbackURL=…`, reset
//! `{PUBLIC_URL}/api/auth/reset-password/<token>?callbackURL=…`; the sign-up notice links the
//! sign-in and forgot-password pages. The HTML parts are built with `maud`, which escapes every
//! value it splices in.

use maud::{html, Markup, DOCTYPE};

use super::Mail;

/// Where a verification link lands when no callback was asked for.
pub const DEFAULT_VERIFY_CALLBACK: &str = "/verify-email";
/// Where a reset link lands when no callback was asked for.
pub const DEFAULT_RESET_CALLBACK: &str = "/reset-password";

/// The mail that verifies `to`'s address; `ttl_text` says how long the link works ("24 hours").
pub fn verification_mail(
    public_url: &str,
    to: &str,
    token: &str,
    callback: &str,
    ttl_text: &str,
) -> Mail {
    let link = format!(
        "{public_url}/api/auth/verify-email?token={token}&callbackURL={}",
        encode_query_value(callback)
    );
    let text = format!(
        "Hello,\n\nPlease confirm your email address for Gatehouse by opening this link:\n\n{link}\n\n\
         The link works once and expires in {ttl_text}. If you did not sign up, ignore this mail.\n"
    );
    let html = html_page(
        "Confirm your email address",
        "Please confirm your email address for Gatehouse:",
        &link,
        "Confirm my email address",
        &format!("The link works once and expires in {ttl_text}. If you did not sign up, ignore this mail."),
    );
    Mail {
        to: to.to_owned(),
        subject: "Confirm your email address".into(),
        text,
        html,
        links: vec![link],
    }
}

/// The mail with a password-reset link for `to`.
pub fn reset_mail(public_url: &str, to: &str, token: &str, callback: &str, ttl_text: &str) -> Mail {
    password_link_mail(&RESET, public_url, to, token, callback, ttl_text)
}

/// The same link for `to` when the account has no password yet (a user who signs in through a
/// provider, DESIGN §17): the reset page sets their first one, and the mail says so.
pub fn set_password_mail(
    public_url: &str,
    to: &str,
    token: &str,
    callback: &str,
    ttl_text: &str,
) -> Mail {
    password_link_mail(&SET_PASSWORD, public_url, to, token, callback, ttl_text)
}

/// What a password-link mail says.
struct PasswordLinkWords {
    subject: &'static str,
    /// Ends where ", open this link:" (text) or ":" (HTML) follows.
    asked: &'static str,
    button: &'static str,
    not_you: &'static str,
}

const RESET: PasswordLinkWords = PasswordLinkWords {
    subject: "Reset your password",
    asked: "Someone asked to reset the password of your Gatehouse account. To choose a new \
            password",
    button: "Choose a new password",
    not_you: "If it was not you, ignore this mail: your password stays as it is.",
};

const SET_PASSWORD: PasswordLinkWords = PasswordLinkWords {
    subject: "Set a password for your account",
    asked: "Someone asked to set a password for your Gatehouse account, which you sign in to \
            through a provider. To choose one, so that you can also sign in with your email \
            address",
    button: "Choose a password",
    not_you: "If it was not you, ignore this mail: nothing changes.",
};

/// A `{PUBLIC_URL}/api/auth/reset-password/<token>?callbackURL=…` link in `words`.
fn password_link_mail(
    words: &PasswordLinkWords,
    public_url: &str,
    to: &str,
    token: &str,
    callback: &str,
    ttl_text: &str,
) -> Mail {
    let link = format!(
        "{public_url}/api/auth/reset-password/{token}?callbackURL={}",
        encode_query_value(callback)
    );
    let text = format!(
        "Hello,\n\n{}, open this link:\n\n{link}\n\nThe link works once and expires in {ttl_text}. {}\n",
        words.asked, words.not_you
    );
    let html = html_page(
        words.subject,
        &format!("{}:", words.asked),
        &link,
        words.button,
        &format!(
            "The link works once and expires in {ttl_text}. {}",
            words.not_you
        ),
    );
    Mail {
        to: to.to_owned(),
        subject: words.subject.into(),
        text,
        html,
        links: vec![link],
    }
}

/// The notice to `to`, who has an account, that someone tried to sign up with the address
/// (DESIGN §14): it carries no token, only the sign-in page and the page that mails a reset link.
pub fn sign_up_notice_mail(public_url: &str, to: &str) -> Mail {
    let sign_in = format!("{public_url}/sign-in");
    let reset = format!("{public_url}/forgot-password");
    let text = format!(
        "Hello,\n\nSomeone tried to sign up for Gatehouse with your email address, which already has an \
         account. If it was you, sign in:\n\n{sign_in}\n\nor, if you forgot your password, reset it:\n\n{reset}\n\n\
         If it was not you, ignore this mail: nothing has changed.\n"
    );
    let html = sign_up_notice_html(&sign_in, &reset).into_string();
    Mail {
        to: to.to_owned(),
        subject: SIGN_UP_NOTICE_SUBJECT.into(),
        text,
        html,
        links: vec![sign_in, reset],
    }
}

/// The subject of the sign-up notice.
pub const SIGN_UP_NOTICE_SUBJECT: &str = "Sign-up attempt with your email address";

/// A duration as a mail states it: whole days, hours or minutes.
pub fn ttl_text(ttl: std::time::Duration) -> String {
    let seconds = ttl.as_secs();
    let (count, unit) = match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// The HTML part of a mail with one link: a button-like anchor and the address to copy.
fn html_page(title: &str, intro: &str, link: &str, button: &str, note: &str) -> String {
    document(
        title,
        html! {
            p { "Hello," }
            p { (intro) }
            p { a href=(link) { (button) } }
            p { "Or copy this address into your browser: " (link) }
            p { (note) }
        },
    )
    .into_string()
}

/// The sign-up notice's HTML part.
fn sign_up_notice_html(sign_in: &str, reset: &str) -> Markup {
    document(
        SIGN_UP_NOTICE_SUBJECT,
        html! {
            p { "Hello," }
            p {
                "Someone tried to sign up for Gatehouse with your email address, which already has \
                 an account."
            }
            p {
                "If it was you: " a href=(sign_in) { "sign in" } ", or, if you forgot your password, "
                a href=(reset) { "reset it" } "."
            }
            p { "Or copy one of these addresses into your browser: " (sign_in) " or " (reset) }
            p { "If it was not you, ignore this mail: nothing has changed." }
        },
    )
}

/// A mail's HTML document around its `body`.
fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
            }
            body { (body) }
        }
    }
}

/// Percent-encodes a query value, leaving unreserved characters and `/` as they are (so the
/// default callback reads `/verify-email`).
fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn links_follow_the_better_auth_flow() {
        let mail = verification_mail(
            "http://127.0.0.1:8080",
            "a@example.com",
            "TOKEN",
            DEFAULT_VERIFY_CALLBACK,
            "1 day",
        );
        assert_eq!(
            mail.links,
            ["http://127.0.0.1:8080/api/auth/verify-email?token=TOKEN&callbackURL=/verify-email"]
        );
        assert!(mail.text.contains(&mail.links[0]));
        let mail = reset_mail(
            "https://auth.example",
            "a@example.com",
            "TOKEN",
            "/reset-password?x=1&y",
            "1 hour",
        );
        assert_eq!(mail.links, ["https://auth.example/api/auth/reset-password/TOKEN?callbackURL=/reset-password%3Fx%3D1%26y"]);
        assert!(mail
            .html
            .contains("callbackURL=/reset-password%3Fx%3D1%26y"));
    }

    #[test]
    fn a_user_without_a_password_is_told_the_link_sets_one() {
        let set = set_password_mail(
            "http://h",
            "a@example.com",
            "T",
            "/reset-password",
            "1 hour",
        );
        let reset = reset_mail(
            "http://h",
            "a@example.com",
            "T",
            "/reset-password",
            "1 hour",
        );
        assert_eq!(
            set.links, reset.links,
            "the same reset page sets the first password"
        );
        assert_eq!(set.subject, "Set a password for your account");
        assert!(set.text.contains("set a password") && set.text.contains(&set.links[0]));
        assert!(!set.text.contains("reset the password"), "{}", set.text);
        assert!(set.html.contains("Choose a password"));
        assert_eq!(reset.subject, "Reset your password");
        assert!(reset.text.contains("reset the password"));
    }

    #[test]
    fn html_is_escaped() {
        let mail = reset_mail("http://h", "a@example.com", "T", "/p?a=<b>", "1 hour");
        assert!(!mail.html.contains("<b>"));
        let html = html_page(
            "<script>\"t\"</script>",
            "<script>",
            "http://h/\"><script>",
            "<script>",
            "'<script>'",
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<title>&lt;script&gt;&quot;t&quot;&lt;/script&gt;</title>"));
        assert!(html.contains("href=\"http://h/&quot;&gt;&lt;script&gt;\""));
    }

    #[test]
    fn the_sign_up_notice_escapes_its_links() {
        let html = sign_up_notice_html("http://h/\"><script>", "<script>'x'").into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("href=\"http://h/&quot;&gt;&lt;script&gt;\""));
        assert!(html.contains(" or &lt;script&gt;'x'</p>"));
    }

    #[test]
    fn the_sign_up_notice_points_to_sign_in_and_reset_and_carries_no_token() {
        let mail = sign_up_notice_mail("https://auth.example", "a@example.com");
        assert_eq!(
            mail.links,
            [
                "https://auth.example/sign-in",
                "https://auth.example/forgot-password"
            ]
        );
        assert!(
            mail.text.contains("https://auth.example/forgot-password")
                && mail.text.contains("tried to sign up")
        );
        assert!(mail.html.contains("href=\"https://auth.example/sign-in\""));
        assert!(!mail.text.contains("token"));
    }

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(ttl_text(Duration::from_secs(86_400)), "1 day");
        assert_eq!(ttl_text(Duration::from_secs(3_600)), "1 hour");
        assert_eq!(ttl_text(Duration::from_secs(90 * 60)), "90 minutes");
        assert_eq!(ttl_text(Duration::from_secs(30)), "30 seconds");
    }
}

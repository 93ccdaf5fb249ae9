//! The mails Hook0 sends a user: the email verification link after registering (or on
//! request) and the password-reset link. Sent over SMTP (`SMTP_CONNECTION_URL`: `smtp://` plain,
//! `smtp://…?tls=required` STARTTLS, `smtps://` TLS); links are built from `APP_URL`, the
//! dashboard's address (`/verify-email?token=…`, `/reset-password?token=…`, upstream's paths).
//!
//! A link holds a token, so mails and links are never logged.

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// An SMTP sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Without the URL, which may hold SMTP credentials.
impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// A mail that could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(String);

impl Mailer {
    /// A sender through the server of `connection_url`, from `sender_name <sender_address>`.
    pub fn new(
        connection_url: &str,
        sender_address: &str,
        sender_name: &str,
        timeout: Duration,
    ) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(connection_url)
            .map_err(|e| MailError(format!("SMTP_CONNECTION_URL: {e}")))?
            .timeout(Some(timeout))
            .build();
        let address = sender_address
            .parse()
            .map_err(|e| MailError(format!("EMAIL_SENDER_ADDRESS: {e}")))?;
        Ok(Self {
            transport,
            from: Mailbox::new(Some(sender_name.to_owned()), address),
        })
    }

    async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError(format!("recipient address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError(e.to_string()))
    }

    /// The link to verify `to`'s email address.
    pub async fn send_verification(
        &self,
        to: &str,
        first_name: &str,
        app_url: &str,
        token: &str,
    ) -> Result<(), MailError> {
        let link = link(app_url, "verify-email", token);
        let body = format!(
            "Hello {first_name},\n\n\
             Welcome to Hook0. Please confirm your email address by opening this link \
             (valid for 24 hours):\n\n{link}\n\n\
             If you did not create an account, ignore this mail.\n"
        );
        self.send(to, "Verify your email address", body).await
    }

    /// The link to choose a new password.
    pub async fn send_password_reset(
        &self,
        to: &str,
        first_name: &str,
        app_url: &str,
        token: &str,
    ) -> Result<(), MailError> {
        let link = link(app_url, "reset-password", token);
        let body = format!(
            "Hello {first_name},\n\n\
             Someone asked to reset the password of your Hook0 account. To choose a new one, \
             open this link (valid for 30 minutes):\n\n{link}\n\n\
             If it was not you, ignore this mail: your password is unchanged.\n"
        );
        self.send(to, "Reset your password", body).await
    }
}

/// `APP_URL/<path>?token=<token>` (Biscuits are URL-safe base64).
pub fn link(app_url: &str, path: &str, token: &str) -> String {
    format!("{}/{path}?token={token}", app_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_join_cleanly() {
        assert_eq!(
            link("https://app.example.com/", "verify-email", "abc_-"),
            "https://app.example.com/verify-email?token=abc_-"
        );
    }

    #[test]
    fn bad_settings_are_reported_without_secrets() {
        let err = Mailer::new("ftp://u:pw@host", "a@b.c", "Hook0", Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("SMTP_CONNECTION_URL"), "{err}");
        assert!(!err.contains("pw"));
        assert!(Mailer::new(
            "smtp://127.0.0.1:2525",
            "not an address",
            "Hook0",
            Duration::from_secs(1)
        )
        .is_err());
        let ok = Mailer::new(
            "smtp://u:secret@127.0.0.1:2525",
            "a@b.c",
            "Hook0",
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{ok:?}").contains("secret"));
    }
}

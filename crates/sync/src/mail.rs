//! Outgoing mail behind one trait: SMTP (lettre) when `TECHHUB_SMTP_URL` is set, otherwise a
//! file sink that writes each message as an `.eml` file, which local runs and tests read.

use std::path::PathBuf;

use futures::future::BoxFuture;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use techhub_core::events::{EmailRequest, EmailTemplate};
use uuid::Uuid;

/// A message ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Sends mail. `id` identifies the message: a sender that can, uses it to send a message
/// once even when asked twice.
pub trait MailSender: Send + Sync {
    fn send<'a>(&'a self, id: Uuid, mail: &'a Mail) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// Renders an email request into a message.
pub fn render(request: &EmailRequest, public_url: &str) -> Mail {
    match &request.template {
        EmailTemplate::VerifyEmail { username, token } => Mail {
            to: request.to.clone(),
            subject: "Confirm your TechHub email address".into(),
            body: format!(
                "Hi {username},\n\nPlease confirm that this is your email address:\n\n  {}/verify-email?token={token}\n\n\
                 or send this token to POST /api/user/verify:\n\n  {token}\n\n\
                 The link is valid for 48 hours. If you did not sign up for TechHub, ignore this message.\n",
                public_url.trim_end_matches('/'),
            ),
        },
    }
}

/// Writes each message to `<dir>/<id>.eml`. A message whose file exists is not written again.
pub struct FileSink {
    dir: PathBuf,
    from: String,
}

impl FileSink {
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        FileSink {
            dir: dir.into(),
            from: from.into(),
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl MailSender for FileSink {
    fn send<'a>(&'a self, id: Uuid, mail: &'a Mail) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let path = self.dir.join(format!("{id}.eml"));
            if tokio::fs::try_exists(&path).await? {
                return Ok(());
            }
            tokio::fs::create_dir_all(&self.dir).await?;
            let message = build(&self.from, mail)?;
            // Write then rename, so a reader never sees half a message.
            let partial = self.dir.join(format!(".{id}.eml.partial"));
            tokio::fs::write(&partial, message.formatted()).await?;
            tokio::fs::rename(&partial, &path).await?;
            Ok(())
        })
    }
}

/// Sends through an SMTP server.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl Smtp {
    /// `url` as lettre reads it: `smtp://host:25`, `smtps://user:pass@host:465`, or
    /// `smtp://user:pass@host:587?tls=required`.
    pub fn new(url: &str, from: impl Into<String>) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("invalid TECHHUB_SMTP_URL: {e}"))?
            .build();
        Ok(Smtp {
            transport,
            from: from.into(),
        })
    }
}

impl MailSender for Smtp {
    fn send<'a>(&'a self, _id: Uuid, mail: &'a Mail) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.transport.send(build(&self.from, mail)?).await?;
            Ok(())
        })
    }
}

fn build(from: &str, mail: &Mail) -> anyhow::Result<Message> {
    let from: Mailbox = from.parse()?;
    let to: Mailbox = mail.to.parse()?;
    Ok(Message::builder()
        .from(from)
        .to(to)
        .subject(&mail.subject)
        .body(mail.body.clone())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> EmailRequest {
        EmailRequest {
            user_id: 1,
            to: "ada@example.com".into(),
            template: EmailTemplate::VerifyEmail {
                username: "ada".into(),
                token: "tok123".into(),
            },
        }
    }

    #[test]
    fn verification_mail_carries_the_token_and_link() {
        let mail = render(&request(), "https://techhub.example/");
        assert_eq!(mail.to, "ada@example.com");
        assert!(
            mail.body
                .contains("https://techhub.example/verify-email?token=tok123"),
            "{}",
            mail.body
        );
    }

    #[tokio::test]
    async fn file_sink_writes_each_message_once() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path(), "TechHub <no-reply@techhub.localhost>");
        let id = Uuid::now_v7();
        let mail = render(&request(), "http://x");
        sink.send(id, &mail).await.unwrap();
        let path = dir.path().join(format!("{id}.eml"));
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.contains("To: ada@example.com"), "{first}");
        assert!(first.contains("tok123"));
        let other = Mail {
            body: "changed".into(),
            ..mail
        };
        sink.send(id, &other).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            first,
            "not written twice"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

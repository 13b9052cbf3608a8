//! Input parsed at the edge into domain types: handlers below the HTTP layer never see a raw
//! string where an [`Email`], [`Username`] or [`Password`] is meant. Each parser returns a
//! [`FieldError`] naming the field and the reason, which the API turns into a 422.

use serde::Serialize;

/// One invalid field and why, e.g. `email: "is not a valid email address"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// An email address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let err = |m: &str| Err(FieldError::new("email", m));
        if email.is_empty() {
            return err("can't be blank");
        }
        if email.chars().count() > Self::MAX_LEN {
            return err(&format!(
                "is too long (maximum is {} characters)",
                Self::MAX_LEN
            ));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return err("is not a valid email address");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return err("is not a valid email address");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username: 1–40 characters of letters, digits, `_` and `-`, trimmed. Case is kept for
/// display; uniqueness is case-insensitive (the database collation compares that way).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let err = |m: String| Err(FieldError::new("username", m));
        if name.is_empty() {
            return err("can't be blank".into());
        }
        if name.chars().count() > Self::MAX_LEN {
            return err(format!(
                "is too long (maximum is {} characters)",
                Self::MAX_LEN
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return err("may only contain letters, digits, '_' and '-'".into());
        }
        Ok(Username(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password: 8 to 1024 characters (long passphrases are welcome). `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if n == 0 {
            return Err(FieldError::new("password", "can't be blank"));
        }
        if n < Self::MIN_LEN {
            return Err(FieldError::new(
                "password",
                format!("is too short (minimum is {} characters)", Self::MIN_LEN),
            ));
        }
        if n > Self::MAX_LEN {
            return Err(FieldError::new(
                "password",
                format!("is too long (maximum is {} characters)", Self::MAX_LEN),
            ));
        }
        Ok(Password(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// Optional free text with a length cap: `bio`, `image`.
pub fn bounded_text(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    if raw.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("is too long (maximum is {max} characters)"),
        ));
    }
    Ok(raw.to_string())
}

/// An image URL: empty, or an absolute `http(s)` URL of at most 2048 characters.
pub fn image_url(raw: &str) -> Result<String, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(String::new());
    }
    bounded_text("image", raw, 2048)?;
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(raw.to_string()),
        _ => Err(FieldError::new("image", "must be an http or https URL")),
    }
}

/// The colour theme a user picked for the web app; `system` follows the device's setting.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// `raw` (trimmed, any case) as a theme, or the error naming `theme` and the choices.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_ascii_lowercase();
        Theme::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = Theme::ALL.iter().map(|t| t.as_str()).collect();
                FieldError::new("theme", format!("must be one of {}", names.join(", ")))
            })
    }
}

impl std::fmt::Display for Theme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest language tag accepted (BCP 47 allows long ones; real ones are short).
pub const MAX_LANGUAGE_CHARS: usize = 35;

/// A language tag such as `en`, `de` or `pt-BR` (BCP 47's shape: a primary language of 2 to
/// 8 letters, then subtags of 1 to 8 letters or digits joined by `-`), trimmed.
pub fn language_tag(raw: &str) -> Result<String, FieldError> {
    let tag = raw.trim();
    let invalid = || FieldError::new("language", "must be a language tag such as en or pt-BR");
    if tag.is_empty() {
        return Err(FieldError::new("language", "can't be blank"));
    }
    if tag.chars().count() > MAX_LANGUAGE_CHARS {
        return Err(FieldError::new(
            "language",
            format!("is too long (maximum is {MAX_LANGUAGE_CHARS} characters)"),
        ));
    }
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    if !(2..=8).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(invalid());
    }
    for part in parts {
        if !(1..=8).contains(&part.len()) || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid());
        }
    }
    Ok(tag.to_string())
}

/// A user's click on a post's favorite button (favoriting it when `on`, taking the favorite
/// back otherwise), as their own reads take it until the relay folds it into the favorite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FavoriteClick {
    pub on: bool,
    /// When it was made (Unix milliseconds).
    pub at_ms: i64,
}

/// Where a post stands. Only `Published` posts are listed, searched or shown to readers other
/// than the author; `Deleted` marks the tombstone a deletion leaves (never returned by a read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    Draft,
    Published,
    Archived,
    Deleted,
}

impl PostStatus {
    /// Every status a stored post may have.
    pub const ALL: [PostStatus; 4] = [
        PostStatus::Draft,
        PostStatus::Published,
        PostStatus::Archived,
        PostStatus::Deleted,
    ];
    /// The statuses an author may set.
    pub const SETTABLE: [PostStatus; 3] = [
        PostStatus::Draft,
        PostStatus::Published,
        PostStatus::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Draft => "draft",
            PostStatus::Published => "published",
            PostStatus::Archived => "archived",
            PostStatus::Deleted => "deleted",
        }
    }

    /// `raw` (trimmed, any case) as one of `allowed`, or the error naming `field` and what
    /// it may be.
    pub fn parse(
        field: &'static str,
        raw: &str,
        allowed: &[PostStatus],
    ) -> Result<Self, FieldError> {
        let value = raw.trim().to_ascii_lowercase();
        allowed
            .iter()
            .copied()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                FieldError::new(field, format!("must be one of {}", names.join(", ")))
            })
    }

    pub fn is_published(self) -> bool {
        self == PostStatus::Published
    }
}

impl std::fmt::Display for PostStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn themes_parse_in_any_case_and_name_the_choices_otherwise() {
        assert_eq!(Theme::parse(" Dark ").unwrap(), Theme::Dark);
        assert_eq!(Theme::parse("light").unwrap(), Theme::Light);
        assert_eq!(Theme::parse("system").unwrap(), Theme::System);
        assert_eq!(Theme::default(), Theme::System);
        for raw in ["", "blue", "darkest"] {
            let e = Theme::parse(raw).unwrap_err();
            assert_eq!(
                (e.field, e.message.as_str()),
                ("theme", "must be one of system, light, dark"),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn language_tags_take_the_bcp47_shape() {
        for ok in ["en", "de", "pt-BR", "zh-Hant-TW", "es-419", " fr "] {
            assert_eq!(language_tag(ok).unwrap(), ok.trim(), "{ok:?}");
        }
        for (raw, why) in [
            ("", "can't be blank"),
            ("e", "must be a language tag such as en or pt-BR"),
            ("en_US", "must be a language tag such as en or pt-BR"),
            ("en-", "must be a language tag such as en or pt-BR"),
            ("12", "must be a language tag such as en or pt-BR"),
            ("<script>", "must be a language tag such as en or pt-BR"),
        ] {
            let e = language_tag(raw).unwrap_err();
            assert_eq!((e.field, e.message.as_str()), ("language", why), "{raw:?}");
        }
        assert!(language_tag(&format!("en-{}", "-abc".repeat(10)))
            .unwrap_err()
            .message
            .contains("too long"));
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn invalid_emails_are_rejected_with_a_reason() {
        for (raw, why) in [
            ("", "can't be blank"),
            ("   ", "can't be blank"),
            ("ada", "is not a valid email address"),
            ("ada@", "is not a valid email address"),
            ("@example.com", "is not a valid email address"),
            ("ada@example", "is not a valid email address"),
            ("a da@example.com", "is not a valid email address"),
            ("ada@exa_mple.com", "is not a valid email address"),
            ("ada..b@example.com", "is not a valid email address"),
        ] {
            let e = Email::parse(raw).unwrap_err();
            assert_eq!((e.field, e.message.as_str()), ("email", why), "{raw:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long)
            .unwrap_err()
            .message
            .contains("too long"));
    }

    #[test]
    fn usernames_keep_case_and_reject_odd_characters() {
        assert_eq!(
            Username::parse(" Ada_Lovelace-1 ").unwrap().as_str(),
            "Ada_Lovelace-1"
        );
        assert_eq!(Username::parse("").unwrap_err().message, "can't be blank");
        assert!(Username::parse("ada lovelace").is_err());
        assert!(Username::parse("ada/../x").is_err());
        assert!(Username::parse(&"a".repeat(41))
            .unwrap_err()
            .message
            .contains("maximum is 40"));
        assert!(Username::parse(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn passwords_need_eight_characters_and_accept_long_passphrases() {
        assert!(Password::parse("1234567")
            .unwrap_err()
            .message
            .contains("minimum is 8"));
        assert!(Password::parse("12345678").is_ok());
        assert!(
            Password::parse(&"correct horse battery staple ".repeat(3)).is_ok(),
            "64+ accepted"
        );
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("hunter2hunter2").unwrap()),
            "Password([redacted])"
        );
    }

    #[test]
    fn post_statuses_parse_from_what_authors_may_set_and_name_the_choices() {
        assert_eq!(
            PostStatus::parse("status", " Draft ", &PostStatus::SETTABLE),
            Ok(PostStatus::Draft)
        );
        let refused = PostStatus::parse("status", "deleted", &PostStatus::SETTABLE).unwrap_err();
        assert_eq!(refused.field, "status");
        assert_eq!(refused.message, "must be one of draft, published, archived");
        assert_eq!(
            serde_json::to_value(PostStatus::Published).unwrap(),
            serde_json::json!("published")
        );
        for status in PostStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<PostStatus>(&json).unwrap(), status);
        }
    }

    #[test]
    fn image_must_be_http() {
        assert_eq!(image_url("").unwrap(), "");
        assert!(image_url("https://example.com/a.png").is_ok());
        assert!(image_url("javascript:alert(1)").is_err());
        assert!(image_url("not a url").is_err());
    }
}

//! Users: registration, login, profile changes and email verification. Every change that
//! other stores must learn of writes its event to the outbox in the same transaction.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::mysql::MySqlRow;
use sqlx::{MySqlConnection, Row};
use techhub_core::domain::{Email, FieldError, Password, Username};
use techhub_core::events::{EmailRequest, EmailTemplate, Event, EventPayload, UserSnapshot};

use crate::error::{duplicate_user_field, AccountsError};
use crate::{outbox, password, MySql};

/// How long an email-verification token stays valid.
pub const VERIFICATION_TTL: Duration = Duration::hours(48);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub email: String,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub role: String,
    pub status: String,
    pub email_verified: bool,
    pub timezone: String,
    pub version: u32,
    pub created_at: DateTime<Utc>,
}

impl User {
    fn from_row(row: &MySqlRow) -> Self {
        User {
            id: row.get("id"),
            email: row.get("email"),
            username: row.get("username"),
            bio: row.get("bio"),
            image: row.get("image"),
            role: row.get("role"),
            status: row.get("status"),
            email_verified: row.get("email_verified"),
            timezone: row.get("timezone"),
            version: row.get("version"),
            created_at: row.get("created_at"),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    pub fn snapshot(&self) -> UserSnapshot {
        UserSnapshot {
            user_id: self.id,
            version: self.version,
            username: self.username.clone(),
            email: self.email.clone(),
            bio: self.bio.clone(),
            image: self.image.clone(),
            timezone: self.timezone.clone(),
            previous_username: None,
        }
    }
}

const USER_COLUMNS: &str =
    "id, email, username, bio, image, CAST(role AS CHAR) AS role, CAST(status AS CHAR) AS status, \
     email_verified, timezone, version, created_at";

pub struct NewUser {
    pub email: Email,
    pub username: Username,
    pub password: Password,
}

/// Changes to a user; `None` leaves a field as it is. `Some(None)` clears bio or image.
#[derive(Default)]
pub struct UserChanges {
    pub email: Option<Email>,
    pub username: Option<Username>,
    pub password: Option<Password>,
    pub bio: Option<Option<String>>,
    pub image: Option<Option<String>>,
}

/// Registers a user with a free subscription, an email-verification token, and the
/// `user.registered` and `email.requested` events, all in one transaction.
pub async fn register(db: &MySql, new: NewUser) -> Result<User, AccountsError> {
    // A cheap early answer for the common duplicate; the unique indexes stay the real guard.
    if let Some(field) = taken(db, Some(&new.email), Some(&new.username), None).await? {
        return Err(AccountsError::Conflict { field });
    }
    let hash = password::hash(&new.password).await;
    let mut tx = db.pool().begin().await?;
    let inserted =
        sqlx::query("INSERT INTO users (email, username, password_hash) VALUES (?, ?, ?)")
            .bind(new.email.as_str())
            .bind(new.username.as_str())
            .bind(&hash)
            .execute(&mut *tx)
            .await;
    let id = match inserted {
        Ok(done) => done.last_insert_id(),
        Err(e) => {
            return Err(match duplicate_user_field(&e) {
                Some(field) => AccountsError::Conflict { field },
                None => e.into(),
            })
        }
    };
    sqlx::query("INSERT INTO subscriptions (user_id, plan_type, price, current_period_end) VALUES (?, 'free', 0, NULL)")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let user = load(&mut tx, id).await?;
    outbox::enqueue(
        &mut tx,
        &Event::new(EventPayload::UserRegistered(user.snapshot())),
    )
    .await?;
    request_verification(&mut tx, &user).await?;
    tx.commit().await?;
    tracing::info!(user.id = id, "user registered");
    Ok(user)
}

/// The user with `email` and `password`, or [`AccountsError::InvalidCredentials`].
pub async fn login(db: &MySql, email: &str, plain: &str) -> Result<User, AccountsError> {
    let email = email.trim().to_lowercase();
    let row = db
        .timed(
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?"
            ))
            .bind(&email)
            .fetch_optional(db.pool()),
        )
        .await?;
    let stored = row.as_ref().map(|r| r.get::<String, _>("password_hash"));
    if !password::verify(plain, stored).await {
        return Err(AccountsError::InvalidCredentials);
    }
    let user = User::from_row(row.as_ref().expect("verified, so the user exists"));
    if user.status != "active" {
        return Err(AccountsError::AccountInactive(user.status));
    }
    sqlx::query("UPDATE users SET last_login_at = NOW(3) WHERE id = ?")
        .bind(user.id)
        .execute(db.pool())
        .await?;
    Ok(user)
}

pub async fn find(db: &MySql, id: u64) -> Result<User, AccountsError> {
    db.timed(
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(db.pool()),
    )
    .await?
    .map(|r| User::from_row(&r))
    .ok_or(AccountsError::NotFound)
}

/// A user after [`update`], with the name it had before when the change renamed it.
#[derive(Debug)]
pub struct Updated {
    pub user: User,
    pub previous_username: Option<String>,
}

/// Applies `changes` and publishes `user.updated` (and a new verification email when the
/// address changed) in one transaction. Changing nothing changes nothing, not even `version`.
pub async fn update(db: &MySql, id: u64, changes: UserChanges) -> Result<Updated, AccountsError> {
    let mut tx = db.pool().begin().await?;
    let current = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = ? FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| User::from_row(&r))
    .ok_or(AccountsError::NotFound)?;

    let email = changes.email.filter(|e| e.as_str() != current.email);
    let username = changes.username.filter(|u| u.as_str() != current.username);
    let bio = changes.bio.filter(|b| *b != current.bio);
    let image = changes.image.filter(|i| *i != current.image);
    if email.is_none()
        && username.is_none()
        && bio.is_none()
        && image.is_none()
        && changes.password.is_none()
    {
        tx.commit().await?;
        return Ok(Updated {
            user: current,
            previous_username: None,
        });
    }
    if let Some(field) = taken(db, email.as_ref(), username.as_ref(), Some(id)).await? {
        return Err(AccountsError::Conflict { field });
    }
    let hash = match &changes.password {
        Some(p) => Some(password::hash(p).await),
        None => None,
    };
    let result = sqlx::query(
        "UPDATE users SET email = COALESCE(?, email), email_verified = IF(? IS NULL, email_verified, FALSE), \
         username = COALESCE(?, username), password_hash = COALESCE(?, password_hash), \
         bio = IF(?, ?, bio), image = IF(?, ?, image), version = version + 1 WHERE id = ?",
    )
    .bind(email.as_ref().map(Email::as_str))
    .bind(email.as_ref().map(Email::as_str))
    .bind(username.as_ref().map(Username::as_str))
    .bind(hash)
    .bind(bio.is_some())
    .bind(bio.clone().flatten())
    .bind(image.is_some())
    .bind(image.clone().flatten())
    .bind(id)
    .execute(&mut *tx)
    .await;
    if let Err(e) = result {
        return Err(match duplicate_user_field(&e) {
            Some(field) => AccountsError::Conflict { field },
            None => e.into(),
        });
    }
    let user = load(&mut tx, id).await?;
    let public_change = email.is_some() || username.is_some() || bio.is_some() || image.is_some();
    if public_change {
        let snapshot = UserSnapshot {
            previous_username: username.is_some().then(|| current.username.clone()),
            ..user.snapshot()
        };
        outbox::enqueue(&mut tx, &Event::new(EventPayload::UserUpdated(snapshot))).await?;
    }
    if email.is_some() {
        request_verification(&mut tx, &user).await?;
    }
    tx.commit().await?;
    Ok(Updated {
        user,
        previous_username: username.map(|_| current.username),
    })
}

/// Confirms the email address a verification token was sent to.
pub async fn verify_email(db: &MySql, token: &str) -> Result<User, AccountsError> {
    let invalid = || AccountsError::Invalid(FieldError::new("token", "is invalid or has expired"));
    let token = token.trim();
    if token.is_empty() || token.len() > 128 {
        return Err(invalid());
    }
    let mut tx = db.pool().begin().await?;
    let row = sqlx::query(
        "SELECT v.id, v.user_id, v.email, v.expires_at, v.used_at, u.email AS current_email \
         FROM email_verifications v JOIN users u ON u.id = v.user_id WHERE v.token_hash = ? FOR UPDATE",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    let expires_at: DateTime<Utc> = row.get("expires_at");
    let used: Option<DateTime<Utc>> = row.get("used_at");
    let sent_to: String = row.get("email");
    let current_email: String = row.get("current_email");
    // A token for an address the user has since changed away from no longer proves anything.
    if used.is_some() || expires_at < Utc::now() || sent_to != current_email {
        return Err(invalid());
    }
    let user_id: u64 = row.get("user_id");
    sqlx::query("UPDATE email_verifications SET used_at = NOW(3) WHERE id = ?")
        .bind(row.get::<u64, _>("id"))
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE users SET email_verified = TRUE WHERE id = ?")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let user = load(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Creates a verification token for the user's current email and enqueues the email.
async fn request_verification(
    conn: &mut MySqlConnection,
    user: &User,
) -> Result<(), AccountsError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
    sqlx::query("INSERT INTO email_verifications (user_id, email, token_hash, expires_at) VALUES (?, ?, ?, ?)")
        .bind(user.id)
        .bind(&user.email)
        .bind(token_hash(&token))
        .bind(Utc::now() + VERIFICATION_TTL)
        .execute(&mut *conn)
        .await?;
    let email = EmailRequest {
        user_id: user.id,
        to: user.email.clone(),
        template: EmailTemplate::VerifyEmail {
            username: user.username.clone(),
            token,
        },
    };
    outbox::enqueue(conn, &Event::new(EventPayload::EmailRequested(email))).await?;
    Ok(())
}

fn token_hash(token: &str) -> String {
    hex_encode(&Sha256::digest(token.as_bytes()))
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn load(conn: &mut MySqlConnection, id: u64) -> Result<User, AccountsError> {
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|r| User::from_row(&r))
        .ok_or(AccountsError::NotFound)
}

/// The first of `email`, `username` that another user (not `except`) already has.
async fn taken(
    db: &MySql,
    email: Option<&Email>,
    username: Option<&Username>,
    except: Option<u64>,
) -> Result<Option<&'static str>, AccountsError> {
    let except = except.unwrap_or(0);
    if let Some(email) = email {
        let hit = sqlx::query("SELECT 1 FROM users WHERE email = ? AND id <> ?")
            .bind(email.as_str())
            .bind(except)
            .fetch_optional(db.pool())
            .await?;
        if hit.is_some() {
            return Ok(Some("email"));
        }
    }
    if let Some(username) = username {
        let hit = sqlx::query("SELECT 1 FROM users WHERE username = ? AND id <> ?")
            .bind(username.as_str())
            .bind(except)
            .fetch_optional(db.pool())
            .await?;
        if hit.is_some() {
            return Ok(Some("username"));
        }
    }
    Ok(None)
}

/// The user with `username` (case-insensitive, as uniqueness is).
pub async fn find_by_username(db: &MySql, username: &str) -> Result<Option<User>, AccountsError> {
    Ok(db
        .timed(
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
            ))
            .bind(username.trim())
            .fetch_optional(db.pool()),
        )
        .await?
        .map(|r| User::from_row(&r)))
}

/// The users with these ids (missing ids are left out), in one query.
pub async fn find_many(db: &MySql, ids: &[u64]) -> Result<Vec<User>, AccountsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; ids.len()].join(",");
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id IN ({placeholders})");
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id);
    }
    let rows = db.timed(query.fetch_all(db.pool())).await?;
    Ok(rows.iter().map(User::from_row).collect())
}

/// Makes `username` an admin (or a plain user again). Returns false for an unknown username.
pub async fn set_admin(db: &MySql, username: &str, admin: bool) -> Result<bool, AccountsError> {
    let done = db
        .timed(
            sqlx::query("UPDATE users SET role = ? WHERE username = ?")
                .bind(if admin { "admin" } else { "user" })
                .bind(username.trim())
                .execute(db.pool()),
        )
        .await?;
    Ok(done.rows_affected() == 1 || find_by_username(db, username).await?.is_some())
}

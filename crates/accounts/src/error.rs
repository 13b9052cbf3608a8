//! What can go wrong in the accounts store, in terms the API maps to status codes once.

use techhub_core::domain::FieldError;

use crate::MySqlError;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Input that passed parsing but breaks a rule (422).
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// A unique field is taken (409).
    #[error("{field} has already been taken")]
    Conflict { field: &'static str },
    #[error("not found")]
    NotFound,
    /// Wrong email or password (401). Deliberately does not say which.
    #[error("email or password is invalid")]
    InvalidCredentials,
    /// The account exists but may not act (403).
    #[error("account is {0}")]
    AccountInactive(String),
    /// The card or payment method was declined (402).
    #[error("payment declined: {0}")]
    PaymentDeclined(String),
    /// The same Idempotency-Key was used for a different request (422).
    #[error("Idempotency-Key was already used for a different request")]
    IdempotencyMismatch,
    /// The first request with this Idempotency-Key has not finished yet (409).
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,
    /// Another billing change of this user is running (409).
    #[error("another billing change for this account is in progress")]
    Busy,
    /// The payment provider failed or did not answer (502).
    #[error("payment provider error: {0}")]
    Provider(String),
    #[error(transparent)]
    Store(#[from] MySqlError),
}

impl From<sqlx::Error> for AccountsError {
    fn from(e: sqlx::Error) -> Self {
        AccountsError::Store(MySqlError::Db(e))
    }
}

impl AccountsError {
    /// True when the store is unreachable or too slow, as opposed to a bug or bad data.
    pub fn is_unavailable(&self) -> bool {
        match self {
            AccountsError::Store(MySqlError::Timeout(_)) => true,
            AccountsError::Store(MySqlError::Db(e)) => matches!(
                e,
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::Io(_)
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
            ),
            _ => false,
        }
    }
}

/// The MySQL error code of a failed statement, if it is a database error.
pub(crate) fn mysql_code(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|m| m.number()),
        _ => None,
    }
}

pub(crate) const ER_DUP_ENTRY: u16 = 1062;

/// Maps a duplicate-key error on `users` to the field it concerns.
pub(crate) fn duplicate_user_field(e: &sqlx::Error) -> Option<&'static str> {
    if mysql_code(e) != Some(ER_DUP_ENTRY) {
        return None;
    }
    let message = match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        _ => return None,
    };
    if message.contains("uq_users_email") {
        Some("email")
    } else if message.contains("uq_users_username") {
        Some("username")
    } else {
        None
    }
}

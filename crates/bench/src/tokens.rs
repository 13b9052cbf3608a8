//! Tokens for the scenarios: the `Authorization` header, tokens minted with TechHub's JWT
//! secret (so a run needs no logins), and the stream of never-repeated users
//! `dashboard-cold` reads as.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hyper::header::HeaderValue;
use jsonwebtoken::{EncodingKey, Header};

/// The `Authorization` header value for a token.
pub fn auth_header(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Token {token}")).expect("JWTs are header-safe")
}

/// Signs TechHub tokens (HS256, `{"sub", "iat", "exp"}`) with TechHub's JWT secret.
pub struct Minter {
    key: EncodingKey,
}

#[derive(serde::Serialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
}

impl Minter {
    /// A minter for `secret`.
    pub fn new(secret: &str) -> Minter {
        Minter {
            key: EncodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// A token for user `id`, valid for an hour.
    pub fn token(&self, id: u64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = Claims {
            sub: id.to_string(),
            iat: now,
            exp: now + 3600,
        };
        jsonwebtoken::encode(&Header::default(), &claims, &self.key).expect("HS256 signing")
    }
}

/// Users for `dashboard-cold`: ids `first..first+count`, each handed out once, with minted
/// tokens.
pub struct ColdUsers {
    minter: Minter,
    first: u64,
    count: u64,
    next: AtomicU64,
    wrapped: AtomicBool,
}

impl ColdUsers {
    /// Cold users `first..first+count`, starting at `offset` within that range.
    pub fn new(minter: Minter, first: u64, count: u64, offset: u64) -> ColdUsers {
        ColdUsers {
            minter,
            first,
            count: count.max(1),
            next: AtomicU64::new(offset),
            wrapped: AtomicBool::new(false),
        }
    }

    pub(crate) fn next_auth(&self) -> HeaderValue {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i >= self.count {
            self.wrapped.store(true, Ordering::Relaxed);
        }
        auth_header(&self.minter.token(self.first + i % self.count))
    }

    /// How many users are available.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True once more requests were made than there are users (later ones repeat users).
    pub fn wrapped(&self) -> bool {
        self.wrapped.load(Ordering::Relaxed)
    }
}

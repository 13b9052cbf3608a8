//! Password hashing with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane,
//! the OWASP minimum). Hashing is CPU-bound and takes tens of milliseconds, so it runs on the
//! blocking pool, never on a request thread, and at most one hash per CPU core runs at once:
//! more would not finish sooner, and each holds its 19 MiB (64 concurrent logins grew the
//! server past 11 GB resident before this limit; requests beyond it wait, costing nothing).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use techhub_core::domain::Password;
use tokio::sync::Semaphore;

/// Permits for concurrent Argon2 computations: one per core.
static HASHING: std::sync::LazyLock<Semaphore> = std::sync::LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// Runs `work` on the blocking pool once a hashing permit is free.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let _permit = HASHING
        .acquire()
        .await
        .expect("the hashing semaphore is never closed");
    tokio::task::spawn_blocking(work)
        .await
        .expect("hashing task panicked")
}

/// The PHC string of `password` (algorithm, parameters, salt and hash in one).
pub async fn hash(password: &Password) -> String {
    let plain = password.expose().to_owned();
    hashing(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(plain.as_bytes(), &salt)
            .expect("argon2 hashing with default parameters cannot fail")
            .to_string()
    })
    .await
}

/// Whether `plain` matches `stored`. With no stored hash (unknown user) a dummy hash is
/// verified anyway, so the answer takes the same time either way and does not reveal which
/// emails are registered.
pub async fn verify(plain: &str, stored: Option<String>) -> bool {
    let plain = plain.to_owned();
    hashing(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(plain.as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
}

/// Argon2id hash of a random string, used only to spend the same time on unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Z2s0bXlQbkR0cW1KcE9OZ2tYdDFhV3JjZVhYYzNhZ0U";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let password = Password::parse("correct horse battery staple").unwrap();
        let a = hash(&password).await;
        let b = hash(&password).await;
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery staple", Some(a.clone())).await);
        assert!(!verify("correct horse battery stapler", Some(a)).await);
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(!verify("anything", None).await);
    }
}

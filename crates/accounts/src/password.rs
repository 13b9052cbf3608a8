//! Password hashing with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane,
//! the OWASP minimum). Hashing is CPU-bound and takes tens of milliseconds, so it never runs
//! on a request thread: it runs on a few dedicated threads, one per CPU core, fed by a queue.
//! More at once would not finish sooner, and each holds its 19 MiB; and a fixed set of threads
//! reuses its own freed blocks, where the blocking pool's many short-lived threads each left
//! theirs in a separate malloc arena (64 concurrent logins grew the server past 11 GB
//! resident with unbounded hashing, and to 2.1 GB with one hash per core on the blocking pool).

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use techhub_core::domain::Password;

type Job = Box<dyn FnOnce() + Send>;

/// The queue of the hashing threads, started on first use: one per core.
static HASHERS: LazyLock<Sender<Job>> = LazyLock::new(|| {
    let (tx, rx) = channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for i in 0..threads {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || loop {
                // One thread waits on the queue at a time; the others wait for the lock.
                let job = rx.lock().expect("hashing queue lock poisoned").recv();
                match job {
                    Ok(job) => {
                        // A panicking job loses its answer (the caller sees it), not the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                    Err(_) => return,
                }
            })
            .expect("starting a hashing thread");
    }
    tx
});

/// Runs `work` on a hashing thread, waiting (without blocking) for a free one.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    HASHERS
        .send(Box::new(move || {
            let _ = tx.send(work());
        }))
        .expect("the hashing threads live as long as the process");
    rx.await.expect("hashing task panicked")
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

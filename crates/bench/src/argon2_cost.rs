//! What one Argon2id hash costs on this machine, measured in the bench process on one core
//! while the server is idle: `register` and `login` are bound by it, so their requests/s are
//! read against the ceiling it implies (`cores × 1000 / ms per hash`), not against a floor.
//! The parameters are the `argon2` crate's defaults (19 MiB, 2 passes, 1 lane), TechHub's.

use std::time::Instant;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use serde::Serialize;

/// Hashes timed per measurement (after one untimed).
pub const HASHES: usize = 20;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Argon2Cost {
    /// The PHC parameter string, e.g. `m=19456,t=2,p=1`.
    pub params: String,
    pub hashes: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Cores the server can hash on.
    pub cores: usize,
    /// Hashes per second all cores could do with nothing else running: the most `register`
    /// (one hash) or `login` (one verification, the same work) can reach.
    pub ceiling_per_s: f64,
}

/// Times `hashes` Argon2id hashes on the calling thread (blocking: use a blocking thread).
pub fn measure(hashes: usize, cores: usize) -> Argon2Cost {
    let argon2 = Argon2::default();
    let hash = |argon2: &Argon2| {
        let salt = SaltString::generate(&mut OsRng);
        argon2
            .hash_password(b"bench password of usual length", &salt)
            .expect("argon2 hashing with default parameters cannot fail")
            .to_string()
    };
    let phc = hash(&argon2);
    let params = phc.split('$').nth(3).unwrap_or_default().to_string();
    let mut ms: Vec<f64> = (0..hashes.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(hash(&argon2));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let median_ms = ms[ms.len() / 2];
    Argon2Cost {
        params,
        hashes: ms.len(),
        median_ms,
        min_ms: ms[0],
        max_ms: ms[ms.len() - 1],
        cores,
        ceiling_per_s: cores as f64 * 1000.0 / median_ms,
    }
}

impl Argon2Cost {
    /// One line for the terminal, with what `register` and `login` reached against the
    /// ceiling (`(name, closed req/s)`).
    pub fn line(&self, reached: &[(&str, f64)]) -> String {
        let mut out = format!(
            "argon2id ({}): {:.1} ms per hash on one core (median of {}, {:.1}-{:.1}); ceiling {:.0} hashes/s on {} cores",
            self.params, self.median_ms, self.hashes, self.min_ms, self.max_ms, self.ceiling_per_s, self.cores
        );
        for (name, rps) in reached {
            out.push_str(&format!(
                "; {name} {rps:.1} req/s = {:.2} of it",
                rps / self.ceiling_per_s
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_techhubs_parameters_and_derives_the_ceiling() {
        let cost = measure(2, 2);
        // TechHub's stored hashes carry these parameters (see techhub-accounts' DUMMY_HASH).
        assert_eq!(cost.params, "m=19456,t=2,p=1");
        assert_eq!(cost.hashes, 2);
        assert!(
            cost.min_ms > 0.0 && cost.min_ms <= cost.median_ms && cost.median_ms <= cost.max_ms
        );
        assert!((cost.ceiling_per_s - 2000.0 / cost.median_ms).abs() < 1e-9);
        let line = cost.line(&[("register", cost.ceiling_per_s / 2.0)]);
        assert!(line.contains("register"), "{line}");
        assert!(line.ends_with("= 0.50 of it"), "{line}");
    }
}

//! JSON Web Tokens: HS256, signed with `TECHHUB_JWT_SECRET`, carrying the user id and expiry.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use techhub_core::Config;

use crate::error::ApiError;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl Jwt {
    pub fn from_config(config: &Config) -> Self {
        let secret = config.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Jwt {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl: Duration::from_secs(config.jwt_ttl_secs),
        }
    }

    /// A token for `user_id`, valid for the configured lifetime.
    pub fn issue(&self, user_id: u64) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding cannot fail")
    }

    /// The user id of a valid token; 401 when it is forged, expired or malformed.
    pub fn verify(&self, token: &str) -> Result<u64, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => ApiError::Unauthorized("token", "has expired"),
                    _ => ApiError::Unauthorized("token", "is invalid"),
                }
            })?;
        data.claims
            .sub
            .parse()
            .map_err(|_| ApiError::Unauthorized("token", "is invalid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(secret: &str) -> Jwt {
        let mut config = Config::from_env().unwrap();
        config.jwt_secret = secret.to_string().into();
        Jwt::from_config(&config)
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_user() {
        let j = jwt("a-secret-of-at-least-thirty-two-characters");
        assert_eq!(j.verify(&j.issue(42)).unwrap(), 42);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let token = jwt("another-secret-of-at-least-thirty-two-chars").issue(42);
        let err = jwt("a-secret-of-at-least-thirty-two-characters")
            .verify(&token)
            .unwrap_err();
        assert!(
            matches!(err, ApiError::Unauthorized("token", "is invalid")),
            "{err:?}"
        );
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let j = jwt("a-secret-of-at-least-thirty-two-characters");
        let claims = Claims {
            sub: "42".into(),
            iat: Utc::now().timestamp() - 7200,
            exp: Utc::now().timestamp() - 3600,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &j.encoding).unwrap();
        assert!(matches!(
            j.verify(&token).unwrap_err(),
            ApiError::Unauthorized("token", "has expired")
        ));
    }

    #[test]
    fn alg_none_and_garbage_are_rejected() {
        let j = jwt("a-secret-of-at-least-thirty-two-characters");
        // {"alg":"none"} . {"sub":"42","exp":9999999999} . (no signature)
        let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert!(j.verify(none).is_err());
        assert!(j.verify("not.a.token").is_err());
    }
}

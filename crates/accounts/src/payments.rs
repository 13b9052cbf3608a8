//! Payment providers behind one trait, and the built-in sandbox provider.
//!
//! The sandbox behaves like the big providers' test modes: a few well-known test card numbers
//! succeed or decline in known ways, every other number is refused, charges are idempotent
//! by key, and a successful charge returns a reusable payment-method token (never the card
//! number) for renewals.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures::future::BoxFuture;
use rust_decimal::Decimal;
use techhub_core::domain::FieldError;

/// A card as the client sent it. `Debug` shows only the last four digits.
#[derive(Clone)]
pub struct Card {
    number: String,
    pub exp_month: u32,
    pub exp_year: i32,
    cvc: String,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Card(**** {})", self.last4())
    }
}

impl Card {
    /// Validates number (Luhn), expiry (not in the past) and CVC.
    pub fn parse(
        number: &str,
        exp_month: u32,
        exp_year: i32,
        cvc: &str,
        today: chrono::NaiveDate,
    ) -> Result<Self, FieldError> {
        use chrono::Datelike;
        let digits: String = number
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.len() < 12
            || digits.len() > 19
            || !digits.chars().all(|c| c.is_ascii_digit())
            || !luhn(&digits)
        {
            return Err(FieldError::new("card.number", "is not a valid card number"));
        }
        if !(1..=12).contains(&exp_month) {
            return Err(FieldError::new("card.expMonth", "must be between 1 and 12"));
        }
        if (exp_year, exp_month as i32) < (today.year(), today.month() as i32) {
            return Err(FieldError::new("card.expYear", "the card has expired"));
        }
        if !(3..=4).contains(&cvc.len()) || !cvc.chars().all(|c| c.is_ascii_digit()) {
            return Err(FieldError::new("card.cvc", "must be 3 or 4 digits"));
        }
        Ok(Card {
            number: digits,
            exp_month,
            exp_year,
            cvc: cvc.to_string(),
        })
    }

    pub fn last4(&self) -> &str {
        &self.number[self.number.len() - 4..]
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// What to charge.
#[derive(Clone, Debug)]
pub enum PaymentSource {
    Card(Card),
    /// A token from an earlier successful charge.
    Saved(String),
}

#[derive(Clone, Debug)]
pub struct ChargeRequest {
    pub amount: Decimal,
    pub currency: String,
    pub source: PaymentSource,
    pub description: String,
    /// The provider charges at most once per key.
    pub idempotency_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        reference: String,
        payment_method: String,
    },
    Declined {
        reason: String,
    },
}

pub trait PaymentProvider: Send + Sync + std::any::Any {
    fn name(&self) -> &'static str;
    fn charge<'a>(
        &'a self,
        request: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<ChargeOutcome, String>>;
}

/// The sandbox's test cards and what they do.
pub const TEST_CARDS: &[(&str, &str)] = &[
    ("4242424242424242", "succeeds"),
    ("5555555555554444", "succeeds"),
    ("4000000000000002", "declined: card_declined"),
    ("4000000000009995", "declined: insufficient_funds"),
    (
        "4000000000000341",
        "succeeds once; the saved payment method is declined on renewal",
    ),
];
// Any test card with CVC 000 is declined with `incorrect_cvc`.

/// An in-process provider for local runs and tests.
#[derive(Default)]
pub struct SandboxProvider {
    by_key: Mutex<HashMap<String, ChargeOutcome>>,
    charges: AtomicU64,
}

impl SandboxProvider {
    /// Successful charges made so far (a repeated idempotency key does not count again).
    pub fn successful_charges(&self) -> u64 {
        self.charges.load(Ordering::SeqCst)
    }

    fn decide(&self, request: &ChargeRequest) -> ChargeOutcome {
        let declined = |reason: &str| ChargeOutcome::Declined {
            reason: reason.into(),
        };
        let (card, saved) = match &request.source {
            PaymentSource::Card(card) if card.cvc == "000" => return declined("incorrect_cvc"),
            PaymentSource::Card(card) => (card.number.clone(), false),
            PaymentSource::Saved(token) => match token.strip_prefix("pm_sandbox_") {
                Some(number) => (number.to_string(), true),
                None => return declined("unknown payment method"),
            },
        };
        let outcome = match card.as_str() {
            "4242424242424242" | "5555555555554444" => None,
            "4000000000000002" => Some("card_declined"),
            "4000000000009995" => Some("insufficient_funds"),
            "4000000000000341" if saved => Some("card_declined"),
            "4000000000000341" => None,
            _ => Some("not a sandbox test card"),
        };
        match outcome {
            Some(reason) => declined(reason),
            None => ChargeOutcome::Succeeded {
                reference: format!("ch_sandbox_{}", uuid::Uuid::now_v7().simple()),
                payment_method: format!("pm_sandbox_{card}"),
            },
        }
    }
}

impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn charge<'a>(
        &'a self,
        request: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<ChargeOutcome, String>> {
        Box::pin(async move {
            if request.amount <= Decimal::ZERO {
                return Err("amount must be positive".into());
            }
            let mut by_key = self.by_key.lock().expect("sandbox state poisoned");
            if let Some(done) = by_key.get(&request.idempotency_key) {
                return Ok(done.clone());
            }
            let outcome = self.decide(request);
            if matches!(outcome, ChargeOutcome::Succeeded { .. }) {
                self.charges.fetch_add(1, Ordering::SeqCst);
            }
            by_key.insert(request.idempotency_key.clone(), outcome.clone());
            Ok(outcome)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
    }

    fn card(number: &str) -> Card {
        Card::parse(number, 12, 2030, "123", today()).unwrap()
    }

    fn request(source: PaymentSource, key: &str) -> ChargeRequest {
        ChargeRequest {
            amount: Decimal::new(1200, 2),
            currency: "USD".into(),
            source,
            description: "pro".into(),
            idempotency_key: key.into(),
        }
    }

    #[test]
    fn card_validation_names_the_field() {
        assert_eq!(
            Card::parse("4242 4242 4242 4241", 12, 2030, "123", today())
                .unwrap_err()
                .field,
            "card.number"
        );
        assert_eq!(
            Card::parse("4242424242424242", 13, 2030, "123", today())
                .unwrap_err()
                .field,
            "card.expMonth"
        );
        assert_eq!(
            Card::parse("4242424242424242", 10, 2026, "123", today())
                .unwrap_err()
                .field,
            "card.expYear"
        );
        assert_eq!(
            Card::parse("4242424242424242", 12, 2026, "12", today())
                .unwrap_err()
                .field,
            "card.cvc"
        );
        assert!(
            Card::parse("4242-4242-4242-4242", 11, 2026, "123", today()).is_ok(),
            "this month is still valid"
        );
        assert_eq!(format!("{:?}", card("4242424242424242")), "Card(**** 4242)");
    }

    #[tokio::test]
    async fn test_cards_succeed_or_decline_and_keys_charge_once() {
        let sandbox = SandboxProvider::default();
        let ok = sandbox
            .charge(&request(
                PaymentSource::Card(card("4242424242424242")),
                "k1",
            ))
            .await
            .unwrap();
        let ChargeOutcome::Succeeded { payment_method, .. } = &ok else {
            panic!("{ok:?}")
        };
        assert_eq!(payment_method, "pm_sandbox_4242424242424242");
        let again = sandbox
            .charge(&request(
                PaymentSource::Card(card("4242424242424242")),
                "k1",
            ))
            .await
            .unwrap();
        assert_eq!(again, ok, "same key, same outcome");
        assert_eq!(sandbox.successful_charges(), 1);

        let declined = sandbox
            .charge(&request(
                PaymentSource::Card(card("4000000000009995")),
                "k2",
            ))
            .await
            .unwrap();
        assert_eq!(
            declined,
            ChargeOutcome::Declined {
                reason: "insufficient_funds".into()
            }
        );
        let unknown = sandbox
            .charge(&request(
                PaymentSource::Card(card("4111111111111111")),
                "k3",
            ))
            .await
            .unwrap();
        assert!(matches!(unknown, ChargeOutcome::Declined { .. }));

        // 0341 works once, but its saved method fails later, like a card that was cancelled.
        let first = sandbox
            .charge(&request(
                PaymentSource::Card(card("4000000000000341")),
                "k4",
            ))
            .await
            .unwrap();
        let ChargeOutcome::Succeeded { payment_method, .. } = first else {
            panic!()
        };
        let renewal = sandbox
            .charge(&request(PaymentSource::Saved(payment_method), "k5"))
            .await
            .unwrap();
        assert!(matches!(renewal, ChargeOutcome::Declined { .. }));
        assert_eq!(sandbox.successful_charges(), 2);
    }
}

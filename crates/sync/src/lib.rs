//! Keeping the stores consistent without dual writes. Changes write their events to an outbox
//! in the same transaction ([`techhub_accounts::outbox`]); the [`relay::Relay`] delivers each
//! event at least once to every [`relay::Consumer`] that wants it; consumers record the event
//! id with their effect, so a redelivery changes nothing.

pub mod consumers;
pub mod mail;
pub mod relay;

pub use relay::{Consumer, Relay, RelaySettings};

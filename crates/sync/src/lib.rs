//! Keeping the stores consistent without dual writes. Changes write their events to an outbox
//! in the same transaction ([`techhub_accounts::outbox`]); the [`relay::Relay`] delivers each
//! event at least once to every [`relay::Consumer`] that wants it; consumers record the event
//! id with their effect, so a redelivery changes nothing. Content changes carry their events
//! inside the MongoDB post document instead; the [`content_relay::ContentRelay`] delivers those.
//! [`views`] moves article view counts gathered in Redis onto the posts in MongoDB.

pub mod consumers;
pub mod content_relay;
mod due_window;
pub mod mail;
mod new_posts;
pub mod relay;
pub mod views;

pub use content_relay::ContentRelay;
pub use relay::{Consumer, Relay, RelaySettings};

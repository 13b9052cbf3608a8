//! Domain types shared by every TechHub crate. Nothing here opens a connection: the store crates
//! (`accounts`, `learning`, `content`, `cache`) own their connections, and the binary wires
//! them together.

pub mod config;
pub mod domain;
pub mod events;
pub mod plans;
pub mod store;

pub use config::{Config, Mode, RateLimit};
pub use store::{bounded, probe, MigrationReport, PoolSettings, Probe, Store, StoreStatus};

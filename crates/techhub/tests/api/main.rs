//! TechHub's integration tests: one test binary, every test against the real MySQL,
//! PostgreSQL, MongoDB and Redis servers, each test with its own databases
//! (see `helpers::TestApp`).

mod accounts;
mod bad_input;
mod billing;
mod cli;
mod content;
mod dashboard;
mod harness;
mod health;
mod helpers;
mod migrate;
mod openapi;
mod proxy;
mod relay;
mod schema;
mod search;
mod seed;

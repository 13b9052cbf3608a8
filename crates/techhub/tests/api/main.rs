//! TechHub's integration tests: one test binary, every test against the real MySQL,
//! PostgreSQL, MongoDB and Redis servers, each test with its own databases
//! (see `helpers::TestApp`), and one module per area. `routes` gives `TestApp` a method per
//! route of the API, so tests read as what a client does.

// Support.
mod helpers;
mod proxy;
mod routes;

// Accounts and access.
mod accounts;
mod auth;
mod bad_input;
mod billing;
mod preferences;

// Content.
mod activity;
mod articles;
mod drafts;
mod favorites;
mod feeds;
mod own_writes;
mod search;

// Learning and analytics.
mod analytics;
mod dashboard;
mod paths;
mod sessions;

// The cache.
mod caching;

// Operations: health, the relay, the command line, stores and schema.
mod cli;
mod harness;
mod health;
mod migrate;
mod openapi;
mod relay;
mod schema;
mod seed;

// The web app the server serves beside the API.
mod web;

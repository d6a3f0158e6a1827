//! `cmap serve`: the production runner. Schedules tasks, takes webhooks, hot-reloads the
//! pipelines, exposes control, health and metrics over HTTP. The only module that knows
//! HTTP serving.

pub mod auth;
pub mod connect;
pub mod control;
pub mod deliveries;
pub mod documents;
pub mod http;
pub mod integrations;
pub mod listen;
pub mod loader;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod origin;
pub mod platform;
pub mod retention;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod schema_test;
pub mod server;
pub mod state;
pub mod webhook_secrets;

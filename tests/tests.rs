//! Integration tests: they run the built `cmap` binary the way a user does.
//!
//! Golden files live under `tests/data/`; `UPDATE_EXPECT=1 cargo test` rewrites them.

mod support;

mod api_matrix;
mod audit_cli;
mod bounded_state;
mod catalogue;
mod check;
mod cli;
mod cli_pipes;
mod config_check;
mod connect;
mod connect_api;
mod connectors_crm;
mod connectors_feeds;
mod connectors_origins;
mod connectors_props;
mod connectors_redaction;
mod currency;
mod dates;
mod diagnostics;
mod documents_api;
mod engine;
mod engine_concurrency;
mod engine_exec;
mod engine_secrets;
mod identity_cli;
mod map;
mod openapi;
mod pipelines;
mod platform_api;
mod platform_flow;
mod robustness;
mod roundtrip;
mod schedules;
mod serve;
mod serve_abuse;
mod serve_http;
mod serve_reload;
mod tenants;
mod tidy;
mod webhook_tokens;
mod workspace;

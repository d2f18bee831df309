//! Black-box tests: the handler on a loopback port against the sandbox fakes.
mod azurite;
mod bad_input;
mod blob_store;
mod both_stores;
mod cf_to_halo;
mod concurrency;
mod halo_to_cf;
mod helpers;
mod infra;
mod layout;
mod logs;
mod packaging;
mod process;
mod properties;
mod resilience;
mod tokens;

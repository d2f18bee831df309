//! HaloPSA: OAuth token, API client, JSON model and the webhooks Halo sends us.
pub mod auth;
pub mod client;
pub mod model;
pub mod webhook;

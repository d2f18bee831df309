//! HaloPSA: OAuth token, API client, JSON model and the webhooks Halo sends us.
pub mod auth;
mod batch;
pub mod batched;
pub mod client;
mod creates;
pub mod lookup;
pub mod model;
mod recent;
pub mod signature;
pub mod webhook;

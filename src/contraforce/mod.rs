//! ContraForce: the signed webhook we receive and the API we call.
pub mod client;
pub mod comments;
pub mod investigation;
pub mod signature;
pub mod webhook;

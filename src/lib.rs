//! cf-halo-bridge: ContraForce ↔ HaloPSA, as an Azure Functions custom handler.
pub mod bench;
pub mod cli;
pub mod clock;
pub mod contraforce;
pub mod demo;
pub mod error;
pub mod halo;
pub mod http;
pub mod routes;
pub mod sandbox;
pub mod secrets;
pub mod settings;
pub mod startup;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod tools;

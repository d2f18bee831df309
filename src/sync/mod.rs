//! The decisions of both directions, testable without HTTP.
pub mod cf_to_halo;
pub mod close;
pub mod halo_to_cf;
pub mod html_text;
pub mod mapping;
pub mod notes;
pub mod reconcile;

//! Offline checks of the Bicep under `infra/` (issue 6): every file parses with the
//! tree-sitter-bicep grammar, and the structure the deployment depends on holds (RBAC-only Key
//! Vault, the three role assignments with deterministic names, identity-based storage, no secret
//! literals, every setting the handler needs provided by the template or a documented parameter).
//! `bicep build`/`what-if` need Azure's tooling and stay in a connected CI.
//!
//! `bicep` reads the files and `contract` reads CONTRACT.md; the tests are grouped by what they
//! check: `structure` (resources), `app_settings` (settings and secrets), `azd` (outputs,
//! parameters, deploy guide).

mod app_settings;
mod azd;
mod bicep;
mod contract;
mod structure;

//! `check-config`: validates every setting, then reaches each configured upstream and prints one
//! `PASS`/`FAIL`/`SKIP` line per check. Exit 0 only when no check failed.
//!
//! The checks are a list of named async functions ([`checks`]); a new backend adds one entry.
//! They run in order and share a [`Ctx`], so a Halo read is skipped when the token failed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Url;
use secrecy::ExposeSecret as _;
use serde_json::Value;

use super::halo_lookup::{
    configured_closed_ids, is_note_outcome, note_outcome, outcome_name, records,
};
use super::{error_chain, halo_client, http_client};
use crate::contraforce::client::encode_segment;
use crate::halo::client::HaloClient;
use crate::halo::model::flex_id;
use crate::http::{Deadline, UpstreamError};
use crate::secrets::vault::KeyVaultSource;
use crate::secrets::{SECRET_SETTINGS, SecretSource as _, vault_name};
use crate::settings::{NoteOutcome, Settings, StateKind};
use crate::startup::blob_location;
use crate::state::StateStore as _;
use crate::state::blob::{BlobLocation, BlobStore};

const COMMAND: &str = "check-config";
/// Time each upstream check may take.
const CHECK_DEADLINE: Duration = Duration::from_secs(30);

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It works.
    Pass,
    /// It does not: the exit code is 1.
    Fail,
    /// Not configured, or it depends on a check that failed.
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        })
    }
}

/// A check's result and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Pass, fail or skip.
    pub status: Status,
    /// One line for the operator.
    pub detail: String,
}

fn pass(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Pass,
        detail: detail.into(),
    }
}

fn fail(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Fail,
        detail: detail.into(),
    }
}

fn skip(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Skip,
        detail: detail.into(),
    }
}

/// What the checks share.
pub struct Ctx {
    /// The validated settings.
    pub settings: Settings,
    /// Outbound client for the non-Halo probes.
    pub http: reqwest::Client,
    /// The Halo client, when the connection is configured.
    pub halo: Option<HaloClient>,
    /// Secret values (environment, then Key Vault).
    pub secrets: std::sync::Arc<crate::secrets::Secrets>,
    /// Whether the Halo token check passed.
    halo_token_ok: Mutex<bool>,
}

impl Ctx {
    fn halo_ready(&self) -> Option<&HaloClient> {
        let ok = *self.halo_token_ok.lock().unwrap_or_else(|p| p.into_inner());
        self.halo.as_ref().filter(|_| ok)
    }
}

/// The future a check returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + 'a>>;

/// One named check.
pub struct Check {
    /// Shown at the start of its line.
    pub name: &'static str,
    /// The check itself.
    pub run: for<'a> fn(&'a Ctx) -> CheckFuture<'a>,
}

/// Every check, in the order they run and print.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "settings",
            run: settings_valid,
        },
        Check {
            name: "CfToHalo settings",
            run: cf_to_halo_settings,
        },
        Check {
            name: "HaloToCf settings",
            run: halo_to_cf_settings,
        },
        Check {
            name: "Halo token",
            run: halo_token,
        },
        Check {
            name: "Halo outcomes",
            run: halo_outcomes,
        },
        Check {
            name: "Halo ticket type",
            run: halo_ticket_type,
        },
        Check {
            name: "Halo priorities",
            run: halo_priorities,
        },
        Check {
            name: "Halo closed statuses",
            run: halo_closed_statuses,
        },
        Check {
            name: "ContraForce API",
            run: contraforce_api,
        },
        Check {
            name: "Key Vault",
            run: key_vault,
        },
        Check {
            name: "state store",
            run: state_store,
        },
    ]
}

fn settings_valid(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let s = &ctx.settings;
        if !s.unresolved_key_vault_refs.is_empty() {
            return fail(format!(
                "unresolved Key Vault reference in {} (the platform could not read the secret)",
                s.unresolved_key_vault_refs.join(", ")
            ));
        }
        let limit = s.halo_rate_limit;
        pass(format!(
            "every value parses (STATE_STORE {}, HALO_RATE_LIMIT {}/{} s, REQUEST_DEADLINE_SECONDS {})",
            match s.state.kind {
                StateKind::Memory => "memory",
                StateKind::Blob => "blob",
            },
            limit.calls,
            limit.per.as_secs(),
            s.request_deadline.as_secs()
        ))
    })
}

/// A function's readiness: configured (noting the secrets expected from Key Vault), or what
/// is missing.
fn readiness<T>(ctx: &Ctx, r: &Result<T, Vec<String>>, secrets: &[&str]) -> Outcome {
    match r {
        Ok(_) => {
            let from_vault: Vec<&str> = secrets
                .iter()
                .copied()
                .filter(|n| !ctx.settings.secret_env.contains_key(n))
                .collect();
            if ctx.settings.key_vault.is_some() && !from_vault.is_empty() {
                pass(format!(
                    "configured; {} expected from Key Vault (see the Key Vault line)",
                    from_vault.join(", ")
                ))
            } else {
                pass("configured")
            }
        }
        Err(missing) => skip(format!(
            "not configured (answers 503): missing {}",
            missing.join(", ")
        )),
    }
}

fn cf_to_halo_settings(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        readiness(
            ctx,
            &ctx.settings.cf_to_halo,
            &["CF_WEBHOOK_SECRET", "HALO_CLIENT_SECRET"],
        )
    })
}

fn halo_to_cf_settings(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        // A signing secret in the environment stands in for the shared one.
        let webhook = if ctx
            .settings
            .secret_env
            .contains_key("HALO_WEBHOOK_SIGNING_SECRET")
        {
            "HALO_WEBHOOK_SIGNING_SECRET"
        } else {
            "HALO_WEBHOOK_SECRET"
        };
        let needs = [
            webhook,
            "HALO_CLIENT_SECRET",
            "CF_SERVICE_ACCOUNT_CLIENT_SECRET",
        ];
        readiness(ctx, &ctx.settings.halo_to_cf, &needs)
    })
}

fn deadline() -> Deadline {
    Deadline::after(CHECK_DEADLINE)
}

fn halo_token(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(halo) = &ctx.halo else {
            return skip(
                "the Halo connection (HALO_AUTH_URL, HALO_API_BASE_URL, HALO_CLIENT_ID, HALO_CLIENT_SECRET) is not configured",
            );
        };
        let auth = ctx
            .settings
            .halo
            .as_ref()
            .map(|c| c.auth_url.clone())
            .unwrap_or_default();
        let started = Instant::now();
        match halo.fetch_token(deadline()).await {
            Ok(()) => {
                *ctx.halo_token_ok.lock().unwrap_or_else(|p| p.into_inner()) = true;
                pass(format!(
                    "{auth}/token issued a token in {} ms",
                    started.elapsed().as_millis()
                ))
            }
            Err(e) => fail(format!("{auth}/token: {e}")),
        }
    })
}

/// Reads a Halo table for a check; `Err` is the check's outcome.
async fn halo_read(
    ctx: &Ctx,
    path: &str,
    query: &[(&str, &str)],
) -> Result<(Value, u128), Outcome> {
    let Some(halo) = ctx.halo_ready() else {
        return Err(skip("needs a Halo token"));
    };
    let started = Instant::now();
    match halo.get_json(path, query, deadline()).await {
        Ok(body) if body.is_array() || body.is_object() => {
            Ok((body, started.elapsed().as_millis()))
        }
        Ok(_) => Err(fail(format!("GET /{path} did not answer a JSON list"))),
        Err(e) => Err(fail(format!("GET /{path}: {}", describe(&e)))),
    }
}

fn describe(e: &UpstreamError) -> String {
    match e {
        UpstreamError::Rejected { status: 403, .. } => {
            format!("{e} (the API application lacks the permission)")
        }
        _ => e.to_string(),
    }
}

fn halo_outcomes(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let (body, ms) = match halo_read(ctx, "Outcome", &[]).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        let rows = records(&body);
        let wanted = note_outcome(&ctx.settings);
        let shown = match &wanted {
            NoteOutcome::Id(id) => format!("id {id}"),
            NoteOutcome::Name(name) => format!("{name:?}"),
        };
        match rows.iter().find(|o| is_note_outcome(o, &wanted)) {
            Some(o) => pass(format!(
                "GET /Outcome answered {} outcomes in {ms} ms; HALO_PRIVATE_NOTE_OUTCOME {shown} is outcome {} {:?}",
                rows.len(),
                o.get("id").and_then(flex_id).unwrap_or_default(),
                outcome_name(o)
            )),
            None => {
                let names: Vec<String> = rows.iter().take(12).map(|o| outcome_name(o)).collect();
                fail(format!(
                    "HALO_PRIVATE_NOTE_OUTCOME {shown} is not among Halo's {} outcomes ({}); run halo-lookup outcomes",
                    rows.len(),
                    names.join(", ")
                ))
            }
        }
    })
}

fn ids_in(body: &Value, key: &str) -> Vec<u64> {
    records(body)
        .iter()
        .filter_map(|o| o.get(key).and_then(flex_id))
        .collect()
}

fn halo_ticket_type(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(cf) = &ctx.settings.cf_to_halo else {
            return skip("CfToHalo is not configured");
        };
        let want = cf.mapping.ticket_type_id;
        let (body, _) = match halo_read(ctx, "TicketType", &[]).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        if ids_in(&body, "id").contains(&want) {
            pass(format!("HALO_DEFAULT_TICKETTYPE_ID {want} exists"))
        } else {
            fail(format!(
                "HALO_DEFAULT_TICKETTYPE_ID {want} is not among Halo's ticket types; run halo-lookup ticket-types"
            ))
        }
    })
}

fn halo_priorities(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(cf) = &ctx.settings.cf_to_halo else {
            return skip("CfToHalo is not configured");
        };
        let (body, _) = match halo_read(ctx, "Priority", &[]).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        let known = ids_in(&body, "priorityid");
        let mut unknown: Vec<String> = cf
            .mapping
            .priority_map
            .iter()
            .filter(|(_, id)| !known.contains(id))
            .map(|(severity, id)| format!("{severity}={id}"))
            .collect();
        unknown.sort();
        if unknown.is_empty() {
            pass(format!(
                "every HALO_PRIORITY_MAP id is a Halo priorityid ({} SLA rows)",
                known.len()
            ))
        } else {
            fail(format!(
                "HALO_PRIORITY_MAP entries with no such Halo priorityid: {}; run halo-lookup priorities",
                unknown.join(", ")
            ))
        }
    })
}

fn halo_closed_statuses(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(want) = configured_closed_ids(&ctx.settings) else {
            return skip("HALO_CLOSED_STATUS_ID is not set");
        };
        let (body, _) = match halo_read(ctx, "Status", &[("type", "ticket")]).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        let rows = records(&body);
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in &want {
            match rows
                .iter()
                .find(|o| o.get("id").and_then(flex_id) == Some(*id))
            {
                Some(o) => {
                    let name = o.get("name").and_then(Value::as_str).unwrap_or("");
                    found.push(format!("{id} {name:?}"));
                }
                None => missing.push(id.to_string()),
            }
        }
        if missing.is_empty() {
            pass(format!("HALO_CLOSED_STATUS_ID: {}", found.join(", ")))
        } else {
            fail(format!(
                "HALO_CLOSED_STATUS_ID ids not among Halo's statuses: {}; run halo-lookup statuses",
                missing.join(", ")
            ))
        }
    })
}

/// ContraForce documents no read endpoint for the v2 workspace API, so the probe is
/// `GET {CF_API_BASE_URL}/workspaces/{CF_WORKSPACE_ID}` with the service account: any answer
/// proves the API is reachable; 401/403 mean the credentials were refused (fail); 2xx or 404
/// mean they were not (pass: the probe cannot tell more without a write).
fn contraforce_api(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Ok(s) = &ctx.settings.halo_to_cf else {
            return skip("HaloToCf is not configured");
        };
        let url = format!(
            "{}/workspaces/{}",
            s.cf_api_base_url,
            encode_segment(&s.cf_workspace_id)
        );
        let Some(secret) = ctx.secrets.value("CF_SERVICE_ACCOUNT_CLIENT_SECRET") else {
            return fail(
                "CF_SERVICE_ACCOUNT_CLIENT_SECRET is in neither the environment nor Key Vault",
            );
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            s.cf_client_id,
            secret.expose_secret()
        ));
        let started = Instant::now();
        let response = ctx
            .http
            .get(&url)
            .header("Authorization", format!("Basic {basic}"))
            .timeout(CHECK_DEADLINE)
            .send()
            .await;
        let ms = started.elapsed().as_millis();
        match response.map(|r| r.status().as_u16()) {
            Ok(code @ (200..=299 | 404)) => pass(format!(
                "GET {url} answered {code} in {ms} ms: reachable, service account not refused"
            )),
            Ok(code @ (401 | 403)) => fail(format!(
                "GET {url} answered {code}: the service account (CF_SERVICE_ACCOUNT_CLIENT_ID/SECRET) was refused"
            )),
            Ok(code) => fail(format!("GET {url} answered {code}")),
            Err(e) => fail(format!(
                "GET {url}: unreachable ({})",
                error_chain(&e.without_url())
            )),
        }
    })
}

/// Whether this process runs where a managed identity is available (App Service / Functions).
fn in_azure() -> bool {
    ["IDENTITY_ENDPOINT", "MSI_ENDPOINT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// `KEY_VAULT_URI`, when set.
fn key_vault_uri() -> Option<String> {
    std::env::var("KEY_VAULT_URI")
        .ok()
        .map(|v| v.trim().trim_end_matches('/').to_string())
        .filter(|v| !v.is_empty())
}

/// With `KEY_VAULT_URI` set. Inside Azure: reads every secret setting's vault secret
/// (`cf-webhook-secret`, …) through the managed identity, as the handler does, and lists which
/// exist (never their values). Outside Azure there is no managed identity, so an anonymous
/// `GET {vault}/secrets` must reach the vault and be answered 401: DNS, network and the vault
/// are proven, the identity's access is not.
fn key_vault(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let Some(uri) = key_vault_uri() else {
            return skip("not configured (KEY_VAULT_URI is not set)");
        };
        let url = match Url::parse(&format!("{uri}/secrets?api-version=7.4")) {
            Ok(u) if u.scheme() == "https" => u,
            _ => return fail(format!("KEY_VAULT_URI {uri:?} is not an https URL")),
        };
        if in_azure() {
            return key_vault_through_identity(&uri).await;
        }
        match ctx.http.get(url).timeout(CHECK_DEADLINE).send().await {
            Ok(r) if r.status() == 401 => pass(format!(
                "{uri} reachable (401 to an anonymous request, as expected; the managed identity exists only in Azure)"
            )),
            Ok(r) => fail(format!(
                "{uri} answered {} to an anonymous request (expected 401)",
                r.status().as_u16()
            )),
            Err(e) => fail(format!(
                "{uri}: unreachable ({})",
                error_chain(&e.without_url())
            )),
        }
    })
}

async fn key_vault_through_identity(uri: &str) -> Outcome {
    let source = match KeyVaultSource::new(uri, None, None) {
        Ok(s) => s,
        Err(e) => return fail(format!("{uri}: {e}")),
    };
    let (mut present, mut absent) = (Vec::new(), Vec::new());
    for setting in SECRET_SETTINGS {
        let name = vault_name(setting);
        match tokio::time::timeout(CHECK_DEADLINE, source.fetch(&name)).await {
            Ok(Ok(Some(_))) => present.push(name),
            Ok(Ok(None)) => absent.push(name),
            Ok(Err(e)) => return fail(format!("{uri}: {e}")),
            Err(_) => return fail(format!("{uri}: no answer for {name}")),
        }
    }
    pass(format!(
        "read through the managed identity; present: {}; absent: {}",
        if present.is_empty() {
            "none".into()
        } else {
            present.join(", ")
        },
        if absent.is_empty() {
            "none".into()
        } else {
            absent.join(", ")
        }
    ))
}

/// `memory` needs nothing. `blob` goes through the handler's own [`BlobStore`]: it creates the
/// container if absent (as the handler does on first use) and reads one ledger entry, which
/// proves the endpoint, the credentials (SAS or managed identity) and the permissions. The
/// managed identity exists only inside Azure, so outside it (no `IDENTITY_ENDPOINT`) the check
/// is skipped.
fn state_store(ctx: &Ctx) -> CheckFuture<'_> {
    Box::pin(async move {
        let state = &ctx.settings.state;
        if state.kind == StateKind::Memory {
            return skip("STATE_STORE=memory: in process, nothing to reach");
        }
        let location = blob_location(state);
        let shown = match &location {
            BlobLocation::SasUrl(url) => url.split('?').next().unwrap_or_default().to_string(),
            BlobLocation::ManagedIdentity { container_url, .. } => {
                if !in_azure() {
                    return skip(format!(
                        "STATE_STORE=blob at {container_url} through the managed identity: only available inside Azure"
                    ));
                }
                container_url.clone()
            }
        };
        let store = match BlobStore::new(&location, state.ledger_ttl) {
            Ok(store) => store,
            Err(e) => return fail(format!("{shown}: {e}")),
        };
        let started = Instant::now();
        match tokio::time::timeout(CHECK_DEADLINE, store.processed_event("check-config-probe"))
            .await
        {
            Ok(Ok(_)) => pass(format!(
                "{shown}: container ready, ledger read in {} ms",
                started.elapsed().as_millis()
            )),
            Ok(Err(e)) => fail(format!("{shown}: {e}")),
            Err(_) => fail(format!(
                "{shown}: no answer within {} s",
                CHECK_DEADLINE.as_secs()
            )),
        }
    })
}

/// Runs `check-config`.
pub async fn run() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            println!("{:<4}  {:<22} {e}", Status::Fail, "settings");
            return super::fail(COMMAND, 1, format!("settings are invalid: {e}"));
        }
    };
    let http = http_client();
    // A Key Vault failure is reported by its own check; the others then see no secrets.
    let secrets = match super::load_secrets(&settings).await {
        Ok(s) => s,
        Err(_) => crate::startup::secrets(&settings, None).unwrap_or_else(|_| {
            std::sync::Arc::new(crate::secrets::Secrets::from_env(
                settings.secret_env.clone(),
            ))
        }),
    };
    let halo = halo_client(&settings, http.clone(), secrets.clone()).ok();
    let ctx = Ctx {
        settings,
        http,
        halo,
        secrets,
        halo_token_ok: Mutex::new(false),
    };
    let mut failed = Vec::new();
    let (mut passed, mut skipped) = (0, 0);
    for check in checks() {
        let outcome = (check.run)(&ctx).await;
        println!(
            "{:<4}  {:<22} {}",
            outcome.status, check.name, outcome.detail
        );
        match outcome.status {
            Status::Pass => passed += 1,
            Status::Skip => skipped += 1,
            Status::Fail => failed.push(check.name),
        }
    }
    println!(
        "\n{passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        super::fail(COMMAND, 1, format!("failed: {}", failed.join(", ")))
    }
}

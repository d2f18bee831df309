//! Command line: `serve` (what the Functions host runs), `demo`, `sandbox`, the operator tools
//! (`halo-lookup`, `send-test-event`, `check-config`, `reconcile`, `status`, `replay`) and the
//! benchmarks (`bench`, `bench-burst`, `bench-storm`, `bench-day`, `bench-reconcile`) and `chaos`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::local::shutdown_signal;
use crate::settings::Settings;
use crate::startup::{Application, Overrides};
use crate::telemetry;

/// ContraForce ↔ HaloPSA bridge, an Azure Functions custom handler.
#[derive(Debug, Parser)]
#[command(name = "cf-halo-bridge", version, about)]
pub struct Cli {
    /// What to run (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve CfToHalo and HaloToCf on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (default 3000).
    Serve,
    /// End-to-end demo against the built-in sandbox: no Azure, Halo or ContraForce account needed.
    Demo,
    /// Benchmark: many new incidents at once against a rate-limited sandbox Halo.
    BenchBurst {
        /// New incidents posted at once.
        #[arg(long, default_value_t = 150)]
        incidents: usize,
        /// Calls the sandbox Halo (and the handler's budget) allow per window.
        #[arg(long, default_value_t = 30)]
        calls: u32,
        /// Window length in seconds.
        #[arg(long, default_value_t = 10)]
        window_secs: u64,
    },
    /// Benchmark: an incident storm the Halo budget cannot take at once; Reconcile drains it.
    ///
    /// Senders give up after a few 503s, as ContraForce does; the benchmark fires the Reconcile
    /// timer every few seconds and reports tickets, 429s, Halo calls and time to ticket by
    /// severity (exit code 1 when a target is missed).
    BenchStorm(crate::bench::StormArgs),
    /// Benchmark: one simulated day of an MSP, run as the bridge runs and one Halo call per
    /// object: Halo calls by kind, per hour and in the busiest five minutes against their targets.
    BenchDay(crate::bench::DayArgs),
    /// Benchmark: one Reconcile run on Azurite with thousands of idle linked tickets and a few
    /// changed ones: store reads, Halo and ContraForce calls and seconds against their targets.
    ///
    /// Needs Azurite (./scripts/test installs it under .azurite/; AZURITE_BLOB_BIN overrides).
    BenchReconcile(crate::bench::ReconcileBenchArgs),
    /// The randomized fault test: two handlers on one Azurite, faults, kills and a poison
    /// incident, then the invariants; a failure prints its seed, which replays the same schedule.
    ///
    /// Needs Azurite (./scripts/test installs it under .azurite/; AZURITE_BLOB_BIN overrides).
    Chaos(crate::chaos::ChaosArgs),
    /// List Halo's ticket types, priorities, statuses, outcomes, teams and clients with their ids.
    ///
    /// Uses the HALO_AUTH_URL, HALO_API_BASE_URL, HALO_CLIENT_ID, HALO_CLIENT_SECRET (and
    /// HALO_TENANT, HALO_SCOPE) settings from the environment. Statuses are marked closed when
    /// their id is in HALO_CLOSED_STATUS_ID or, when that is not set, when the id is 9 or the
    /// name contains "closed" or "resolved".
    #[command(
        after_help = "Examples:\n  cf-halo-bridge halo-lookup\n  cf-halo-bridge halo-lookup statuses outcomes\n  cf-halo-bridge halo-lookup --json > halo-ids.json"
    )]
    HaloLookup {
        /// Print one JSON document instead of tables.
        #[arg(long)]
        json: bool,
        /// Only these tables (default: all).
        #[arg(value_enum)]
        tables: Vec<crate::tools::halo_lookup::Table>,
    },
    /// Sign and POST a ContraForce incident event to a CfToHalo URL, as the portal does.
    ///
    /// Prints the answer; exit code 0 on a 2xx answer, 1 otherwise.
    #[command(
        after_help = "Examples:\n  cf-halo-bridge send-test-event --url http://127.0.0.1:7071/api/CfToHalo\n  cf-halo-bridge send-test-event --url 'https://<app>.azurewebsites.net/api/CfToHalo?code=<key>' --test-flag\n  cf-halo-bridge send-test-event --url https://<app>.azurewebsites.net/api/CfToHalo --function-key <key> --file event.json --event-id evt-1"
    )]
    SendTestEvent(crate::tools::send_test_event::Args),
    /// Validate every setting and reach Halo, ContraForce, Key Vault and the state store.
    ///
    /// Prints one PASS/FAIL/SKIP line per check; exit code 0 only when no check failed.
    #[command(after_help = "Example:\n  cf-halo-bridge check-config")]
    CheckConfig,
    /// Benchmark the release handler against the sandbox: cold start, throughput, latency, RSS.
    ///
    /// Spawns this executable's `serve` as a separate process and drives it over loopback.
    /// Build with --release first (scripts/bench does).
    Bench(crate::bench::BenchArgs),
    /// One reconcile run now, as the Reconcile timer does: prints its summary as JSON.
    ///
    /// Finishes parked ContraForce events, pending Halo tickets, missed webhooks and
    /// ContraForce comments, with the same settings and store as the handler.
    Reconcile,
    /// What the reconcile runs have left: parked, failed and pending work, and the last run.
    ///
    /// Reads the configured store (STATE_STORE=blob in Azure), so it works against production
    /// with the Function App's settings.
    #[command(after_help = "Examples:
  cf-halo-bridge status
  cf-halo-bridge status --json")]
    Status {
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Moves failed events (rejected by Halo, or given up on) back to the parked queue, and
    /// failed tickets back to pending, for the next run.
    #[command(after_help = "Examples:
  cf-halo-bridge replay 7b9e...
  cf-halo-bridge replay ticket:4242
  cf-halo-bridge replay --all --now")]
    Replay {
        /// The failed event (or `ticket:ID`) to replay.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        event_id: Option<String>,
        /// Every failed event.
        #[arg(long)]
        all: bool,
        /// Run reconcile at once instead of waiting for the timer.
        #[arg(long)]
        now: bool,
    },
    /// Run the fake Halo and fake ContraForce on fixed local ports for local runs.
    Sandbox {
        /// Port of the fake Halo.
        #[arg(long, default_value_t = 7080)]
        halo_port: u16,
        /// Port of the fake ContraForce.
        #[arg(long, default_value_t = 7090)]
        cf_port: u16,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve()),
        Command::Demo => runtime.block_on(crate::demo::run()),
        Command::BenchBurst {
            incidents,
            calls,
            window_secs,
        } => runtime.block_on(crate::bench::burst(incidents, calls, window_secs)),
        Command::BenchStorm(args) => runtime.block_on(crate::bench::storm(args)),
        Command::BenchReconcile(args) => runtime.block_on(crate::bench::reconcile(args)),
        Command::BenchDay(args) => runtime.block_on(crate::bench::day(args)),
        Command::Chaos(args) => runtime.block_on(crate::chaos::run(args)),
        Command::HaloLookup { json, tables } => {
            runtime.block_on(crate::tools::halo_lookup::run(tables, json))
        }
        Command::SendTestEvent(args) => runtime.block_on(crate::tools::send_test_event::run(args)),
        Command::CheckConfig => runtime.block_on(crate::tools::check_config::run()),
        Command::Reconcile => runtime.block_on(crate::tools::work::reconcile()),
        Command::Status { json } => runtime.block_on(crate::tools::work::status(json)),
        Command::Replay { event_id, all, now } => {
            runtime.block_on(crate::tools::work::replay(event_id, all, now))
        }
        Command::Bench(args) => runtime.block_on(crate::bench::bench(args)),
        Command::Sandbox { halo_port, cf_port } => {
            runtime.block_on(crate::demo::sandbox(halo_port, cf_port))
        }
    }
}

async fn serve() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            // One line, no backtrace: this is what the Functions host shows in its log.
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    for name in &settings.unresolved_key_vault_refs {
        tracing::error!(setting = %name, "unresolved Key Vault reference: the platform could not read this secret");
    }
    for (function, missing) in [
        ("CfToHalo", settings.cf_to_halo.as_ref().err()),
        ("HaloToCf", settings.halo_to_cf.as_ref().err()),
    ] {
        match missing {
            None => tracing::info!(function, "configured"),
            Some(m) => tracing::warn!(function, missing = ?m, "not configured: answers 503"),
        }
    }
    let app = match Application::build(&settings, Overrides::default()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(port = app.port(), "listening on 127.0.0.1");
    let handle = app.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        handle.stop(true).await;
    });
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            ExitCode::FAILURE
        }
    }
}

//! `bench-reconcile`: what one Reconcile run costs when most linked tickets are idle (CONTRACT
//! §13). On Azurite: N CF-linked tickets, of which `changed` have a new public note in Halo and
//! are due for their ContraForce comments; the rest were checked recently and changed long ago.
//! One run's store reads, Halo calls, ContraForce calls and seconds are printed for each N side by
//! side, with the targets: store reads ≤ 3 × due + 20, Halo calls ≤ 2 × changed + pages, and a
//! time that does not grow with the idle tickets.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};

use super::report::{Row, print, row};
use crate::sandbox::Sandbox;
use crate::sandbox::azurite::Azurite;
use crate::settings::Settings;
use crate::startup::{Application, Overrides};
use crate::state::blob::{BlobLocation, BlobStore};
use crate::state::observed::{Observed, Observer};
use crate::state::work::{RunStatus, Work, now_ms};
use crate::state::{StateStore, TicketSync};

const DAY_MS: u64 = 86_400_000;
const TTL: Duration = Duration::from_secs(7 * 86_400);

/// Arguments of `bench-reconcile`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileBenchArgs {
    /// Linked tickets, one run each (comma list).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000])]
    pub linked: Vec<usize>,
    /// Of them, the tickets with a new note in Halo, due for their ContraForce comments.
    #[arg(long, default_value_t = 50)]
    pub changed: usize,
}

/// Counts the store's reads and writes.
#[derive(Default)]
struct Calls {
    reads: AtomicU64,
    writes: AtomicU64,
}

#[async_trait::async_trait]
impl Observer for Calls {
    fn read(&self, _kind: &str, records: usize) {
        self.reads.fetch_add(records as u64, Ordering::Relaxed);
    }

    async fn before_write(&self, _kind: &str) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }
}

/// One run's figures.
struct Figures {
    linked: usize,
    setup: Duration,
    reads: u64,
    writes: u64,
    halo_calls: usize,
    listing_pages: usize,
    cf_calls: usize,
    due: u64,
    seconds: f64,
    /// Azurite's own time for one blob read in this container, milliseconds.
    read_ms: f64,
    complete: bool,
    forwarded: u64,
}

/// `bench-reconcile`: exit 1 when a target is missed.
pub async fn reconcile(args: ReconcileBenchArgs) -> ExitCode {
    let azurite = match Azurite::start_in_memory() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-reconcile: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut all = Vec::new();
    for linked in &args.linked {
        println!(
            "setting up {linked} linked tickets ({} changed) on Azurite…",
            args.changed
        );
        match case(&azurite, *linked, args.changed).await {
            Ok(figures) => all.push(figures),
            Err(e) => {
                eprintln!("bench-reconcile: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    report(&all, args.changed)
}

async fn case(azurite: &Azurite, linked: usize, changed: usize) -> std::io::Result<Figures> {
    let sandbox = Sandbox::start().await?;
    let url = azurite.container_url(&Azurite::new_container());
    let mut env: std::collections::HashMap<String, String> =
        sandbox.settings().into_iter().collect();
    for (name, value) in [
        ("CF_WEBHOOK_SECRET", "bench"),
        ("HALO_WEBHOOK_SECRET", "bench"),
        ("STATE_STORE", "blob"),
        ("HALO_RATE_LIMIT", "1000000/1"),
        ("RECONCILE_DEADLINE_SECONDS", "600"),
    ] {
        env.insert(name.into(), value.into());
    }
    env.insert("STATE_BLOB_URL".into(), url.clone());
    let settings = Settings::from_vars(&env).map_err(std::io::Error::other)?;
    let blob = BlobStore::new(&BlobLocation::SasUrl(url), TTL).map_err(std::io::Error::other)?;
    let store = Arc::new(Observed::new(blob, Calls::default()));
    let overrides = Overrides {
        store: Some(store.clone()),
        ..Overrides::default()
    };
    let app = Application::with_listener(&settings, overrides, TcpListener::bind("127.0.0.1:0")?)?;
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    let started = Instant::now();
    seed(&sandbox, store.as_ref(), linked, changed).await?;
    let setup = started.elapsed();

    let reconcile = match &state.reconcile {
        Ok(r) => r.clone(),
        Err(missing) => {
            return Err(std::io::Error::other(format!(
                "not configured: {missing:?}"
            )));
        }
    };
    store.observer().reads.store(0, Ordering::Relaxed);
    store.observer().writes.store(0, Ordering::Relaxed);
    sandbox.halo.clear_requests();
    sandbox.cf.clear_requests();
    let run_started = Instant::now();
    let summary = reconcile.run().await.map_err(std::io::Error::other)?;
    let seconds = run_started.elapsed().as_secs_f64();
    let requests = sandbox.halo.requests();
    let listing_pages = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.eq_ignore_ascii_case("/api/Tickets"))
        .count();
    let reads = store.observer().reads.load(Ordering::Relaxed);
    let writes = store.observer().writes.load(Ordering::Relaxed);
    // Azurite keeps a container's blobs in one in-memory collection, so its own time per call
    // grows with the container; Azure's does not. Measured here so the run's time can be read
    // apart from the emulator's.
    let probe = Instant::now();
    for n in 0..100 {
        store
            .get_record("probe", &n.to_string())
            .await
            .map_err(std::io::Error::other)?;
    }
    let read_ms = probe.elapsed().as_secs_f64() * 10.0;
    let figures = Figures {
        linked,
        setup,
        reads,
        writes,
        halo_calls: sandbox.halo.api_requests(),
        listing_pages,
        cf_calls: sandbox.cf.requests().len(),
        due: summary.tickets_swept + changed as u64,
        seconds,
        read_ms,
        complete: summary.complete,
        forwarded: summary.comments_forwarded,
    };
    handle.stop(false).await;
    sandbox.stop().await;
    Ok(figures)
}

/// `linked` tickets in Halo and in the store: the first `changed` with a new public note and
/// their watch due now, the rest changed a day ago and next due tomorrow.
async fn seed(
    sandbox: &Sandbox,
    store: &dyn StateStore,
    linked: usize,
    changed: usize,
) -> std::io::Result<()> {
    let halo = &sandbox.halo;
    let now = now_ms();
    let a_day_ago = std::time::SystemTime::now() - Duration::from_millis(DAY_MS);
    let tickets: Vec<(usize, u64)> = (0..linked)
        .map(|n| {
            let id = halo.insert_ticket(&format!("linked {n}"), Some(&reference(n)));
            if n < changed {
                halo.add_agent_note(id, "Jane Tech", 3, "<p>contained</p>", false);
            } else {
                halo.set_last_update(id, a_day_ago);
            }
            (n, id)
        })
        .collect();
    let work = Work::new(store, TTL);
    // An idle ticket is its watch and its due-index entry (what a run that read every watch
    // would read); its link is read by nothing in the run, so it is left out to keep the set-up
    // short on Azurite, whose time per write grows with the container.
    stream::iter(tickets)
        .map(|(n, id)| async move {
            let reference = reference(n);
            let due = if n < changed { now } else { now + DAY_MS };
            work.watch_due_at(id, Some((&reference, None)), due).await?;
            if n < changed {
                store.link(&reference, id, None).await?;
                let sync = TicketSync {
                    watermark: 1,
                    ..TicketSync::default()
                };
                store.set_ticket_sync(id, sync).await?;
            }
            Ok::<_, crate::state::StateError>(())
        })
        .buffer_unordered(64)
        .try_collect::<()>()
        .await
        .map_err(std::io::Error::other)?;
    let status = RunStatus {
        sweep_mark: Some((now / 1000) as i64 - 60),
        watches_indexed: true,
        ..RunStatus::default()
    };
    work.set_status(&status)
        .await
        .map_err(std::io::Error::other)
}

fn reference(n: usize) -> String {
    format!("cf|sentinel|bench-{n}")
}

fn report(all: &[Figures], changed: usize) -> ExitCode {
    let mut rows: Vec<Row> = Vec::new();
    let mut ok = true;
    for f in all {
        let reads_target = 3 * f.due + 20;
        let calls_target = 2 * changed + f.listing_pages;
        let reads_ok = f.reads <= reads_target;
        let calls_ok = f.halo_calls <= calls_target;
        let done = f.complete && f.forwarded == changed as u64;
        ok &= reads_ok && calls_ok && done;
        let who = format!("{} linked", f.linked);
        rows.push(row(
            &format!("{who}: store reads (due items {})", f.due),
            f.reads.to_string(),
            &format!("≤ 3 × due + 20 = {reads_target}"),
            Some(reads_ok),
        ));
        rows.push(row(
            &format!("{who}: store writes"),
            f.writes.to_string(),
            "–",
            None,
        ));
        rows.push(row(
            &format!("{who}: Halo calls ({} listing pages)", f.listing_pages),
            f.halo_calls.to_string(),
            &format!("≤ 2 × changed + pages = {calls_target}"),
            Some(calls_ok),
        ));
        rows.push(row(
            &format!("{who}: ContraForce calls"),
            f.cf_calls.to_string(),
            "–",
            None,
        ));
        rows.push(row(
            &format!("{who}: run seconds (setup {:.0} s)", f.setup.as_secs_f64()),
            format!("{:.2}", f.seconds),
            "independent of the idle tickets",
            None,
        ));
        rows.push(row(
            &format!("{who}: Azurite's time per blob read"),
            format!("{:.2} ms", f.read_ms),
            "– (the emulator's, grows with the container)",
            None,
        ));
        rows.push(row(
            &format!("{who}: run time in Azurite reads"),
            format!("{:.0}", f.seconds * 1000.0 / f.read_ms.max(1e-6)),
            "–",
            None,
        ));
        rows.push(row(
            &format!("{who}: notes forwarded, run complete"),
            format!("{}, {}", f.forwarded, f.complete),
            &format!("{changed}, true"),
            Some(done),
        ));
    }
    if let [small, .., large] = all {
        let ratio = large.seconds / small.seconds.max(1e-6);
        rows.push(row(
            &format!("run seconds, {} vs {} linked", large.linked, small.linked),
            format!("{ratio:.2}×"),
            "– (Azurite's own growth included)",
            None,
        ));
        let norm = |f: &Figures| f.seconds / f.read_ms.max(1e-6);
        rows.push(row(
            &format!(
                "run time in Azurite reads, {} vs {} linked",
                large.linked, small.linked
            ),
            format!("{:.2}×", norm(large) / norm(small).max(1e-9)),
            "–",
            None,
        ));
        // What a run does, call for call, is what its time is made of on Azure, where a call's
        // time does not depend on the container's size.
        let same = |a: u64, b: u64| a.abs_diff(b) * 50 <= a.max(b);
        let equal = same(large.reads, small.reads)
            && same(large.writes, small.writes)
            && large.halo_calls == small.halo_calls
            && large.cf_calls == small.cf_calls;
        rows.push(row(
            &format!(
                "store, Halo and ContraForce calls, {} vs {} linked",
                large.linked, small.linked
            ),
            format!(
                "{}+{} / {} / {} vs {}+{} / {} / {}",
                large.reads,
                large.writes,
                large.halo_calls,
                large.cf_calls,
                small.reads,
                small.writes,
                small.halo_calls,
                small.cf_calls
            ),
            "the same (the run's time independent of the idle tickets)",
            Some(equal),
        ));
        ok &= equal;
    }
    print(&rows, ok);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

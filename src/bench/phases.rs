//! The timed phases of `bench` against the running handler process: warm-up, new incidents
//! with a slow Halo, new incidents with a zero-latency Halo, re-deliveries. Each prints its
//! line of the transcript.

use std::sync::Arc;
use std::time::Duration;

use super::handler::{Handler, cpu_time};
use super::load::{Load, Prepared, load, prepare, sign_all};
use super::report::ms;
use super::suite::BenchArgs;
use crate::sandbox::Sandbox;

/// Drives the phases: one keep-alive client against one handler and one sandbox.
pub(super) struct Driver<'a> {
    sandbox: &'a Sandbox,
    args: &'a BenchArgs,
    http: reqwest::Client,
    url: String,
    pid: u32,
}

/// What one timed phase measured: the answers, and what they cost the handler and Halo.
pub(super) struct Phase {
    /// Latencies and answers.
    pub(super) load: Load,
    /// Halo API calls during the phase.
    pub(super) api_calls: usize,
    /// Halo token calls during the phase.
    pub(super) token_calls: usize,
    /// The handler's CPU time during the phase.
    pub(super) handler_cpu: Option<Duration>,
    /// This process's CPU time (load client and sandbox Halo) during the phase.
    pub(super) own_cpu: Option<Duration>,
    /// Every answer was the one the bridge owes (a wrong one fails the run, a slow one does not).
    pub(super) as_expected: bool,
}

/// Halo calls (API, token) the sandbox has seen so far.
fn halo_calls(sandbox: &Sandbox) -> (usize, usize) {
    (sandbox.halo.api_requests(), sandbox.halo.token_requests())
}

/// CPU time between two readings.
fn spent(after: Option<Duration>, before: Option<Duration>) -> Option<Duration> {
    after.zip(before).map(|(b, a)| b.saturating_sub(a))
}

impl<'a> Driver<'a> {
    /// A client sized for `args.concurrency` against `handler`.
    pub(super) fn new(
        sandbox: &'a Sandbox,
        args: &'a BenchArgs,
        handler: &Handler,
    ) -> std::io::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency.max(1))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            sandbox,
            args,
            http,
            url: handler.url.clone(),
            pid: handler.pid(),
        })
    }

    /// Posts `total` of the (signed) `deliveries` and measures around it.
    async fn measure(&self, deliveries: Arc<Vec<Prepared>>, total: usize) -> Phase {
        let (api0, tok0) = halo_calls(self.sandbox);
        let cpu0 = cpu_time(self.pid);
        let own0 = cpu_time(std::process::id());
        let load = load(
            &self.http,
            &self.url,
            deliveries,
            total,
            self.args.concurrency,
        )
        .await;
        let handler_cpu = spent(cpu_time(self.pid), cpu0);
        let own_cpu = spent(cpu_time(std::process::id()), own0);
        let (api1, tok1) = halo_calls(self.sandbox);
        Phase {
            load,
            api_calls: api1 - api0,
            token_calls: tok1 - tok0,
            handler_cpu,
            own_cpu,
            as_expected: true,
        }
    }

    /// Warm-up (connections, the token), not counted; false when an answer was not `created`.
    pub(super) async fn warm_up(&self) -> bool {
        let mut warm = prepare("warm", 0..self.args.concurrency.max(1) * 4);
        sign_all(&mut warm);
        let n_warm = warm.len();
        let warmed = load(
            &self.http,
            &self.url,
            Arc::new(warm),
            n_warm,
            self.args.concurrency,
        )
        .await;
        if warmed.count("created") != n_warm {
            eprintln!("bench: warm-up answers: {}", warmed.answers_text());
            return false;
        }
        true
    }

    /// New incidents, Halo answering in `halo_delay_ms`. Run first, while the sandbox holds few
    /// tickets: its lookup scans every ticket under one lock on one thread, so after the
    /// zero-latency phase its own queueing would add milliseconds that are not the handler's.
    pub(super) async fn slow_halo(&self) -> Phase {
        let args = self.args;
        self.sandbox
            .halo
            .set_delay(Duration::from_millis(args.halo_delay_ms));
        let mut slow_set = prepare("slow", 0..args.slow_incidents);
        sign_all(&mut slow_set);
        let mut slow = self.measure(Arc::new(slow_set), args.slow_incidents).await;
        self.sandbox.halo.set_delay(Duration::ZERO);
        let load = &slow.load;
        println!(
            "slow Halo      {} in {:.2} s with {} ms per Halo call: {:.0}/s; p50 {}, p95 {}, p99 {}; {:.2} Halo calls each; answers: {}",
            args.slow_incidents,
            load.elapsed.as_secs_f64(),
            args.halo_delay_ms,
            load.rate(),
            ms(load.percentile(0.50)),
            ms(load.percentile(0.95)),
            ms(load.percentile(0.99)),
            slow.api_calls as f64 / args.slow_incidents.max(1) as f64,
            load.answers_text()
        );
        slow.as_expected = load.count("created") == args.slow_incidents;
        slow
    }

    /// New incidents, zero-latency Halo; also the deliveries, for [`Self::redeliveries`].
    pub(super) async fn new_incidents(&self) -> (Phase, Arc<Vec<Prepared>>) {
        let args = self.args;
        let mut fresh = prepare("new", 0..args.incidents);
        sign_all(&mut fresh);
        let fresh = Arc::new(fresh);
        let mut fast = self.measure(fresh.clone(), args.incidents).await;
        let load = &fast.load;
        println!(
            "new incidents  {} in {:.2} s: {:.0}/s; p50 {}, p95 {}, p99 {}; answers: {}",
            args.incidents,
            load.elapsed.as_secs_f64(),
            load.rate(),
            ms(load.percentile(0.50)),
            ms(load.percentile(0.95)),
            ms(load.percentile(0.99)),
            load.answers_text()
        );
        fast.as_expected = load.count("created") == args.incidents;
        (fast, fresh)
    }

    /// Re-deliveries of the zero-latency phase's events: answered from the ledger, no Halo call.
    pub(super) async fn redeliveries(&self, fresh: Arc<Vec<Prepared>>) -> Phase {
        let args = self.args;
        let mut again: Vec<Prepared> = fresh.iter().cloned().collect();
        drop(fresh);
        sign_all(&mut again);
        let mut dup = self.measure(Arc::new(again), args.redeliveries).await;
        let calls = dup.api_calls + dup.token_calls;
        let load = &dup.load;
        println!(
            "re-deliveries  {} in {:.2} s: {:.0}/s; p50 {}, p99 {}; Halo calls {calls}; answers: {}",
            args.redeliveries,
            load.elapsed.as_secs_f64(),
            load.rate(),
            ms(load.percentile(0.50)),
            ms(load.percentile(0.99)),
            load.answers_text()
        );
        dup.as_expected = load.count("duplicate") == args.redeliveries && calls == 0;
        dup
    }
}

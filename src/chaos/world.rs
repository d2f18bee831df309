//! What one chaos seed runs against: the sandbox fakes in this process, one Azurite container,
//! and two handler processes (this executable, `serve`) sharing it, each killed with SIGKILL and
//! started again at the schedule's word.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sandbox::azurite::Azurite;
use crate::sandbox::{Sandbox, SignedEvent, WebhookAuth, WebhookResult};

/// The secrets the handlers are given.
pub(super) const CF_SECRET: &str = "chaos-contraforce-signing-secret";
const HALO_SECRET: &str = "chaos-halo-shared-secret";

/// One handler process.
pub(super) struct Proc {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Proc {
    pub(super) fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The sandbox, the store and the two handlers.
pub(super) struct World {
    pub(super) sandbox: Sandbox,
    env: HashMap<String, String>,
    pub(super) procs: [Proc; 2],
    http: reqwest::Client,
    /// Handler answers with a status of 500 or more (never allowed).
    pub(super) server_errors: Vec<String>,
}

impl World {
    /// Starts the fakes and two handlers on a fresh container of `azurite`.
    pub(super) async fn start(azurite: &Azurite, seed: u64) -> std::io::Result<World> {
        let sandbox = Sandbox::start().await?;
        let mut env: HashMap<String, String> = sandbox.settings().into_iter().collect();
        for (name, value) in [
            ("CF_WEBHOOK_SECRET", CF_SECRET),
            ("HALO_WEBHOOK_SECRET", HALO_SECRET),
            ("STATE_STORE", "blob"),
            ("REQUEST_DEADLINE_SECONDS", "5"),
            ("HALO_CREATE_GRACE_SECONDS", "3"),
            ("RECONCILE_RETRY_SECONDS", "0"),
            ("RECONCILE_DEADLINE_SECONDS", "60"),
            ("HALO_CLOSE_ON_CF_CLOSE", "true"),
            ("HALO_RATE_LIMIT", "1000000/1"),
            ("RUST_LOG", "warn"),
        ] {
            env.insert(name.into(), value.into());
        }
        env.insert(
            "STATE_BLOB_URL".into(),
            azurite.container_url(&format!("chaos{seed}{}", uuid::Uuid::new_v4().simple())),
        );
        let dir = std::env::temp_dir().join(format!("cf-halo-chaos-{seed}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let proc = |n: usize| -> std::io::Result<Proc> {
            Ok(Proc {
                child: None,
                port: TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(),
                log: dir.join(format!("handler-{n}.log")),
            })
        };
        let mut world = World {
            sandbox,
            env,
            procs: [proc(0)?, proc(1)?],
            http: reqwest::Client::new(),
            server_errors: Vec::new(),
        };
        for n in 0..2 {
            world.start_proc(n).await?;
        }
        Ok(world)
    }

    /// Starts (again) handler `n` on its port and waits for its readiness ping.
    pub(super) async fn start_proc(&mut self, n: usize) -> std::io::Result<()> {
        let exe = std::env::current_exe()?;
        let proc = &mut self.procs[n];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&proc.log)?;
        let child = Command::new(exe)
            .arg("serve")
            .env_clear()
            .envs(&self.env)
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", proc.port.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        proc.child = Some(child);
        let address = proc.address();
        let started = Instant::now();
        while self.http.get(format!("{address}/")).send().await.is_err() {
            if started.elapsed() > Duration::from_secs(15) {
                return Err(std::io::Error::other("a handler did not become ready"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// SIGKILL of handler `n`, as a recycled or crashed instance dies.
    pub(super) fn kill(&mut self, n: usize) {
        if let Some(mut child) = self.procs[n].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether handler `n` runs.
    pub(super) fn running(&self, n: usize) -> bool {
        self.procs[n].child.is_some()
    }

    /// Posts an incident as ContraForce does: signed now, to handler `n`.
    pub(super) async fn deliver(&mut self, n: usize, event_id: &str, body: &Value) -> Option<u16> {
        let url = format!("{}/api/CfToHalo", self.procs[n].address());
        let event = SignedEvent::new(event_id, body.clone(), CF_SECRET);
        match self.sandbox.cf.send_event(&url, &event).await {
            Ok((status, body)) => {
                self.note_status(status, &body);
                Some(status)
            }
            Err(_) => None,
        }
    }

    /// Halo's webhook for a ticket to handler `n`; `resend` re-sends the same delivery too.
    pub(super) async fn webhook(&mut self, n: usize, ticket_id: u64, resend: bool) {
        let auth = WebhookAuth::Header {
            name: "X-Halo-Secret".into(),
            value: HALO_SECRET.into(),
        };
        let url = format!("{}/api/HaloToCf", self.procs[n].address());
        let first: Option<WebhookResult> = self
            .sandbox
            .halo
            .send_webhook(&url, ticket_id, "ticket updated", &auth)
            .await
            .ok();
        if let Some(first) = first {
            self.note_status(first.status, &first.body);
            if resend && let Ok(again) = self.sandbox.halo.resend_webhook(&url, &first, &auth).await
            {
                self.note_status(again.status, &again.body);
            }
        }
    }

    /// Fires the Reconcile timer on handler `n`; its summary when it ran.
    pub(super) async fn timer(&mut self, n: usize) -> Option<Value> {
        let invocation = json!({
            "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": false}},
            "Metadata": {"sys": {"MethodName": "Reconcile"}}
        });
        let answer = self
            .http
            .post(format!("{}/Reconcile", self.procs[n].address()))
            .json(&invocation)
            .timeout(Duration::from_secs(90))
            .send()
            .await
            .ok()?;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        self.note_status(status, &body);
        (status == 200).then(|| body["ReturnValue"].clone())
    }

    fn note_status(&mut self, status: u16, body: &Value) {
        if status >= 500 && status != 503 {
            self.server_errors.push(format!("{status} {body}"));
        }
    }

    /// Lines of the handlers' logs that show a panic.
    pub(super) fn panics(&self) -> Vec<String> {
        self.procs
            .iter()
            .filter_map(|p| std::fs::read_to_string(&p.log).ok())
            .flat_map(|log| {
                log.lines()
                    .filter(|l| l.contains("panicked"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Stops everything this seed started; the handlers' logs stay when `keep_logs`.
    pub(super) async fn stop(mut self, keep_logs: bool) {
        for n in 0..2 {
            self.kill(n);
        }
        if let Some(dir) = self.procs[0].log.parent() {
            if keep_logs {
                eprintln!("  the handlers' logs: {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        self.sandbox.stop().await;
    }
}

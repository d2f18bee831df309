//! `demo`: the whole bridge against the built-in sandbox, as a readable transcript, one scene per
//! arrow of the seed's diagram (`incidents`, `notes`, `verdicts`) and one for `Reconcile`.
//! `sandbox`: the fakes alone, on fixed ports, for `func start` or the bare binary.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::local::{Local, shutdown_signal, start_handler, start_local};
use crate::sandbox::{Sandbox, SignedEvent, WebhookAuth};

mod incidents;
mod lost_store;
mod notes;
mod reconcile;
mod verdicts;

const CF_SECRET: &str = "demo-contraforce-signing-secret";
const HALO_SECRET: &str = "demo-halo-shared-secret";
/// The demo handler's settings on top of the sandbox's. The demo fires the timer back to back,
/// so nothing waits out a back-off.
const SETTINGS: [(&str, &str); 5] = [
    ("CF_WEBHOOK_SECRET", CF_SECRET),
    ("HALO_WEBHOOK_SECRET", HALO_SECRET),
    ("HALO_INVESTIGATION_ACTIONS", "FalsePositive=close"),
    ("HALO_CLOSE_ON_CF_CLOSE", "true"),
    ("RECONCILE_RETRY_SECONDS", "0"),
];
const INCIDENT: &str = include_str!("../../tests/data/cf-incident-created.json");
const VERDICT: &str = include_str!("../../tests/data/cf-agent-investigation.json");

/// Prints a step and remembers whether it went as expected.
struct Transcript {
    failures: usize,
}

impl Transcript {
    fn step(&mut self, ok: bool, what: &str, result: &str) {
        if !ok {
            self.failures += 1;
        }
        println!("  {} {what:<52} → {result}", if ok { "✓" } else { "✗" });
    }
}

/// The sandbox and the handler under demonstration.
struct Demo {
    sandbox: Sandbox,
    handler: String,
}

impl Demo {
    /// Signs a delivery as ContraForce does today (ISO timestamp, base64 MAC) and posts it.
    async fn post_incident(&self, event_id: &str, incident: &Value) -> (u16, Value) {
        self.post_signed(SignedEvent::new(event_id, incident.clone(), CF_SECRET))
            .await
    }

    async fn post_signed(&self, event: SignedEvent) -> (u16, Value) {
        let url = format!("{}/api/CfToHalo", self.handler);
        match self.sandbox.cf.send_event(&url, &event).await {
            Ok(answer) => answer,
            Err(e) => (0, json!({ "error": e })),
        }
    }

    async fn halo_webhook(&self, ticket_id: u64) -> (u16, Value) {
        let auth = WebhookAuth::Header {
            name: "X-Halo-Secret".into(),
            value: HALO_SECRET.into(),
        };
        let url = format!("{}/api/HaloToCf", self.handler);
        match self
            .sandbox
            .halo
            .send_webhook(&url, ticket_id, "ticket updated", &auth)
            .await
        {
            Ok(r) => (r.status, r.body),
            Err(e) => (0, json!({ "error": e })),
        }
    }

    /// Fires the Reconcile timer as the Functions host does; its summary.
    async fn reconcile(&self) -> Value {
        let timer = json!({
            "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": false}},
            "Metadata": {"sys": {"MethodName": "Reconcile"}}
        });
        let answer = reqwest::Client::new()
            .post(format!("{}/Reconcile", self.handler))
            .json(&timer)
            .send()
            .await;
        match answer {
            Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null)["ReturnValue"].clone(),
            Err(e) => json!({ "error": e.to_string() }),
        }
    }
}

/// Now as ContraForce writes `X-CF-Timestamp` today: RFC 3339 UTC with milliseconds.
fn now_iso() -> String {
    format!(
        "{}Z",
        crate::clock::utc_date_time(crate::clock::now_nanos(), 3)
    )
}

fn incident(id: &str, number: u64, title: &str) -> Value {
    let mut incident: Value = serde_json::from_str(INCIDENT).expect("embedded fixture is JSON");
    incident["data"]["incidentId"] = json!(id);
    incident["data"]["incidentNumber"] = json!(number);
    incident["data"]["title"] = json!(title);
    incident
}

fn status_of(answer: &(u16, Value)) -> String {
    let (code, body) = answer;
    match (body["status"].as_str(), body["ticketId"].as_u64()) {
        (Some(s), Some(t)) => format!("{code} {s}, ticket {t}"),
        (Some(s), None) => format!("{code} {s}"),
        _ => format!("{code} {body}"),
    }
}

/// Runs the end-to-end demo; non-zero exit when any step misbehaves.
pub async fn run() -> ExitCode {
    match run_demo().await {
        Ok(0) => {
            println!("\nDemo finished: every step behaved as the contract says.");
            ExitCode::SUCCESS
        }
        Ok(n) => {
            println!("\nDemo finished with {n} unexpected step(s).");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("demo could not run: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_demo() -> std::io::Result<usize> {
    let Local {
        sandbox,
        url: handler,
        handle: server,
    } = start_local(&SETTINGS).await?;
    let mut demo = Demo { sandbox, handler };
    let mut t = Transcript { failures: 0 };

    println!("cf-halo-bridge demo");
    println!("  handler        {}", demo.handler);
    println!("  sandbox Halo   {}", demo.sandbox.halo.base_url());
    println!("  sandbox CF     {}\n", demo.sandbox.cf.base_url());

    let ticket = incidents::scene(&demo, &mut t).await;
    notes::scene(&demo, &mut t, ticket).await;
    verdicts::scene(&demo, &mut t).await;
    reconcile::scene(&demo, &mut t).await;
    // A new handler with an empty store: a restarted process, or a new storage account.
    server.stop(false).await;
    let (handler, server) = start_handler(&demo.sandbox, &SETTINGS)?;
    demo.handler = handler;
    lost_store::scene(&demo, &mut t, ticket).await;
    summary(&demo);
    server.stop(false).await;
    demo.sandbox.stop().await;
    Ok(t.failures)
}

/// What the fakes hold at the end.
fn summary(demo: &Demo) {
    let (halo, cf) = (&demo.sandbox.halo, &demo.sandbox.cf);
    println!("\nWhat happened in Halo");
    for ticket in halo.tickets() {
        let actions = halo.actions(ticket.id);
        let private = actions.iter().filter(|a| a.hiddenfromuser).count();
        println!(
            "  ticket {}  {:<45} {} actions ({private} private), {}",
            ticket.id,
            ticket.summary,
            actions.len(),
            ticket.status_name
        );
    }
    let requests = halo.requests();
    let calls = |method: &str, path: fn(&str) -> bool| {
        requests
            .iter()
            .filter(|r| r.method == method && path(&r.path.to_ascii_lowercase()))
            .count()
    };
    println!(
        "  Halo calls: {} token, {} lookups and sweeps, {} creates and updates, {} notes, {} ticket reads, {} action reads",
        halo.token_requests(),
        calls("GET", |p| p == "/api/tickets"),
        calls("POST", |p| p == "/api/tickets"),
        calls("POST", |p| p == "/api/actions"),
        calls("GET", |p| p.starts_with("/api/tickets/")),
        calls("GET", |p| p == "/api/actions"),
    );
    println!(
        "  ContraForce: {} comment(s), {} status change(s)",
        cf.comments().len(),
        cf.status_updates().len()
    );
}

/// Runs the sandbox fakes until Ctrl-C and prints the settings that point a handler at them.
pub async fn sandbox(halo_port: u16, cf_port: u16) -> ExitCode {
    let sandbox = match Sandbox::start_on(halo_port, cf_port).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the sandbox on ports {halo_port}/{cf_port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "Sandbox running: fake Halo at {}, fake ContraForce at {}",
        sandbox.halo.base_url(),
        sandbox.cf.base_url()
    );
    println!(
        "Settings for the handler (add CF_WEBHOOK_SECRET and HALO_WEBHOOK_SECRET of your choice):\n"
    );
    for (name, value) in sandbox.settings() {
        println!("export {name}='{value}'");
    }
    println!(
        "\nControl: GET {0}/_sandbox/tickets, POST {0}/_sandbox/tickets/{{id}}/notes, POST {0}/_sandbox/tickets/{{id}}/close",
        sandbox.halo.base_url()
    );
    println!("Ctrl-C stops it.");
    shutdown_signal().await;
    sandbox.stop().await;
    ExitCode::SUCCESS
}

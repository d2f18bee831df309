//! `demo`: the whole bridge against the built-in sandbox, as a readable transcript.
//! `sandbox`: the fakes alone, on fixed ports, for `func start` or the bare binary.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::local::{Local, shutdown_signal, start_local};
use crate::sandbox::{Sandbox, SignedEvent, WebhookAuth};

const CF_SECRET: &str = "demo-contraforce-signing-secret";
const HALO_SECRET: &str = "demo-halo-shared-secret";
const INCIDENT: &str = include_str!("../tests/data/cf-incident-created.json");

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
    } = start_local(&[
        ("CF_WEBHOOK_SECRET", CF_SECRET),
        ("HALO_WEBHOOK_SECRET", HALO_SECRET),
    ])
    .await?;
    let demo = Demo { sandbox, handler };
    let halo = &demo.sandbox.halo;
    let cf = &demo.sandbox.cf;
    let mut t = Transcript { failures: 0 };

    println!("cf-halo-bridge demo");
    println!("  handler        {}", demo.handler);
    println!("  sandbox Halo   {}", halo.base_url());
    println!("  sandbox CF     {}\n", cf.base_url());

    println!("ContraForce → Halo (POST /api/CfToHalo, signed)");
    let first = incident(
        "b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21",
        1234,
        "Suspicious sign-in activity",
    );
    let a = demo.post_incident("evt-1234-a", &first).await;
    let ticket = a.1["ticketId"].as_u64().unwrap_or(0);
    t.step(
        a.1["status"] == "created",
        "new incident #1234",
        &status_of(&a),
    );
    if let Some(created) = halo.ticket(ticket) {
        println!("      summary  {}", created.summary);
        println!(
            "      ref      {}",
            created.thirdpartynumber.unwrap_or_default()
        );
        let id = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        println!(
            "      priority {}, client {}, ticket type {}",
            id(created.priority_id),
            id(created.client_id),
            id(created.tickettype_id)
        );
    }
    let before = halo.api_requests();
    let b = demo.post_incident("evt-1234-a", &first).await;
    let calls = halo.api_requests() - before;
    t.step(
        b.1["status"] == "duplicate" && calls == 0,
        "same event delivered again",
        &format!("{} ({calls} Halo calls)", status_of(&b)),
    );
    let c = demo.post_incident("evt-1234-b", &first).await;
    let notes = halo
        .actions(ticket)
        .iter()
        .filter(|a| a.hiddenfromuser)
        .count();
    t.step(
        c.1["status"] == "updated" && notes == 1,
        "new event for the same incident",
        &format!("{} (private note added)", status_of(&c)),
    );
    let mut test_event = incident("test-incident", 1, "Portal test");
    test_event["isTest"] = json!(true);
    let before = halo.requests().len();
    let d = demo.post_incident("evt-test", &test_event).await;
    t.step(
        d.1["status"] == "test" && halo.requests().len() == before,
        "portal test delivery",
        &format!("{} (nothing created)", status_of(&d)),
    );

    halo.set_delay(Duration::from_millis(200));
    let burst_incident = incident(
        "9d8c7b6a-0000-4000-8000-000000000042",
        1235,
        "Impossible travel burst",
    );
    let answers = join_all((0..10).map(|i| {
        let (demo, body) = (&demo, &burst_incident);
        async move {
            demo.post_incident(&format!("evt-1235-{}", i % 3), body)
                .await
        }
    }))
    .await;
    halo.set_delay(Duration::ZERO);
    let burst_tickets: Vec<u64> = halo
        .tickets()
        .iter()
        .filter(|t| {
            t.thirdpartynumber.as_deref()
                == Some("cf|sentinel|9d8c7b6a-0000-4000-8000-000000000042")
        })
        .map(|t| t.id)
        .collect();
    let all_ok = answers.iter().all(|(s, _)| *s == 200);
    let count = |s: &str| answers.iter().filter(|(_, b)| b["status"] == s).count();
    t.step(
        all_ok && burst_tickets.len() == 1,
        "10 concurrent deliveries, Halo answering in 200 ms",
        &format!(
            "exactly one ticket ({} created, {} updated, {} duplicate)",
            count("created"),
            count("updated"),
            count("duplicate")
        ),
    );

    println!("\nHalo → ContraForce (POST /api/HaloToCf, X-Halo-Secret)");
    halo.add_agent_note(
        ticket,
        "Jane Tech",
        3,
        "<p>Reset the user&#39;s password and <b>revoked</b> sessions.</p>",
        false,
    );
    halo.add_agent_note(
        ticket,
        "Jane Tech",
        3,
        "<p>Internal: call the customer.</p>",
        true,
    );
    let e = demo.halo_webhook(ticket).await;
    let comments = cf.comments();
    t.step(
        e.1["actionsForwarded"] == 1 && comments.len() == 1,
        "agent adds a public and a private note",
        &format!("{} {}", e.0, e.1),
    );
    if let Some(c) = comments.first() {
        for line in c.body["content"].as_str().unwrap_or("").lines() {
            println!("      │ {line}");
        }
    }
    let f = demo.halo_webhook(ticket).await;
    t.step(
        f.1["actionsForwarded"] == 0 && cf.comments().len() == 1,
        "another webhook, nothing new",
        &format!("{} {}", f.0, f.1),
    );
    halo.close(ticket);
    let g = demo.halo_webhook(ticket).await;
    let closes = cf.status_updates();
    t.step(
        g.1["closed"] == true && closes.len() == 1,
        "agent closes the ticket",
        &format!("{} {}", g.0, g.1),
    );
    if let Some(c) = closes.first() {
        println!("      │ {}", c.body["comment"].as_str().unwrap_or(""));
    }
    let h = demo.halo_webhook(ticket).await;
    t.step(
        h.1["closed"] == false && cf.status_updates().len() == 1,
        "ticket still closed, webhook again",
        &format!("{} {}", h.0, h.1),
    );

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
        "  Halo calls: {} token, {} lookups, {} creates, {} notes, {} ticket reads, {} action reads",
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
    server.stop(false).await;
    demo.sandbox.stop().await;
    Ok(t.failures)
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

//! Scene 3, the third arrow: the ContraForce agent's verdict, analysts' comments and a close in
//! ContraForce reach the Halo ticket — and nothing the bridge wrote comes back.

use serde_json::{Value, json};

use super::{Demo, Transcript, VERDICT, incident, status_of};

pub(super) async fn scene(demo: &Demo, t: &mut Transcript) {
    let (halo, cf) = (&demo.sandbox.halo, &demo.sandbox.cf);
    let ws = cf.workspace_id();
    println!("\nContraForce's agent and analysts → Halo (the third arrow)");
    let made = demo
        .post_incident(
            "evt-1240",
            &incident("agent-1240", 1240, "Unusual OAuth consent"),
        )
        .await;
    let ticket = made.1["ticketId"].as_u64().unwrap_or(0);
    let mut verdict: Value = serde_json::from_str(VERDICT).expect("embedded fixture is JSON");
    verdict["data"]["incidentId"] = json!("agent-1240");
    let noted = demo.post_incident("inv-1240", &verdict).await;
    let closed = halo.ticket(ticket).is_some_and(|t| t.hasbeenclosed);
    t.step(
        noted.1["status"] == "noted" && noted.1["action"] == "close" && closed,
        "agent verdict FalsePositive (…=close)",
        &format!("{} (note added, ticket closed)", status_of(&noted)),
    );
    if let Some(note) = halo.actions(ticket).iter().rev().find(|a| a.hiddenfromuser) {
        for line in note.note.lines() {
            println!("      │ {line}");
        }
    }
    let echo = demo.halo_webhook(ticket).await;
    t.step(
        echo.1["closed"] == false && cf.status_updates().len() == 1,
        "Halo's webhook about that close",
        &format!("{} (not echoed to ContraForce)", echo.0),
    );

    let made = demo
        .post_incident(
            "evt-1241",
            &incident("analyst-1241", 1241, "Mailbox rule created"),
        )
        .await;
    let ticket = made.1["ticketId"].as_u64().unwrap_or(0);
    cf.add_comment(
        &ws,
        "analyst-1241",
        "Ann Analyst",
        "Rule forwards to an external address.\nUser confirms it was not them.",
    );
    cf.add_agent_comment(
        &ws,
        "analyst-1241",
        "Triage Agent",
        "Sender domain first seen 2 days ago.",
    );
    let run = demo.reconcile().await;
    t.step(
        run["notesToHalo"] == 2,
        "analyst and agent comment in ContraForce",
        &format!("reconcile: {} note(s) to Halo", run["notesToHalo"]),
    );
    if let Some(note) = halo
        .actions(ticket)
        .iter()
        .find(|a| a.note.starts_with("ContraForce comment by"))
    {
        for line in note.note.lines() {
            println!("      │ {line}");
        }
    }
    let echo = demo.halo_webhook(ticket).await;
    t.step(
        echo.1["actionsForwarded"] == 0,
        "Halo's webhook about those notes",
        &format!("{} (not echoed to ContraForce)", echo.0),
    );
    cf.close_incident(
        &ws,
        "analyst-1241",
        "Ann Analyst",
        "Contained: rule removed, password reset.",
    );
    let run = demo.reconcile().await;
    let closed = halo.ticket(ticket).is_some_and(|t| t.hasbeenclosed);
    t.step(
        run["closesMirrored"] == 1 && closed,
        "incident closed in ContraForce",
        "reconcile: the Halo ticket is closed (HALO_CLOSE_ON_CF_CLOSE)",
    );
    let echo = demo.halo_webhook(ticket).await;
    t.step(
        echo.1["closed"] == false,
        "Halo's webhook about that close",
        &format!("{} (not echoed to ContraForce)", echo.0),
    );
}

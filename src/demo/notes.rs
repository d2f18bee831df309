//! Scene 2, Halo → ContraForce: public agent notes become comments once, closing is mirrored.

use super::{Demo, Transcript};

pub(super) async fn scene(demo: &Demo, t: &mut Transcript, ticket: u64) {
    let (halo, cf) = (&demo.sandbox.halo, &demo.sandbox.cf);
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

    if let Some(first) = cf.comments().first() {
        println!(
            "      ContraForce API route shape: {} (/incidents/{}/…)",
            serde_json::to_value(first.style)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?"),
            first.source_segment.as_deref().unwrap_or("{incidentId}")
        );
    }
}

//! Scene 1, ContraForce → Halo: an incident becomes exactly one ticket, however it is delivered.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use super::{CF_SECRET, Demo, Transcript, incident, status_of};
use crate::sandbox::{SignedEvent, SigningFormat};

/// Returns the first incident's ticket, which the next scene works on.
pub(super) async fn scene(demo: &Demo, t: &mut Transcript) -> u64 {
    let halo = &demo.sandbox.halo;
    println!("ContraForce → Halo (POST /api/CfToHalo, signed as ContraForce signs today)");
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
            created.third_party_id_string.unwrap_or_default()
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
            t.third_party_id_string.as_deref()
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

    let legacy = incident(
        "5e6f7a8b-0000-4000-8000-000000000043",
        1236,
        "Signed the samples' way",
    );
    let event = SignedEvent::new("evt-1236", legacy, CF_SECRET).with_format(SigningFormat::Legacy);
    let l = demo.post_signed(event).await;
    t.step(
        l.1["status"] == "created",
        "an incident signed the samples' way (sha256=hex)",
        &status_of(&l),
    );
    let mut replay = SignedEvent::new(
        "evt-1237-original",
        incident("replayed", 1237, "Replay"),
        CF_SECRET,
    );
    replay.timestamp = Some(super::now_iso());
    let first = demo.post_signed(replay.clone()).await;
    replay.event_id = "evt-1237-forged".into();
    let before = halo.api_requests();
    let again = demo.post_signed(replay).await;
    t.step(
        first.1["status"] == "created"
            && again.1["status"] == "duplicate"
            && halo.api_requests() == before,
        "the same signed request, a new X-CF-Event-Id",
        &format!("{} (a replay: no Halo call)", status_of(&again)),
    );
    ticket
}

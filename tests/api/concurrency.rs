//! Exactly one ticket however many deliveries arrive at once (CONTRACT §3.1 "Concurrency").

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;

use crate::helpers::*;

async fn burst(app: &TestApp, n: usize, event_id: impl Fn(usize) -> String) -> Vec<(u16, Value)> {
    let body = incident(42);
    join_all((0..n).map(|i| {
        let id = event_id(i);
        let body = body.clone();
        async move { answer(app.post_cf(&id, &body).await).await }
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_simultaneous_deliveries_of_one_event_make_exactly_one_ticket() {
    let app = spawn_app().await;
    app.sandbox.halo.set_delay(Duration::from_millis(300));
    let answers = burst(&app, 30, |_| "evt-42".to_string()).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
    let created = answers
        .iter()
        .filter(|(_, b)| b["status"] == "created")
        .count();
    let duplicates = answers
        .iter()
        .filter(|(_, b)| b["status"] == "duplicate")
        .count();
    assert_eq!((created, duplicates), (1, 29));
    assert_eq!(app.sandbox.halo.count("POST", "/api/Tickets"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_simultaneous_events_for_one_incident_make_one_ticket_and_notes() {
    let app = spawn_app().await;
    app.sandbox.halo.set_delay(Duration::from_millis(300));
    let answers = burst(&app, 30, |i| format!("evt-{i}")).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let tickets = app.sandbox.halo.tickets();
    assert_eq!(tickets.len(), 1);
    let created = answers
        .iter()
        .filter(|(_, b)| b["status"] == "created")
        .count();
    let updated = answers
        .iter()
        .filter(|(_, b)| b["status"] == "updated")
        .count();
    assert_eq!((created, updated), (1, 29));
    let notes = app
        .sandbox
        .halo
        .actions(tickets[0].id)
        .into_iter()
        .filter(|a| a.hiddenfromuser)
        .count();
    assert_eq!(notes, 29, "one note per distinct event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_still_waiting_at_its_deadline_gets_503_with_retry_after() {
    let app = spawn_app_with(|env| {
        env.insert("REQUEST_DEADLINE_SECONDS".into(), "1".into());
    })
    .await;
    app.sandbox.halo.set_delay(Duration::from_millis(700));
    let answers = burst(&app, 2, |_| "evt-slow".to_string()).await;
    // The first times out in Halo (lookup + create > 1 s); the second times out waiting.
    assert!(answers.iter().all(|(s, _)| *s == 503), "{answers:?}");
    app.sandbox.halo.set_delay(Duration::ZERO);
    let (_, body) = answer(app.post_cf("evt-slow", &incident(42)).await).await;
    assert!(
        body["status"] == "created" || body["status"] == "updated",
        "{body}"
    );
    assert_eq!(app.sandbox.halo.tickets().len(), 1, "never two tickets");
}

//! Faults: retries, Retry-After, deadlines and Halo's rate budget (CONTRACT §3.3, §7).

use std::time::{Duration, Instant};

use cf_halo_bridge::sandbox::{Fault, RateLimit};
use serde_json::json;

use crate::helpers::*;

fn statuses(app: &TestApp, method: &str, path: &str) -> Vec<u16> {
    app.sandbox
        .halo
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .map(|r| r.status)
        .collect()
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_the_delivery_succeeds() {
    let app = spawn_app().await;
    app.sandbox.halo.push_fault(
        Fault::on("GET", "/api/Tickets", 429, "Rate Limit Reached").with_retry_after("1"),
    );
    let started = Instant::now();
    let (status, body) = answer(app.post_cf("evt-1", &incident(1)).await).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("created")));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(statuses(&app, "GET", "/api/Tickets"), [429, 200]);
}

#[tokio::test]
async fn a_429_without_retry_after_and_5xx_answers_are_retried_with_backoff() {
    for status in [429, 500, 502, 503] {
        let app = spawn_app().await;
        app.sandbox
            .halo
            .push_fault(Fault::on("GET", "/api/Tickets", status, "{}"));
        app.sandbox
            .halo
            .push_fault(Fault::on("GET", "/api/Tickets", status, "{}"));
        let (code, body) = answer(app.post_cf("evt-2", &incident(2)).await).await;
        assert_eq!(
            (code, body["status"].as_str()),
            (200, Some("created")),
            "Halo {status}"
        );
        assert_eq!(statuses(&app, "GET", "/api/Tickets"), [status, status, 200]);
    }
}

#[tokio::test]
async fn a_connection_reset_on_a_read_is_retried() {
    let app = spawn_app().await;
    app.sandbox
        .halo
        .push_fault(Fault::reset_on("GET", "/api/Tickets"));
    let (code, body) = answer(app.post_cf("evt-3", &incident(3)).await).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("created")));
    assert_eq!(statuses(&app, "GET", "/api/Tickets"), [0, 200]);
}

#[tokio::test]
async fn a_connection_reset_on_a_create_waits_out_the_grace_then_looks_up_before_creating_again() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_CREATE_GRACE_SECONDS".into(), "1".into());
    })
    .await;
    app.sandbox
        .halo
        .push_fault(Fault::reset_on("POST", "/api/Tickets"));
    let (code, _) = answer(app.post_cf("evt-4", &incident(4)).await).await;
    assert_eq!(
        code, 503,
        "the create may have happened: never created blindly again"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (code, body) = answer(app.post_cf("evt-4", &incident(4)).await).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("created")));
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
    assert_eq!(
        statuses(&app, "GET", "/api/Tickets"),
        [200, 200],
        "looked up again before the second create"
    );
}

#[tokio::test]
async fn a_halo_slower_than_the_deadline_gets_503_at_the_deadline_and_records_nothing() {
    let app = spawn_app_with(|env| {
        env.insert("REQUEST_DEADLINE_SECONDS".into(), "1".into());
    })
    .await;
    app.sandbox.halo.set_delay(Duration::from_millis(1500));
    let started = Instant::now();
    let r = app.post_cf("evt-5", &incident(5)).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "answered at the deadline, not after Halo"
    );
    app.sandbox.halo.set_delay(Duration::ZERO);
    let (_, body) = answer(app.post_cf("evt-5", &incident(5)).await).await;
    assert_eq!(body["status"], "created");
}

#[tokio::test]
async fn the_budget_keeps_a_rolling_window_halo_from_ever_answering_429() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_RATE_LIMIT".into(), "4/1".into());
    })
    .await;
    app.sandbox.halo.set_rate_limit(Some(RateLimit {
        calls: 4,
        window: Duration::from_secs(1),
        retry_after: true,
    }));
    for n in 0..5 {
        let (code, body) = answer(app.post_cf(&format!("evt-{n}"), &incident(n)).await).await;
        assert_eq!((code, body["status"].as_str()), (200, Some("created")));
    }
    assert_eq!(app.sandbox.halo.rate_limited_count(), 0);
    assert_eq!(app.sandbox.halo.tickets().len(), 5);
}

#[tokio::test]
async fn an_exhausted_budget_answers_503_with_the_time_until_it_returns_and_calls_nothing() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_RATE_LIMIT".into(), "3/60".into());
        env.insert("REQUEST_DEADLINE_SECONDS".into(), "2".into());
    })
    .await;
    app.create_ticket(1).await; // token + lookup + create: the budget is spent
    let before = app.sandbox.halo.requests().len();
    let started = Instant::now();
    let r = app.post_cf("evt-2", &incident(2)).await;
    assert_eq!(r.status(), 503);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (55..=61).contains(&retry_after),
        "Retry-After {retry_after} says when budget returns"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no waiting for budget that cannot come in time"
    );
    assert_eq!(app.sandbox.halo.requests().len(), before);
}

#[tokio::test]
async fn a_throttled_comment_is_retried_and_posted_once() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(6).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "hello", false);
    app.sandbox
        .cf
        .push_fault(Fault::any(429, "{}").with_retry_after("1"));
    let r = app.post_halo(&json!({"ticket_id": ticket})).await;
    assert_eq!(answer(r).await.1["actionsForwarded"], 1);
    assert_eq!(app.sandbox.cf.comments().len(), 1);
}

#[tokio::test]
async fn a_comment_answered_500_is_not_blindly_posted_again() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(7).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "hello", false);
    app.sandbox.cf.push_fault(Fault::any(500, "{}"));
    let r = app.post_halo(&json!({"ticket_id": ticket})).await;
    assert_eq!(
        r.status(),
        503,
        "the sender re-delivers; we do not guess whether it was posted"
    );
    let posts = app
        .sandbox
        .cf
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn a_close_answered_502_is_retried_because_closing_is_idempotent() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(8).await;
    app.sandbox.halo.close(ticket);
    app.sandbox.cf.push_fault(Fault::any(502, "{}"));
    let r = app.post_halo(&json!({"ticket_id": ticket})).await;
    assert_eq!(answer(r).await.1["closed"], true);
    assert_eq!(app.sandbox.cf.status_updates().len(), 1);
}

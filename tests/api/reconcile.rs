//! Reconcile (CONTRACT §9): a timer run finishes whatever a webhook could not, exactly once.

use std::time::Duration;

use cf_halo_bridge::state::work::Work;
use futures_util::future::join;
use serde_json::{Value, json};

use crate::helpers::*;

const JANE: u64 = 3;

fn work(app: &TestApp) -> Work<'_> {
    Work::new(app.state.store.as_ref(), Duration::from_secs(7 * 86_400))
}

fn with_severity(n: u64, severity: &str) -> Value {
    let mut body = incident(n);
    body["data"]["severity"] = json!(severity);
    body
}

#[tokio::test]
async fn the_timer_invocation_answers_200_with_outputs_logs_and_the_summary() {
    let app = spawn_app().await;
    let (status, body) = app.fire_timer().await;
    assert_eq!(status, 200);
    assert_eq!(body["Outputs"], json!({}));
    let logs = body["Logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    assert!(
        logs[0].as_str().unwrap().starts_with("reconcile: "),
        "{logs:?}"
    );
    let summary = &body["ReturnValue"];
    for key in [
        "eventsRedriven",
        "eventsFailed",
        "ticketsSwept",
        "commentsForwarded",
        "closesMirrored",
        "notesToHalo",
        "haloCalls",
    ] {
        assert!(summary[key].is_u64(), "{key}: {summary}");
    }
    assert_eq!(summary["complete"], true);
}

#[tokio::test]
async fn halo_down_then_one_run_creates_exactly_one_ticket_and_a_later_redelivery_is_free() {
    let app = spawn_app().await;
    app.sandbox.halo.set_down(true);
    let (status, _) = answer(app.post_cf("evt-down", &incident(1)).await).await;
    assert_eq!(status, 503);
    assert_eq!(work(&app).parked().await.unwrap().len(), 1);
    app.sandbox.halo.set_down(false);

    let summary = app.reconcile().await;
    assert_eq!(summary["eventsRedriven"], 1, "{summary}");
    assert_eq!(summary["complete"], true);
    let tickets = app.sandbox.halo.tickets();
    assert_eq!(tickets.len(), 1);
    assert!(work(&app).parked().await.unwrap().is_empty());

    let calls = app.halo_api_calls();
    let (_, dup) = answer(app.post_cf("evt-down", &incident(1)).await).await;
    assert_eq!(
        dup,
        json!({"status": "duplicate", "ticketId": tickets[0].id})
    );
    assert_eq!(app.halo_api_calls(), calls);
    let again = app.reconcile().await;
    assert_eq!(again["eventsRedriven"], 0);
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
}

#[tokio::test]
async fn a_halo_rejection_parks_nothing_and_replay_plus_a_run_retries_it() {
    let app = spawn_app().await;
    app.sandbox
        .halo
        .set_reject_creates(Some("Category is mandatory".into()));
    let (status, body) = answer(app.post_cf("evt-rejected", &incident(2)).await).await;
    assert_eq!(status, 502, "{body}");
    let work = work(&app);
    assert!(work.parked().await.unwrap().is_empty());
    let failed = work.failed().await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].event.event_id, "evt-rejected");
    assert_eq!(failed[0].message, "Category is mandatory");

    // A run does not retry a rejection by itself.
    let summary = app.reconcile().await;
    assert_eq!(
        (
            summary["eventsRedriven"].as_u64(),
            summary["eventsFailed"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert!(app.sandbox.halo.tickets().is_empty());

    app.sandbox.halo.set_reject_creates(None);
    assert!(work.replay("evt-rejected").await.unwrap());
    let summary = app.reconcile().await;
    assert_eq!(summary["eventsRedriven"], 1, "{summary}");
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
    assert!(work.failed().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_parked_event_halo_then_rejects_moves_to_the_failed_list() {
    let app = spawn_app().await;
    app.sandbox.halo.set_down(true);
    let (status, _) = answer(app.post_cf("evt-later-rejected", &incident(3)).await).await;
    assert_eq!(status, 503);
    app.sandbox.halo.set_down(false);
    app.sandbox
        .halo
        .set_reject_creates(Some("Please select a valid Ticket Type".into()));
    let summary = app.reconcile().await;
    assert_eq!(summary["eventsFailed"], 1, "{summary}");
    assert_eq!(summary["complete"], true);
    let failed = work(&app).failed().await.unwrap();
    assert_eq!(failed[0].message, "Please select a valid Ticket Type");
    assert!(work(&app).parked().await.unwrap().is_empty());
}

#[tokio::test]
async fn contraforce_down_during_a_halo_webhook_then_one_run_forwards_the_note_once() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(4).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", JANE, "<p>contained</p>", false);
    app.sandbox.cf.set_down(true);
    assert_eq!(app.halo_webhook(ticket).await.status, 503);
    assert_eq!(work(&app).pending().await.unwrap().len(), 1);
    app.sandbox.cf.set_down(false);

    let summary = app.reconcile().await;
    assert_eq!(summary["commentsForwarded"], 1, "{summary}");
    assert_eq!(app.sandbox.cf.comments().len(), 1);
    assert!(work(&app).pending().await.unwrap().is_empty());
    let again = app.reconcile().await;
    assert_eq!(again["commentsForwarded"], 0, "{again}");
    assert_eq!(app.sandbox.cf.comments().len(), 1);
}

#[tokio::test]
async fn a_note_added_in_halo_with_no_webhook_at_all_is_forwarded_by_the_next_run_once() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(5).await;
    app.sandbox.halo.add_agent_note(
        ticket,
        "Jane Tech",
        JANE,
        "<p>nobody told the bridge</p>",
        false,
    );
    app.sandbox.halo.close(ticket);
    let summary = app.reconcile().await;
    assert_eq!(summary["ticketsSwept"], 1, "{summary}");
    assert_eq!(summary["commentsForwarded"], 1);
    assert_eq!(summary["closesMirrored"], 1);
    let comments = app.sandbox.cf.comments();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body["content"]
            .as_str()
            .unwrap()
            .ends_with("nobody told the bridge")
    );
    let again = app.reconcile().await;
    assert_eq!(
        (
            again["commentsForwarded"].as_u64(),
            again["closesMirrored"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(app.sandbox.cf.comments().len(), 1);
    assert_eq!(app.sandbox.cf.status_updates().len(), 1);
    // The sweep asked Halo for what changed since its look-back, a page at a time.
    let sweep = app
        .sandbox
        .halo
        .requests()
        .into_iter()
        .find(|r| r.query.contains("lastupdatefromdate"))
        .unwrap();
    assert!(
        sweep.query.contains("pageinate=true") && sweep.query.contains("page_size=100"),
        "{}",
        sweep.query
    );
}

#[tokio::test]
async fn two_parked_events_low_first_then_high_the_high_ticket_is_created_first() {
    let app = spawn_app().await;
    app.sandbox.halo.set_down(true);
    let (low, _) = answer(app.post_cf("evt-low", &with_severity(6, "Low")).await).await;
    let (high, _) = answer(app.post_cf("evt-high", &with_severity(7, "High")).await).await;
    assert_eq!((low, high), (503, 503));
    app.sandbox.halo.set_down(false);
    let summary = app.reconcile().await;
    assert_eq!(summary["eventsRedriven"], 2, "{summary}");
    let tickets = app.sandbox.halo.tickets();
    let id_of = |incident: &str| {
        tickets
            .iter()
            .find(|t| {
                t.third_party_id_string.as_deref() == Some(&format!("cf|sentinel|{incident}"))
            })
            .unwrap()
            .id
    };
    assert!(
        id_of("incident-7") < id_of("incident-6"),
        "the High incident's ticket comes first"
    );
}

#[tokio::test]
async fn a_run_that_hits_its_budget_share_stops_and_the_next_run_finishes() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_RATE_LIMIT".into(), "20/2".into());
        env.insert("RECONCILE_BUDGET_SHARE".into(), "0.5".into());
    })
    .await;
    // A sweep reads one listing and each ticket's actions: 12 tickets take 13 calls.
    let mut tickets = Vec::new();
    for n in 10..22 {
        let ticket = app.create_ticket(n).await;
        app.sandbox.halo.add_agent_note(
            ticket,
            "Jane Tech",
            JANE,
            &format!("<p>note {n}</p>"),
            false,
        );
        tickets.push(ticket);
    }
    // Let the creates leave the budget's window.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut runs = Vec::new();
    loop {
        let before = app.halo_api_calls();
        let summary = app.reconcile().await;
        let calls = app.halo_api_calls() - before;
        let made: Vec<String> = app
            .sandbox
            .halo
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/api"))
            .collect::<Vec<_>>()[before..]
            .iter()
            .map(|r| format!("{} {}?{} {}", r.method, r.path, r.query, r.status))
            .collect();
        assert!(
            calls <= 10,
            "a run used {calls} Halo calls, more than its share of 10: {made:#?} {summary}"
        );
        assert_eq!(
            summary["haloCalls"].as_u64(),
            Some(calls as u64),
            "{summary}"
        );
        runs.push(summary.clone());
        if summary["complete"] == true {
            break;
        }
        assert!(runs.len() < 4, "{runs:?}");
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    assert_eq!(
        runs[0]["complete"], false,
        "12 tickets need more than one share: {runs:?}"
    );
    let forwarded: u64 = runs
        .iter()
        .map(|r| r["commentsForwarded"].as_u64().unwrap())
        .sum();
    assert_eq!(forwarded, 12);
    assert_eq!(
        app.sandbox.cf.comments().len(),
        12,
        "each note exactly once"
    );
}

#[tokio::test]
async fn a_run_that_finds_another_run_holding_the_claim_does_nothing() {
    let app = spawn_app().await;
    app.sandbox.halo.set_down(true);
    assert_eq!(app.post_cf("evt-held", &incident(8)).await.status(), 503);
    app.sandbox.halo.set_down(false);
    let held = app
        .state
        .store
        .try_claim("reconcile", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("free");
    let calls = app.sandbox.halo.requests().len();
    let summary = app.reconcile().await;
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["eventsRedriven"], 0);
    assert_eq!(app.sandbox.halo.requests().len(), calls);
    held.release().await;
    assert_eq!(app.reconcile().await["eventsRedriven"], 1);
}

async fn a_webhook_and_a_run_racing_on_one_ticket_forward_each_note_once(store: Store) {
    let app = spawn_app_on_store(store, |_| {}).await;
    let ticket = app.create_ticket(9).await;
    for i in 0..3 {
        app.sandbox.halo.add_agent_note(
            ticket,
            "Jane Tech",
            JANE,
            &format!("<p>note {i}</p>"),
            false,
        );
    }
    app.sandbox.halo.close(ticket);
    app.sandbox.cf.set_delay(Duration::from_millis(150));
    let (hook, summary) = join(app.halo_webhook(ticket), app.reconcile()).await;
    assert_eq!(hook.status, 200, "{}", hook.body);
    let contents: Vec<String> = app
        .sandbox
        .cf
        .comments()
        .iter()
        .map(|c| c.body["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(contents.len(), 3, "{contents:?} {summary}");
    for i in 0..3 {
        assert_eq!(
            contents
                .iter()
                .filter(|c| c.ends_with(&format!("note {i}")))
                .count(),
            1
        );
    }
    assert_eq!(app.sandbox.cf.status_updates().len(), 1, "one close");
}

#[tokio::test]
async fn a_webhook_and_a_run_racing_on_one_ticket_forward_each_note_once_memory() {
    a_webhook_and_a_run_racing_on_one_ticket_forward_each_note_once(Store::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_and_a_run_racing_on_one_ticket_forward_each_note_once_blob() {
    a_webhook_and_a_run_racing_on_one_ticket_forward_each_note_once(Store::Blob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_and_a_run_racing_on_one_parked_event_make_one_ticket() {
    let app = spawn_app_on_store(Store::Blob, |_| {}).await;
    app.sandbox.halo.set_down(true);
    assert_eq!(app.post_cf("evt-race", &incident(11)).await.status(), 503);
    app.sandbox.halo.set_down(false);
    app.sandbox.halo.set_delay(Duration::from_millis(200));
    let (redelivery, summary) = join(app.post_cf("evt-race", &incident(11)), app.reconcile()).await;
    let (status, body) = answer(redelivery).await;
    assert_eq!(status, 200, "{body} {summary}");
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
    assert_eq!(app.sandbox.halo.count("POST", "/api/Tickets"), 1);
}

//! One Halo call for many (CONTRACT §12): creates and notes that wait together leave in one
//! array call, matched by reference under each way Halo may answer an array; store misses waiting
//! together share one listing; a webhook about a ticket that is not CF-linked and a quiet sweep
//! cost (almost) nothing.

use std::time::{Duration, Instant};

use cf_halo_bridge::sandbox::ArrayAnswers;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;

/// `n` incidents posted at once; every answer.
async fn storm(app: &TestApp, from: u64, n: u64) -> Vec<(u16, Value)> {
    join_all((from..from + n).map(|k| async move {
        let mut body = incident(k);
        body["data"]["title"] = json!(format!("Storm {k}"));
        answer(app.post_cf(&format!("evt-{k}"), &body).await).await
    }))
    .await
}

/// The ticket Halo holds for incident `k`.
fn ticket_of(app: &TestApp, k: u64) -> Vec<u64> {
    let reference = format!("cf|sentinel|incident-{k}");
    app.sandbox
        .halo
        .tickets()
        .iter()
        .filter(|t| t.third_party_id_string.as_deref() == Some(reference.as_str()))
        .map(|t| t.id)
        .collect()
}

/// Halo calls of one kind (`GET /api/Tickets/{id}`, …); Halo's paths ignore case.
fn calls(app: &TestApp, kind: &str) -> usize {
    app.sandbox
        .halo
        .calls_by_kind()
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(kind))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn a_lone_create_is_sent_at_once_in_a_one_object_array() {
    let app = spawn_app().await;
    let started = Instant::now();
    let (_, body) = answer(app.post_cf("evt-1", &incident(1)).await).await;
    assert_eq!(body["status"], "created");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "no waiting for company"
    );
    let create = app
        .sandbox
        .halo
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.eq_ignore_ascii_case("/api/Tickets"))
        .unwrap();
    assert!(create.query.contains("returnall=true"), "{}", create.query);
    let sent: Value = serde_json::from_str(&create.body).unwrap();
    assert_eq!(sent.as_array().map(Vec::len), Some(1));
}

async fn creates_that_wait_together_leave_together(answers: ArrayAnswers) {
    let app = spawn_app().await;
    let halo = &app.sandbox.halo;
    halo.set_array_answers(answers);
    halo.set_delay(Duration::from_millis(300));
    let answers_seen = storm(&app, 100, 12).await;
    for (k, (status, body)) in (100..112).zip(&answers_seen) {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["status"], "created", "{body}");
        let tickets = ticket_of(&app, k);
        assert_eq!(tickets.len(), 1, "incident {k}: exactly one ticket");
        assert_eq!(
            body["ticketId"].as_u64(),
            Some(tickets[0]),
            "matched by reference, {answers:?}"
        );
    }
    let creates = calls(&app, "POST /api/Tickets");
    assert!(
        (1..=3).contains(&creates),
        "{creates} create calls for 12 incidents ({answers:?})"
    );
}

#[tokio::test]
async fn creates_that_wait_together_leave_in_one_call_when_halo_answers_in_order() {
    creates_that_wait_together_leave_together(ArrayAnswers::InOrder).await;
}

#[tokio::test]
async fn creates_that_wait_together_are_matched_by_reference_when_halo_answers_in_another_order() {
    creates_that_wait_together_leave_together(ArrayAnswers::Shuffled).await;
}

#[tokio::test]
async fn creates_that_wait_together_are_all_found_when_halo_answers_only_the_last() {
    creates_that_wait_together_leave_together(ArrayAnswers::LastOnly).await;
}

#[tokio::test]
async fn a_batch_with_a_bad_object_is_split_until_it_is_alone_and_only_it_gets_502() {
    let app = spawn_app().await;
    let halo = &app.sandbox.halo;
    halo.refuse_summaries_containing(Some("Storm 203"));
    halo.set_delay(Duration::from_millis(300));
    let answers_seen = storm(&app, 200, 8).await;
    for (k, (status, body)) in (200..208).zip(&answers_seen) {
        if k == 203 {
            assert_eq!(*status, 502, "{body}");
            assert_eq!(body["detail"], "The summary is not allowed");
            assert!(ticket_of(&app, k).is_empty());
        } else {
            assert_eq!(
                (*status, &body["status"]),
                (200, &json!("created")),
                "{k}: {body}"
            );
            assert_eq!(ticket_of(&app, k).len(), 1);
        }
    }
}

#[tokio::test]
async fn store_misses_waiting_together_share_one_listing() {
    let app = spawn_app().await;
    app.sandbox.halo.set_delay(Duration::from_millis(300));
    storm(&app, 300, 12).await;
    let lookups = calls(&app, "GET /api/Tickets");
    assert!(
        (1..=3).contains(&lookups),
        "{lookups} lookups for 12 incidents"
    );
    assert_eq!(app.sandbox.halo.tickets().len(), 12);
}

#[tokio::test]
async fn notes_waiting_together_leave_in_one_call() {
    let app = spawn_app().await;
    for k in 400..406 {
        app.create_ticket(k).await;
    }
    let before = calls(&app, "POST /api/Actions");
    app.sandbox.halo.set_delay(Duration::from_millis(300));
    let again = join_all((400..406).map(|k| {
        let app = &app;
        async move { answer(app.post_cf(&format!("evt-{k}-again"), &incident(k)).await).await }
    }))
    .await;
    assert!(
        again
            .iter()
            .all(|(s, b)| *s == 200 && b["status"] == "updated"),
        "{again:?}"
    );
    let notes = calls(&app, "POST /api/Actions") - before;
    assert!(
        (1..=2).contains(&notes),
        "{notes} note calls for 6 re-deliveries"
    );
    for k in 400..406 {
        let ticket = ticket_of(&app, k)[0];
        let notes = app
            .sandbox
            .halo
            .actions(ticket)
            .iter()
            .filter(|a| a.hiddenfromuser)
            .count();
        assert_eq!(notes, 1, "incident {k}");
    }
}

#[tokio::test]
async fn a_webhook_about_a_ticket_that_is_not_cf_linked_costs_no_halo_call() {
    let app = spawn_app().await;
    let printer = app.sandbox.halo.insert_ticket("printer on fire", None);
    app.sandbox.halo.clear_requests();
    let hook = app.halo_webhook(printer).await;
    assert_eq!(
        hook.body,
        json!({"status": "ignored", "reason": "not a CF-linked ticket"})
    );
    assert_eq!(app.halo_api_calls(), 0);
    // A payload without the field (event information only) still asks Halo.
    let (status, body) = answer(app.post_halo(&json!({"ticket_id": printer})).await).await;
    assert_eq!(
        (status, &body["reason"]),
        (200, &json!("not a CF-linked ticket"))
    );
    assert_eq!(app.halo_api_calls(), 1);
}

#[tokio::test]
async fn a_run_with_nothing_to_do_makes_at_most_one_halo_call() {
    let app = spawn_app().await;
    for k in 500..505 {
        let ticket = app.create_ticket(k).await;
        app.sandbox.halo.add_agent_note(
            ticket,
            "Jane Tech",
            3,
            "<p>handled by its webhook</p>",
            false,
        );
        assert_eq!(app.halo_webhook(ticket).await.body["actionsForwarded"], 1);
    }
    app.sandbox.halo.clear_requests();
    let run = app.reconcile().await;
    assert_eq!(run["commentsForwarded"], 0, "{run}");
    assert!(
        app.halo_api_calls() <= 1,
        "{:?}",
        app.sandbox.halo.calls_by_kind()
    );
    // A ticket that changed without a webhook is still swept.
    let ticket = ticket_of(&app, 502)[0];
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>no webhook</p>", false);
    let run = app.reconcile().await;
    assert_eq!(run["commentsForwarded"], 1, "{run}");
}

#[tokio::test]
async fn a_storm_s_later_lookups_read_only_the_tickets_halo_numbered_since_and_still_find_them() {
    let app = spawn_app().await;
    let halo = &app.sandbox.halo;
    // A busy tenant: 250 tickets updated in the last minutes, so the window is three pages.
    for j in 0..250 {
        halo.insert_ticket(&format!("MSP ticket {j}"), None);
    }
    halo.set_delay(Duration::from_millis(300));
    let first = storm(&app, 600, 12).await;
    assert!(first.iter().all(|(s, _)| *s == 200), "{first:?}");
    // Another process made incident 620's ticket since (a lost store, a second bridge).
    let elsewhere =
        halo.insert_ticket("[CF #620] made elsewhere", Some("cf|sentinel|incident-620"));
    halo.clear_requests();
    let second = storm(&app, 612, 12).await;
    assert!(second.iter().all(|(s, _)| *s == 200), "{second:?}");
    assert_eq!(
        ticket_of(&app, 620),
        [elsewhere],
        "found, not created again"
    );
    for k in 600..624 {
        assert_eq!(
            ticket_of(&app, k).len(),
            1,
            "incident {k}: exactly one ticket"
        );
    }
    let read = ticket_lists(&app);
    let window_pages = read
        .iter()
        .filter(|q| q.contains("lastupdatefromdate"))
        .count();
    assert!(
        read.iter()
            .any(|q| q.contains("orderdesc=true") && q.contains("page_no=1")),
        "{read:#?}"
    );
    assert!(
        window_pages <= 2,
        "the second storm read {window_pages} window pages, not the three of the whole window: {read:#?}"
    );
}

#[tokio::test]
async fn a_webhook_whose_ticket_shows_nothing_new_to_close_costs_only_its_actions_listing() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(520).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>on it</p>", false);
    app.sandbox.halo.clear_requests();
    let hook = app.halo_webhook(ticket).await;
    assert_eq!(hook.body["actionsForwarded"], 1, "{}", hook.body);
    // The payload's ticket stands in for reading it: only the actions are listed.
    let kinds = app.sandbox.halo.calls_by_kind();
    assert_eq!(app.halo_api_calls(), 1, "{kinds:?}");
    assert_eq!(calls(&app, "GET /api/Actions"), 1, "{kinds:?}");
    assert_eq!(app.sandbox.cf.comments().len(), 1);
}

#[tokio::test]
async fn a_webhook_showing_a_close_is_confirmed_by_reading_the_ticket_so_a_stale_one_closes_nothing()
 {
    let app = spawn_app().await;
    let ticket = app.create_ticket(521).await;
    app.sandbox.halo.close(ticket);
    app.sandbox.halo.clear_requests();
    let closing = app.halo_webhook(ticket).await;
    assert_eq!(closing.body["closed"], true, "{}", closing.body);
    assert_eq!(
        calls(&app, "GET /api/Tickets/{id}"),
        1,
        "a close is acted on only as Halo shows it now: {:?}",
        app.sandbox.halo.calls_by_kind()
    );
    assert_eq!(app.sandbox.cf.status_updates().len(), 1);
    // Re-opened in Halo and delivered; then the old closing payload arrives late.
    app.sandbox.halo.reopen(ticket);
    assert_eq!(app.halo_webhook(ticket).await.body["closed"], false);
    let mut late: Value = serde_json::from_slice(&closing.raw_body).unwrap();
    late["id"] = json!("a-late-delivery");
    app.sandbox.halo.clear_requests();
    let (status, body) = answer(app.post_halo(&late).await).await;
    assert_eq!((status, &body["closed"]), (200, &json!(false)), "{body}");
    assert_eq!(calls(&app, "GET /api/Tickets/{id}"), 1);
    assert_eq!(
        app.sandbox.cf.status_updates().len(),
        1,
        "an old payload closes nothing"
    );
}

#[tokio::test]
async fn a_sweep_takes_the_listed_tickets_as_they_are_and_reads_none_again() {
    let app = spawn_app().await;
    let mut tickets = Vec::new();
    for k in 530..534 {
        let ticket = app.create_ticket(k).await;
        app.sandbox
            .halo
            .add_agent_note(ticket, "Jane Tech", 3, &format!("<p>{k}</p>"), false);
        tickets.push(ticket);
    }
    app.sandbox.halo.clear_requests();
    let run = app.reconcile().await;
    assert_eq!(run["commentsForwarded"], 4, "{run}");
    let kinds = app.sandbox.halo.calls_by_kind();
    assert_eq!(calls(&app, "GET /api/Tickets/{id}"), 0, "{kinds:?}");
    assert_eq!(calls(&app, "GET /api/Actions"), 4, "{kinds:?}");
    // A close the listing shows is still confirmed before ContraForce hears of it.
    app.sandbox.halo.close(tickets[0]);
    app.sandbox.halo.clear_requests();
    let run = app.reconcile().await;
    assert_eq!(run["closesMirrored"], 1, "{run}");
    assert_eq!(calls(&app, "GET /api/Tickets/{id}"), 1);
}

//! Reconcile never wedges and never forgets (CONTRACT §13): one item's failure stays that item's,
//! closes from ContraForce happen once at every crash point and are never echoed, a create Halo
//! completes late makes no second ticket, a sweep sees a ticket that moves while it pages, and a
//! post whose answer was lost is not posted twice. Each test here met the defect it names before
//! the fix.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cf_halo_bridge::sandbox::{BetweenPages, Fault, WriteFate, WriteKind};
use cf_halo_bridge::state::memory::MemoryStore;
use cf_halo_bridge::state::observed::{Observed, Observer};
use cf_halo_bridge::state::work::Work;
use serde_json::{Value, json};

use crate::helpers::*;

/// Takes a second to record unfinished work (parked events, pending marks).
struct SlowWork;

#[async_trait]
impl Observer for SlowWork {
    async fn before_write(&self, kind: &str) {
        if kind == "parked" || kind == "pending" {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

const JANE: u64 = 3;

fn work(app: &TestApp) -> Work<'_> {
    Work::new(app.state.store.as_ref(), Duration::from_secs(7 * 86_400))
}

fn verdict(n: u64) -> Value {
    let mut body: Value = serde_json::from_str(
        &std::fs::read_to_string("../shared/fixtures/cf-agent-investigation.json").unwrap(),
    )
    .unwrap();
    body["data"]["incidentId"] = json!(format!("incident-{n}"));
    body
}

/// The path prefix of incident `n`'s ContraForce endpoints (the `source` route shape).
fn cf_incident(app: &TestApp, n: u64) -> String {
    format!(
        "/api/v2/workspaces/{}/incidents/Sentinel/incident-{n}",
        app.sandbox.cf.workspace_id()
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn comments_on(app: &TestApp, n: u64) -> Vec<String> {
    app.sandbox
        .cf
        .comments()
        .into_iter()
        .filter(|c| c.incident_id == format!("incident-{n}"))
        .map(|c| c.body["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_poison_ticket_delays_nobody_else_and_ends_on_the_failed_list_visibly() {
    let app = spawn_app().await;
    // Incident 1's ContraForce calls fail for good; its ticket comes first in every order.
    let poison = app.create_ticket(1).await;
    let healthy = app.create_ticket(2).await;
    app.sandbox
        .cf
        .push_fault(Fault::on("POST", &cf_incident(&app, 1), 503, "incident gone").forever());
    for ticket in [poison, healthy] {
        app.sandbox
            .halo
            .add_agent_note(ticket, "Jane Tech", JANE, "<p>update</p>", false);
    }
    let first = app.reconcile().await;
    assert_eq!(first["commentsForwarded"], 1, "{first}");
    assert_eq!(first["itemsDeferred"], 1, "{first}");
    assert_eq!(
        first["complete"], true,
        "one item's failure is not the run's: {first}"
    );
    assert_eq!(comments_on(&app, 2).len(), 1);

    // The poison ticket is retried in later runs, and a note added meanwhile elsewhere still
    // goes at once.
    app.sandbox
        .halo
        .add_agent_note(healthy, "Jane Tech", JANE, "<p>more</p>", false);
    let second = app.reconcile().await;
    assert_eq!(second["commentsForwarded"], 1, "{second}");
    assert_eq!(comments_on(&app, 2).len(), 2);
    let pending = work(&app).pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].ticket_id, poison);
    assert!(pending[0].tries.attempts >= 1);

    // At its attempt limit it moves to the failed tickets, where status shows it.
    for _ in 0..cf_halo_bridge::state::work::MAX_ATTEMPTS {
        app.reconcile().await;
    }
    let left = work(&app).pending().await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    let failed = work(&app).failed_tickets().await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].ticket_id, poison);
    assert!(
        failed[0].message.contains("unavailable"),
        "{}",
        failed[0].message
    );
    assert!(comments_on(&app, 1).is_empty());
}

#[tokio::test]
async fn a_verdict_close_whose_answer_was_lost_after_halo_applied_it_is_never_echoed() {
    let app = spawn_app_with(|env| {
        env.insert(
            "HALO_INVESTIGATION_ACTIONS".into(),
            "FalsePositive=close".into(),
        );
    })
    .await;
    let ticket = app.create_ticket(3).await;
    // The note goes through; the close is applied by Halo, and its answers are lost (each retry
    // of the same close too).
    for _ in 0..6 {
        app.sandbox
            .halo
            .lose_next_answer(WriteKind::Tickets, WriteFate::CompleteAfter(Duration::ZERO));
    }
    let (status, _) = answer(app.post_cf("inv-3", &verdict(3)).await).await;
    assert_eq!(status, 503);
    assert!(app.sandbox.halo.ticket(ticket).unwrap().hasbeenclosed);
    let hook = app.halo_webhook(ticket).await;
    assert_eq!(
        hook.body["closed"], false,
        "ours, not echoed: {}",
        hook.body
    );
    assert!(app.sandbox.cf.status_updates().is_empty());
    // The re-delivery is noted once more without a second note, and closes nothing new.
    app.sandbox.halo.clear_fates();
    let (status, body) = answer(app.post_cf("inv-3", &verdict(3)).await).await;
    assert_eq!((status, &body["status"]), (200, &json!("noted")), "{body}");
    let verdict_notes = app
        .sandbox
        .halo
        .actions(ticket)
        .iter()
        .filter(|a| a.note_html.contains("agent investigation"))
        .count();
    assert_eq!(verdict_notes, 1);
    assert!(app.sandbox.cf.status_updates().is_empty());
}

#[tokio::test]
async fn a_verdict_redelivered_after_a_close_that_never_reached_halo_closes_the_ticket() {
    let app = spawn_app_with(|env| {
        env.insert(
            "HALO_INVESTIGATION_ACTIONS".into(),
            "FalsePositive=close".into(),
        );
    })
    .await;
    let ticket = app.create_ticket(4).await;
    // The close request is lost on the way, every retry too (as if the process died holding it).
    for _ in 0..6 {
        app.sandbox
            .halo
            .lose_next_answer(WriteKind::Tickets, WriteFate::Never);
    }
    let (status, _) = answer(app.post_cf("inv-4", &verdict(4)).await).await;
    assert_eq!(status, 503);
    assert!(!app.sandbox.halo.ticket(ticket).unwrap().hasbeenclosed);
    app.sandbox.halo.clear_fates();
    // A webhook meanwhile about the still-open ticket changes nothing.
    app.halo_webhook(ticket).await;
    let (status, body) = answer(app.post_cf("inv-4", &verdict(4)).await).await;
    assert_eq!((status, &body["action"]), (200, &json!("close")), "{body}");
    assert!(app.sandbox.halo.ticket(ticket).unwrap().hasbeenclosed);
    let hook = app.halo_webhook(ticket).await;
    assert_eq!(hook.body["closed"], false, "not echoed: {}", hook.body);
    assert!(app.sandbox.cf.status_updates().is_empty());
}

/// A handler environment on a fresh blob container, for several processes to share.
async fn blob_env(sandbox: &TestSandbox) -> std::collections::HashMap<String, String> {
    let mut env = base_env(sandbox);
    let store = tokio::task::spawn_blocking(|| store_env(Store::Blob))
        .await
        .unwrap();
    env.extend(store);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_intent_survives_a_killed_process_and_the_redelivery_closes_once() {
    let sandbox = start_sandbox().await;
    let mut env = blob_env(&sandbox).await;
    env.insert(
        "HALO_INVESTIGATION_ACTIONS".into(),
        "FalsePositive=close".into(),
    );
    let http = reqwest::Client::new();
    let mut first = HandlerProcess::start(&env).await;
    let (status, created) =
        post_cf_to(&http, &first.address, "evt-5", &incident(5), unix_now()).await;
    assert_eq!(status, 200, "{created}");
    let ticket = created["ticketId"].as_u64().unwrap();
    // Halo holds the close for 10 s: the process dies while it waits.
    sandbox
        .halo
        .push_fault(Fault::on("POST", "/api/Tickets", 503, "held").held(Duration::from_secs(10)));
    let post = {
        let (http, address) = (http.clone(), first.address.clone());
        tokio::spawn(
            async move { post_cf_to(&http, &address, "inv-5", &verdict(5), unix_now()).await },
        )
    };
    let started = std::time::Instant::now();
    while sandbox.halo.count("POST", "/api/Actions") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the note never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill();
    let _ = post.await;
    assert!(!sandbox.halo.ticket(ticket).unwrap().hasbeenclosed);
    let second = HandlerProcess::start(&env).await;
    // ContraForce re-delivers until the dead process's claims have expired.
    let started = std::time::Instant::now();
    let (status, body) = loop {
        let (status, body) =
            post_cf_to(&http, &second.address, "inv-5", &verdict(5), unix_now()).await;
        if status != 503 || started.elapsed() > Duration::from_secs(40) {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!((status, &body["status"]), (200, &json!("noted")), "{body}");
    assert!(sandbox.halo.ticket(ticket).unwrap().hasbeenclosed);
    assert!(sandbox.cf.status_updates().is_empty(), "never echoed");
}

#[tokio::test]
async fn a_503_at_the_backstop_still_parks_the_event_and_marks_the_ticket_pending() {
    // A store slow to take unfinished work: the park and the mark come after the backstop.
    let store = Arc::new(Observed::new(
        MemoryStore::new(Duration::from_secs(3600)),
        SlowWork,
    ));
    let app = spawn_app_with_store(store, |env| {
        env.insert("REQUEST_DEADLINE_SECONDS".into(), "1".into());
    })
    .await;
    let ticket = app.create_ticket(6).await;
    app.sandbox.halo.set_delay(Duration::from_secs(3));
    let r = app.post_cf("evt-6-late", &incident(7)).await;
    assert_eq!(r.status(), 503);
    let hook = app.halo_webhook(ticket).await;
    assert_eq!(hook.status, 503);
    app.sandbox.halo.set_delay(Duration::ZERO);
    assert_eq!(
        work(&app).parked().await.unwrap()[0].event_id,
        "evt-6-late",
        "a 503 always leaves its event parked"
    );
    assert_eq!(work(&app).pending().await.unwrap()[0].ticket_id, ticket);
}

async fn a_create_halo_completes_late_makes_no_second_ticket(store: Store) {
    let sandbox = start_sandbox().await;
    let mut env = match store {
        Store::Blob => blob_env(&sandbox).await,
        Store::Memory => base_env(&sandbox),
    };
    env.insert("HALO_CREATE_GRACE_SECONDS".into(), "3".into());
    let app = spawn_app_on(sandbox, env.clone()).await;
    let halo = &app.sandbox.halo;
    halo.lose_next_answer(
        WriteKind::Tickets,
        WriteFate::CompleteAfter(Duration::from_millis(1500)),
    );
    let r = app.post_cf("evt-8", &incident(8)).await;
    assert_eq!(r.status(), 503);
    assert!(halo.tickets().is_empty(), "not completed yet");
    // Re-delivered (to another process, on blob) while Halo has not completed it: no create.
    let other = match store {
        Store::Blob => Some(HandlerProcess::start(&env).await),
        Store::Memory => None,
    };
    let address = other
        .as_ref()
        .map_or(app.address.clone(), |p| p.address.clone());
    // A process of its own signs at the real time; the in-process app at its fixed clock.
    let now = if other.is_some() { unix_now() } else { NOW };
    let http = reqwest::Client::new();
    let (status, _) = post_cf_to(&http, &address, "evt-8", &incident(8), now).await;
    assert_eq!(status, 503, "in doubt: no second create");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        halo.tickets().len(),
        1,
        "Halo completed the first create late"
    );
    let (status, body) = post_cf_to(&http, &address, "evt-8", &incident(8), now).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ticketId"].as_u64(), Some(halo.tickets()[0].id));
    assert_eq!(halo.tickets().len(), 1, "exactly one ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_halo_completes_late_makes_no_second_ticket_in_memory() {
    a_create_halo_completes_late_makes_no_second_ticket(Store::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_halo_completes_late_makes_no_second_ticket_across_two_processes_on_blob() {
    a_create_halo_completes_late_makes_no_second_ticket(Store::Blob).await;
}

#[tokio::test]
async fn a_ticket_that_moves_between_pages_during_a_sweep_is_still_seen() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_RATE_LIMIT".into(), "1000000/1".into());
    })
    .await;
    let halo = &app.sandbox.halo;
    // Halo's own default order puts the most recently updated first.
    halo.set_default_order_by_update(true);
    let mut linked = Vec::new();
    for n in 0..150 {
        linked.push(halo.insert_ticket(&format!("t{n}"), Some(&format!("cf|sentinel|m-{n}"))));
    }
    app.reconcile().await; // the first sweep sees them all; the next looks from its start
    // On page 2 by id: a new note, and while the sweep reads page 1, another change moves it.
    let moving = linked[120];
    halo.add_agent_note(moving, "Jane Tech", JANE, "<p>moved</p>", false);
    let gone = linked[10];
    halo.after_page(1, BetweenPages::Touch(moving));
    let run = app.reconcile().await;
    assert_eq!(run["commentsForwarded"], 1, "{run}");
    // A ticket deleted while the sweep pages shifts the rest up (the first of page 2 onto page
    // 1, which was read already): none is skipped.
    halo.add_agent_note(linked[100], "Jane Tech", JANE, "<p>late page</p>", false);
    halo.after_page(1, BetweenPages::Delete(gone));
    let run = app.reconcile().await;
    assert_eq!(run["commentsForwarded"], 1, "{run}");
    assert_eq!(
        app.sandbox
            .cf
            .comments()
            .iter()
            .filter(|c| c.body["content"]
                .as_str()
                .unwrap_or("")
                .ends_with("late page"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_comment_post_whose_answer_was_lost_is_not_posted_again() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(9).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", JANE, "<p>once</p>", false);
    app.sandbox.cf.lose_next_comment_answer();
    let hook = app.halo_webhook(ticket).await;
    assert_eq!(hook.status, 503);
    assert_eq!(comments_on(&app, 9).len(), 1, "ContraForce has it already");
    let again = app.halo_webhook(ticket).await;
    assert_eq!(again.body["actionsForwarded"], 0, "{}", again.body);
    assert_eq!(comments_on(&app, 9).len(), 1);
}

#[tokio::test]
async fn a_note_post_whose_answer_was_lost_is_not_posted_again() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(10).await;
    app.sandbox
        .halo
        .lose_next_answer(WriteKind::Actions, WriteFate::CompleteAfter(Duration::ZERO));
    let r = app.post_cf("evt-10-again", &incident(10)).await;
    assert_eq!(r.status(), 503);
    let (status, body) = answer(app.post_cf("evt-10-again", &incident(10)).await).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("updated")),
        "{body}"
    );
    let notes = app
        .sandbox
        .halo
        .actions(ticket)
        .iter()
        .filter(|a| a.note_html.contains("evt-10-again"))
        .count();
    assert_eq!(notes, 1);
}

#[tokio::test]
async fn an_automation_s_note_at_creation_is_not_forwarded_but_a_later_note_is() {
    let app = spawn_app().await;
    app.sandbox
        .halo
        .set_creation_note(Some("Auto-acknowledged by the SOC queue"));
    let ticket = app.create_ticket(11).await;
    app.sandbox.halo.set_creation_note(None);
    assert_eq!(app.sandbox.halo.actions(ticket).len(), 2);
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", JANE, "<p>real work</p>", false);
    let hook = app.halo_webhook(ticket).await;
    assert_eq!(hook.body["actionsForwarded"], 1, "{}", hook.body);
    let texts = comments_on(&app, 11);
    assert!(texts[0].ends_with("real work"), "{texts:?}");
}

#[tokio::test]
async fn an_idle_watched_ticket_is_not_read_again_until_it_is_due() {
    let app = spawn_app_with(|env| {
        env.insert("RECONCILE_RETRY_SECONDS".into(), "60".into());
    })
    .await;
    app.create_ticket(12).await;
    app.create_ticket(13).await;
    let reads = || app.sandbox.cf.count("GET", "/api/v2/workspaces");
    app.reconcile().await;
    assert_eq!(reads(), 2, "each watched ticket read once");
    app.reconcile().await;
    assert_eq!(reads(), 2, "nothing due: nothing read");
}

#[tokio::test]
async fn comment_lists_are_followed_page_by_page() {
    let app = spawn_app().await;
    app.create_ticket(14).await;
    app.sandbox.cf.set_comment_page_size(Some(2));
    let ws = app.sandbox.cf.workspace_id();
    for n in 0..5 {
        app.sandbox
            .cf
            .add_comment(&ws, "incident-14", "Ann Analyst", &format!("comment {n}"));
    }
    let run = app.reconcile().await;
    assert_eq!(run["notesToHalo"], 5, "{run}");
}

#[tokio::test]
async fn an_unfinished_sweep_resumes_at_its_page() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_RATE_LIMIT".into(), "20/2".into());
        env.insert("RECONCILE_BUDGET_SHARE".into(), "0.3".into());
        env.insert("RECONCILE_MAX_TICKETS".into(), "0".into());
    })
    .await;
    let halo = &app.sandbox.halo;
    for n in 0..100 {
        halo.insert_ticket(&format!("printer {n}"), None);
    }
    for n in 0..5 {
        halo.insert_ticket(&format!("linked {n}"), Some(&format!("cf|sentinel|p-{n}")));
    }
    let run = app.reconcile().await;
    assert_eq!(run["complete"], false, "{run}");
    let status = work(&app).status().await.unwrap();
    assert_eq!(
        status.sweep.as_ref().map(|s| s.page),
        Some(2),
        "{run} {status:?}"
    );
    // The share's window (2 s, and the budget's safety margin) passes.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    halo.clear_requests();
    let run = app.reconcile().await;
    let first = halo
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path.eq_ignore_ascii_case("/api/Tickets"))
        .unwrap_or_else(|| panic!("no listing: {run} {:?}", halo.requests()));
    assert!(first.query.contains("page_no=2"), "{}: {run}", first.query);
}

//! The exactly-once behaviours, run against both state stores (one suite, two backends).

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::*;

async fn created_then_duplicate_then_updated(store: Store) {
    let app = spawn_app_on_store(store, |_| {}).await;
    let ticket = app.create_ticket(1).await;
    let calls = app.sandbox.halo.requests().len();
    let (_, dup) = answer(app.post_cf("evt-1", &incident(1)).await).await;
    assert_eq!(dup, json!({"status": "duplicate", "ticketId": ticket}));
    assert_eq!(
        app.sandbox.halo.requests().len(),
        calls,
        "a duplicate costs no Halo call"
    );
    let (_, upd) = answer(app.post_cf("evt-1b", &incident(1)).await).await;
    assert_eq!(upd, json!({"status": "updated", "ticketId": ticket}));
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
}

async fn thirty_simultaneous_deliveries_make_one_ticket(store: Store) {
    let app = spawn_app_on_store(store, |_| {}).await;
    app.sandbox.halo.set_delay(Duration::from_millis(300));
    let body = incident(2);
    let answers = join_all((0..30).map(|i| {
        let (app, body) = (&app, &body);
        async move { answer(app.post_cf(&format!("evt-{}", i % 3), body).await).await }
    }))
    .await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
    assert_eq!(
        answers
            .iter()
            .filter(|(_, b)| b["status"] == "created")
            .count(),
        1
    );
    let notes = app
        .sandbox
        .halo
        .actions(app.sandbox.halo.tickets()[0].id)
        .iter()
        .filter(|a| a.hiddenfromuser)
        .count();
    assert_eq!(notes, 2, "one note per other distinct event id");
}

async fn notes_and_the_close_reach_contraforce_exactly_once(store: Store) {
    let app = spawn_app_on_store(store, |_| {}).await;
    let ticket = app.create_ticket(3).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>first</p>", false);
    let first = app.halo_webhook(ticket).await;
    assert_eq!(first.body["actionsForwarded"], 1);
    let auth = cf_halo_bridge::sandbox::WebhookAuth::Header {
        name: "X-Halo-Secret".into(),
        value: HALO_SECRET.into(),
    };
    let url = format!("{}/api/HaloToCf", app.address);
    let again = app
        .sandbox
        .halo
        .resend_webhook(&url, &first, &auth)
        .await
        .unwrap();
    assert_eq!(again.body, json!({"status": "duplicate"}));
    app.sandbox.halo.close(ticket);
    assert_eq!(
        app.halo_webhook(ticket).await.body,
        json!({"status": "processed", "actionsForwarded": 0, "closed": true})
    );
    assert_eq!(app.halo_webhook(ticket).await.body["closed"], false);
    app.sandbox.halo.reopen(ticket);
    app.halo_webhook(ticket).await;
    app.sandbox.halo.close(ticket);
    assert_eq!(app.halo_webhook(ticket).await.body["closed"], true);
    assert_eq!(app.sandbox.cf.comments().len(), 1);
    assert_eq!(app.sandbox.cf.status_updates().len(), 2);
}

async fn a_failed_delivery_is_not_recorded_and_its_redelivery_succeeds(store: Store) {
    let app = spawn_app_on_store(store, |_| {}).await;
    app.sandbox.halo.set_down(true);
    assert_eq!(app.post_cf("evt-4", &incident(4)).await.status(), 503);
    app.sandbox.halo.set_down(false);
    let (_, body) = answer(app.post_cf("evt-4", &incident(4)).await).await;
    assert_eq!(body["status"], "created");
}

async fn a_ticket_halo_no_longer_has_is_unlinked_and_the_incident_handled_as_new(store: Store) {
    let app = spawn_app_on_store(store, |_| {}).await;
    let ticket = app.create_ticket(5).await;
    // Halo answers 404 on the note: the linked ticket is gone (deleted or merged).
    app.sandbox
        .halo
        .push_fault(cf_halo_bridge::sandbox::Fault::on(
            "POST",
            "/api/Actions",
            404,
            "{}",
        ));
    app.sandbox.halo.set_ignore_lookup_filter(false);
    let (status, body) = answer(app.post_cf("evt-5b", &incident(5)).await).await;
    // The lookup still finds the ticket (only the note failed), so it is linked again.
    assert_eq!(status, 200, "{body}");
    assert!(
        body["status"] == "updated" || body["status"] == "created",
        "{body}"
    );
    assert_eq!(body["ticketId"], ticket);
}

macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Store::Memory).await
                }
            )*
        }
        mod blob {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Store::Blob).await
                }
            )*
        }
    };
}

both_stores!(
    created_then_duplicate_then_updated,
    thirty_simultaneous_deliveries_make_one_ticket,
    notes_and_the_close_reach_contraforce_exactly_once,
    a_failed_delivery_is_not_recorded_and_its_redelivery_succeeds,
    a_ticket_halo_no_longer_has_is_unlinked_and_the_incident_handled_as_new,
);

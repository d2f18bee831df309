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
    app.sandbox.halo.set_ignore_reference_filter(false);
    let (status, body) = answer(app.post_cf("evt-5b", &incident(5)).await).await;
    // The lookup still finds the ticket (only the note failed), so it is linked again.
    assert_eq!(status, 200, "{body}");
    assert!(
        body["status"] == "updated" || body["status"] == "created",
        "{body}"
    );
    assert_eq!(body["ticketId"], ticket);
}

/// The store of an app on `store`, for the behaviours below the HTTP surface.
async fn store_of(
    store: Store,
) -> (
    TestApp,
    std::sync::Arc<dyn cf_halo_bridge::state::StateStore>,
) {
    let app = spawn_app_on_store(store, |_| {}).await;
    let state = app.state.store.clone();
    (app, state)
}

async fn records_are_kept_listed_and_deleted_only_while_unchanged(store: Store) {
    let (_app, store) = store_of(store).await;
    let (a, b) = (json!({"n": 1, "text": "é|/"}), json!({"n": 2}));
    store.put_record("parked", "evt|1/x", &a).await.unwrap();
    store.put_record("parked", "evt-2", &b).await.unwrap();
    store.put_record("failed", "evt|1/x", &b).await.unwrap();
    assert_eq!(
        store.get_record("parked", "evt|1/x").await.unwrap(),
        Some(a.clone())
    );
    let mut listed = store.list_records("parked").await.unwrap();
    listed.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        listed,
        vec![
            ("evt-2".to_string(), b.clone()),
            ("evt|1/x".to_string(), a.clone())
        ]
    );
    store.put_record("parked", "evt-2", &a).await.unwrap();
    assert!(!store.delete_record_if("parked", "evt-2", &b).await.unwrap());
    assert!(store.delete_record_if("parked", "evt-2", &a).await.unwrap());
    assert!(!store.create_record("parked", "evt|1/x", &b).await.unwrap());
    assert!(store.create_record("parked", "evt-3", &b).await.unwrap());
    store.delete_record("parked", "evt-3").await.unwrap();
    store.delete_record("parked", "evt|1/x").await.unwrap();
    store.delete_record("parked", "never-there").await.unwrap();
    assert!(store.list_records("parked").await.unwrap().is_empty());
    assert_eq!(store.list_records("failed").await.unwrap().len(), 1);
}

async fn a_mac_remembers_the_event_that_first_carried_it(store: Store) {
    let (_app, store) = store_of(store).await;
    let ttl = Duration::from_secs(600);
    assert_eq!(
        store.remember_mac("mac-1", "evt-a", ttl).await.unwrap(),
        "evt-a"
    );
    assert_eq!(
        store.remember_mac("mac-1", "evt-b", ttl).await.unwrap(),
        "evt-a"
    );
    assert_eq!(
        store.remember_mac("mac-2", "evt-b", ttl).await.unwrap(),
        "evt-b"
    );
    // An entry older than its TTL is replaced by the next event.
    assert_eq!(
        store
            .remember_mac("mac-1", "evt-c", Duration::ZERO)
            .await
            .unwrap(),
        "evt-c"
    );
}

async fn try_claim_answers_at_once_and_links_keep_their_account(store: Store) {
    let (_app, store) = store_of(store).await;
    let held = store
        .try_claim("reconcile", Duration::from_secs(120))
        .await
        .unwrap();
    assert!(held.is_some());
    let started = std::time::Instant::now();
    assert!(
        store
            .try_claim("reconcile", Duration::from_secs(120))
            .await
            .unwrap()
            .is_none()
    );
    assert!(started.elapsed() < Duration::from_secs(2), "never waits");
    held.unwrap().release().await;
    assert!(
        store
            .try_claim("reconcile", Duration::from_secs(1))
            .await
            .unwrap()
            .is_some()
    );

    store.link("cf|s|i", 7, Some("acct-a")).await.unwrap();
    let link = store.link_for_ticket(7).await.unwrap().unwrap();
    assert_eq!(
        (link.reference.as_str(), link.account_id.as_deref()),
        ("cf|s|i", Some("acct-a"))
    );
    store.link("cf|s|j", 8, None).await.unwrap();
    assert_eq!(
        store.link_for_ticket(8).await.unwrap().unwrap().account_id,
        None
    );
}

async fn a_reference_stays_with_the_ticket_first_linked_to_it(store: Store) {
    let (_app, store) = store_of(store).await;
    assert_eq!(store.link("cf|s|dup", 7, Some("acct")).await.unwrap(), 7);
    // A clone carrying the same reference does not take the link over.
    assert_eq!(store.link("cf|s|dup", 8, None).await.unwrap(), 7);
    assert_eq!(
        store.ticket_for_reference("cf|s|dup").await.unwrap(),
        Some(7)
    );
    assert_eq!(store.link_for_ticket(8).await.unwrap(), None);
    // The owner linking again (its account learnt) is fine.
    assert_eq!(store.link("cf|s|dup", 7, Some("acct")).await.unwrap(), 7);
    store.unlink("cf|s|dup", 7).await.unwrap();
    assert_eq!(store.link("cf|s|dup", 8, None).await.unwrap(), 8);
}

async fn an_ordered_index_answers_only_what_is_due(store: Store) {
    let (_app, store) = store_of(store).await;
    for key in [
        "0000000000300-b",
        "0000000000100-a",
        "0000000000200-c",
        "0000000000900-z",
    ] {
        store.index_put("due", key).await.unwrap();
    }
    let due = store
        .index_range("due", "0000000000300-~", 10)
        .await
        .unwrap();
    assert_eq!(
        due,
        ["0000000000100-a", "0000000000200-c", "0000000000300-b"]
    );
    assert_eq!(store.index_range("due", "~", 2).await.unwrap().len(), 2);
    store.index_delete("due", "0000000000100-a").await.unwrap();
    store.index_delete("due", "never-there").await.unwrap();
    assert_eq!(
        store
            .index_range("due", "0000000000200-~", 10)
            .await
            .unwrap(),
        ["0000000000200-c"]
    );
    assert!(
        store
            .index_range("other", "~", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_claim_outlives_its_hold_while_its_holder_lives(store: Store) {
    let (_app, store) = store_of(store).await;
    let held = store
        .try_claim("ticket:77", Duration::from_secs(1))
        .await
        .unwrap()
        .expect("free");
    // Longer than the hold (and its margin): renewed, so still held.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert!(
        store
            .try_claim("ticket:77", Duration::from_secs(1))
            .await
            .unwrap()
            .is_none(),
        "a claim must not expire under the work it protects"
    );
    held.release().await;
    assert!(
        store
            .try_claim("ticket:77", Duration::from_secs(1))
            .await
            .unwrap()
            .is_some()
    );
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
    records_are_kept_listed_and_deleted_only_while_unchanged,
    a_mac_remembers_the_event_that_first_carried_it,
    try_claim_answers_at_once_and_links_keep_their_account,
    a_reference_stays_with_the_ticket_first_linked_to_it,
    an_ordered_index_answers_only_what_is_due,
    a_claim_outlives_its_hold_while_its_holder_lives,
);

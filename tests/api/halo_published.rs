//! Halo as its published API defines it (CONTRACT §11): the reference in a field Halo keeps,
//! lookups that stay exact when Halo ignores the filter, and a lost state store that loses
//! nothing, on both stores, with the filter honoured and ignored.

use std::collections::HashMap;

use cf_halo_bridge::sandbox::{WebhookAuth, WebhookResult};
use cf_halo_bridge::settings::SignatureForm;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_store_miss_asks_halo_by_third_party_id_string_in_one_call() {
    let app = spawn_app().await;
    let existing = app
        .sandbox
        .halo
        .insert_ticket("made earlier", Some("cf|sentinel|incident-30"));
    let (_, json) = answer(app.post_cf("evt-30", &incident(30)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": existing}));
    let lists = ticket_lists(&app);
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert!(
        lists[0].contains("third_party_id_string=cf%7Csentinel%7Cincident-30")
            && lists[0].contains("includeclosed=true"),
        "{}",
        lists[0]
    );
}

#[tokio::test]
async fn a_closed_ticket_is_still_the_incident_s_ticket() {
    let app = spawn_app().await;
    let existing = app
        .sandbox
        .halo
        .insert_ticket("made and closed", Some("cf|sentinel|incident-31"));
    app.sandbox.halo.close(existing);
    let (_, json) = answer(app.post_cf("evt-31", &incident(31)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": existing}));
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
}

#[tokio::test]
async fn when_halo_ignores_the_filter_the_lookup_reads_the_date_window_and_remembers() {
    let app = spawn_app().await;
    let halo = &app.sandbox.halo;
    halo.set_ignore_reference_filter(true);
    for n in 0..3 {
        halo.insert_ticket(&format!("printer {n}"), None);
    }
    let existing = halo.insert_ticket("made earlier", Some("cf|sentinel|incident-32"));
    halo.insert_ticket("newer", Some("cf|sentinel|someone-else"));
    let (_, json) = answer(app.post_cf("evt-32", &incident(32)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": existing}));

    let lists = ticket_lists(&app);
    assert_eq!(
        lists.len(),
        2,
        "the filter, then one listing page: {lists:?}"
    );
    assert!(lists[0].contains("third_party_id_string="), "{}", lists[0]);
    for part in [
        "lastupdatefromdate=2026-04-22T14%3A45%3A00",
        "includeclosed=true",
        "order=id",
        "orderdesc=false",
        "pageinate=true",
        "page_size=100",
        "page_no=1",
    ] {
        assert!(lists[1].contains(part), "{part}: {}", lists[1]);
    }

    // The process remembers: the next store miss goes straight to the listing.
    let (_, json) = answer(app.post_cf("evt-33", &incident(33)).await).await;
    assert_eq!(json["status"], "created");
    let lists = ticket_lists(&app);
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(lists[2].contains("lastupdatefromdate="), "{}", lists[2]);
    assert_eq!(halo.tickets().len(), 6);
}

#[tokio::test]
async fn the_listing_reads_page_after_page_until_the_reference_appears() {
    let app = spawn_app().await;
    let halo = &app.sandbox.halo;
    halo.set_ignore_reference_filter(true);
    for n in 0..150 {
        halo.insert_ticket(&format!("other {n}"), None);
    }
    let existing = halo.insert_ticket("made earlier", Some("cf|sentinel|incident-34"));
    let (_, json) = answer(app.post_cf("evt-34", &incident(34)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": existing}));
    let lists = ticket_lists(&app);
    assert_eq!(lists.len(), 3, "the filter, then pages 1 and 2: {lists:?}");
    assert!(lists[2].contains("page_no=2"), "{}", lists[2]);
}

#[tokio::test]
async fn past_the_page_bound_the_incident_gets_a_ticket_after_reading_only_the_bound() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_LOOKUP_MAX_PAGES".into(), "1".into());
    })
    .await;
    let halo = &app.sandbox.halo;
    halo.set_ignore_reference_filter(true);
    for n in 0..120 {
        halo.insert_ticket(&format!("other {n}"), None);
    }
    let (_, json) = answer(app.post_cf("evt-35", &incident(35)).await).await;
    assert_eq!(json["status"], "created");
    assert_eq!(
        ticket_lists(&app).len(),
        2,
        "the filter and one page, no more"
    );
}

#[tokio::test]
async fn custom_field_mode_finds_a_ticket_the_store_never_knew_by_its_field() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_EXTERNAL_REF_FIELD_ID".into(), "251".into());
    })
    .await;
    let halo = &app.sandbox.halo;
    let other = halo.insert_ticket("other", None);
    halo.set_custom_field(other, 251, json!("cf|sentinel|someone-else"));
    let existing = halo.insert_ticket("made earlier", None);
    halo.set_custom_field(existing, 251, json!("cf|sentinel|incident-36"));
    let (_, json) = answer(app.post_cf("evt-36", &incident(36)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": existing}));
    assert_eq!(halo.tickets().len(), 2, "no duplicate");
}

#[tokio::test]
async fn of_two_tickets_with_one_reference_the_lowest_id_is_linked_and_the_other_never() {
    let app = spawn_app().await;
    let halo = &app.sandbox.halo;
    let first = halo.insert_ticket("original", Some("cf|sentinel|incident-37"));
    let clone = halo.insert_ticket("a clone", Some("cf|sentinel|incident-37"));
    let (_, json) = answer(app.post_cf("evt-37", &incident(37)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": first}));

    halo.add_agent_note(clone, "Jane Tech", 3, "<p>on the clone</p>", false);
    let (status, body) = answer(app.post_halo(&json!({"ticket_id": clone})).await).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "ignored", "reason": "reference linked to another ticket"})
        )
    );
    assert!(app.sandbox.cf.comments().is_empty());
}

/// A second handler on the same sandbox with an empty store: a restarted memory process, or a
/// Function App pointed at a new container.
async fn with_a_lost_store(sandbox: TestSandbox, store: Store) -> TestApp {
    let env_for_store = tokio::task::spawn_blocking(move || store_env(store))
        .await
        .unwrap();
    let mut env: HashMap<String, String> = base_env(&sandbox);
    env.extend(env_for_store);
    spawn_app_on(sandbox, env).await
}

async fn losing_the_store_loses_nothing(store: Store, filter_ignored: bool) {
    let before = spawn_app_on_store(store, |_| {}).await;
    let halo = before.sandbox.halo.clone();
    halo.set_ignore_reference_filter(filter_ignored);
    halo.insert_ticket("someone else's", Some("cf|sentinel|other"));
    let ticket = before.create_ticket(40).await;
    halo.add_agent_note(ticket, "Jane Tech", 3, "<p>contained</p>", false);
    let sent: WebhookResult = before.halo_webhook(ticket).await;
    assert_eq!(sent.body["actionsForwarded"], 1, "{}", sent.body);
    let sandbox = before.sandbox.clone();
    drop(before);

    let after = with_a_lost_store(sandbox, store).await;
    let (_, json) = answer(after.post_cf("evt-40-again", &incident(40)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": ticket}));
    assert_eq!(halo.tickets().len(), 2, "no second ticket");

    halo.add_agent_note(ticket, "Jane Tech", 3, "<p>recovered</p>", false);
    let (status, body) = answer(after.post_halo(&json!({"ticket_id": ticket})).await).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("processed")),
        "{body}"
    );
    assert_eq!(body["actionsForwarded"], 1, "only the new note: {body}");
    let texts: Vec<String> = after
        .sandbox
        .cf
        .comments()
        .iter()
        .map(|c| c.body["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].ends_with("contained") && texts[1].ends_with("recovered"));
}

macro_rules! four_ways {
    ($($name:ident: $store:expr, $ignored:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                losing_the_store_loses_nothing($store, $ignored).await
            }
        )*
    };
}

four_ways! {
    losing_the_memory_store_loses_nothing_when_halo_honours_the_filter: Store::Memory, false;
    losing_the_memory_store_loses_nothing_when_halo_ignores_the_filter: Store::Memory, true;
    losing_the_blob_store_loses_nothing_when_halo_honours_the_filter: Store::Blob, false;
    losing_the_blob_store_loses_nothing_when_halo_ignores_the_filter: Store::Blob, true;
}

fn signing_env(form: &str) -> impl FnOnce(&mut HashMap<String, String>) {
    let form = form.to_owned();
    move |env| {
        env.remove("HALO_WEBHOOK_SECRET");
        env.insert(
            "HALO_WEBHOOK_SIGNING_SECRET".into(),
            "halo-signing-secret".into(),
        );
        env.insert("HALO_WEBHOOK_SIGNATURE_FORM".into(), form);
    }
}

async fn signed_delivery(app: &TestApp, ticket: u64, form: &str) -> WebhookResult {
    let auth = WebhookAuth::Signed {
        header: "x-signature".into(),
        secret: "halo-signing-secret".into(),
        form: SignatureForm::parse("form", form).unwrap(),
    };
    let url = format!("{}/api/HaloToCf", app.address);
    app.sandbox
        .halo
        .send_webhook(&url, ticket, "ticket updated", &auth)
        .await
        .expect("webhook sent")
}

#[tokio::test]
async fn a_webhook_signed_over_headers_verifies_only_under_the_configured_form() {
    for form in [
        "lines",
        "spaced-lines",
        "values",
        "value-lines",
        "dotted:x-halo-date,content-type",
    ] {
        let app = spawn_app_with(signing_env(form)).await;
        let ticket = app.create_ticket(41).await;
        let sent = signed_delivery(&app, ticket, form).await;
        assert_eq!(sent.status, 200, "{form}: {}", sent.body);
        assert_eq!(sent.body["status"], "processed", "{form}");
        let body_only = signed_delivery(&app, ticket, "body").await;
        assert_eq!(
            body_only.status, 401,
            "{form}: a body-only signature is not this form"
        );
    }
    let app = spawn_app_with(signing_env("body")).await;
    let ticket = app.create_ticket(42).await;
    assert_eq!(signed_delivery(&app, ticket, "body").await.status, 200);
    let headers = signed_delivery(&app, ticket, "spaced-lines").await;
    assert_eq!(
        (headers.status, &headers.body),
        (401, &json!({"error": "invalid callback secret"}))
    );
}

#[tokio::test]
async fn the_ticket_the_bridge_creates_keeps_its_reference_in_third_party_id_string() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(43).await;
    let stored = app.sandbox.halo.ticket(ticket).unwrap();
    let shown: Value = serde_json::to_value(&stored).unwrap();
    assert!(shown.get("thirdpartynumber").is_none());
    assert_eq!(
        stored.third_party_id_string.as_deref(),
        Some("cf|sentinel|incident-43")
    );
}

//! CfToHalo, CONTRACT §3.1 continued: creating the mapped ticket, finding an existing one,
//! notes on re-delivery, and what Halo's failures answer.

use cf_halo_bridge::sandbox::Fault;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_new_incident_creates_one_mapped_ticket() {
    let app = spawn_app().await;
    let (status, json) = answer(app.post_cf("evt-1", &incident(1234)).await).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"], "created");
    let ticket = app
        .sandbox
        .halo
        .ticket(json["ticketId"].as_u64().unwrap())
        .expect("ticket exists");
    assert_eq!(ticket.summary, "[CF #1234] Suspicious sign-in activity");
    assert_eq!(
        ticket.third_party_id_string.as_deref(),
        Some("cf|sentinel|incident-1234")
    );
    assert_eq!(
        (ticket.tickettype_id, ticket.client_id, ticket.priority_id),
        (Some(25), Some(1), Some(1))
    );
    assert!(
        ticket
            .details_html
            .starts_with("<p><strong>ContraForce incident</strong> incident-1234 (#1234)</p>")
    );
    // One lookup and one create.
    assert_eq!(app.sandbox.halo.count("GET", "/api/Tickets"), 1);
    assert_eq!(app.sandbox.halo.count("POST", "/api/Tickets"), 1);
}

#[tokio::test]
async fn a_redelivered_event_is_a_duplicate_with_no_halo_call() {
    let app = spawn_app().await;
    let ticket_id = app.create_ticket(7).await;
    let before = app.sandbox.halo.requests().len();
    let (status, json) = answer(app.post_cf("evt-7", &incident(7)).await).await;
    assert_eq!(
        (status, json),
        (200, json!({"status": "duplicate", "ticketId": ticket_id}))
    );
    assert_eq!(app.sandbox.halo.requests().len(), before);
}

#[tokio::test]
async fn a_new_event_for_a_linked_incident_adds_one_private_note() {
    let app = spawn_app().await;
    let ticket_id = app.create_ticket(8).await;
    let (status, json) = answer(app.post_cf("evt-8-again", &incident(8)).await).await;
    assert_eq!(
        (status, json),
        (200, json!({"status": "updated", "ticketId": ticket_id}))
    );
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
    let notes: Vec<_> = app
        .sandbox
        .halo
        .actions(ticket_id)
        .into_iter()
        .filter(|a| a.hiddenfromuser)
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].outcome, "Private Note");
    assert_eq!(
        notes[0].note_html,
        "<p>ContraForce re-delivered incident incident-8 as event <code>evt-8-again</code></p>"
    );
    assert_eq!(
        app.sandbox.halo.count("GET", "/api/Tickets"),
        1,
        "the link came from our store, not a lookup"
    );
}

#[tokio::test]
async fn an_existing_halo_ticket_is_found_by_a_verified_lookup() {
    let app = spawn_app().await;
    let existing = app
        .sandbox
        .halo
        .insert_ticket("made earlier", Some("cf|sentinel|incident-9"));
    let (_, json) = answer(app.post_cf("evt-9", &incident(9)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": existing}));
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
}

#[tokio::test]
async fn an_unrelated_ticket_from_halo_search_is_not_taken_as_a_match() {
    let app = spawn_app().await;
    let unrelated = app
        .sandbox
        .halo
        .insert_ticket("someone else's", Some("cf|sentinel|other"));
    app.sandbox.halo.set_ignore_reference_filter(true);
    let (_, json) = answer(app.post_cf("evt-10", &incident(10)).await).await;
    assert_eq!(json["status"], "created");
    assert_ne!(json["ticketId"], unrelated);
    assert!(
        app.sandbox
            .halo
            .actions(unrelated)
            .iter()
            .all(|a| !a.hiddenfromuser),
        "no note on the wrong ticket"
    );
}

#[tokio::test]
async fn custom_field_mode_stores_the_reference_in_the_field_and_looks_it_up_by_listing() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_EXTERNAL_REF_FIELD_ID".into(), "251".into());
    })
    .await;
    let (_, json) = answer(app.post_cf("evt-11", &incident(11)).await).await;
    let ticket = app
        .sandbox
        .halo
        .ticket(json["ticketId"].as_u64().unwrap())
        .unwrap();
    assert_eq!(ticket.third_party_id_string, None);
    assert_eq!(
        ticket.customfields,
        vec![(251, json!("cf|sentinel|incident-11"))]
    );
    // Halo has no custom-field filter: the lookup is the date-window listing with the field.
    let lookup = app
        .sandbox
        .halo
        .requests()
        .into_iter()
        .find(|r| r.method == "GET")
        .unwrap();
    for part in [
        "lastupdatefromdate=2026-04-22T14%3A45%3A00",
        "include_custom_fields=251",
        "order=id",
        "pageinate=true",
        "page_size=100",
        "page_no=1",
    ] {
        assert!(lookup.query.contains(part), "{part}: {}", lookup.query);
    }
}

#[tokio::test]
async fn mapping_settings_choose_client_priority_title_team_and_category() {
    let app = spawn_app_with(|env| {
        env.insert(
            "HALO_CLIENT_MAP".into(),
            "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f=77".into(),
        );
        env.insert("HALO_PRIORITY_MAP".into(), "high=4,low=2".into());
        env.insert(
            "HALO_TITLE_TEMPLATE".into(),
            "{accountName}: {title} ({severity})".into(),
        );
        env.insert("HALO_TEAM".into(), "SOC".into());
        env.insert("HALO_CATEGORY".into(), "Security>Incident".into());
    })
    .await;
    let (_, json) = answer(app.post_cf("evt-12", &incident(12)).await).await;
    let t = app
        .sandbox
        .halo
        .ticket(json["ticketId"].as_u64().unwrap())
        .unwrap();
    assert_eq!(
        t.summary,
        "Example MSP SOC: Suspicious sign-in activity (High)"
    );
    assert_eq!((t.client_id, t.priority_id), (Some(77), Some(4)));
    assert_eq!(
        (t.team.as_deref(), t.category_1.as_deref()),
        (Some("SOC"), Some("Security>Incident"))
    );
}

#[tokio::test]
async fn halo_down_is_503_with_retry_after_and_nothing_is_recorded() {
    let app = spawn_app().await;
    app.sandbox.halo.set_down(true);
    let r = app.post_cf("evt-13", &incident(13)).await;
    assert_eq!(
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string()),
        Some("30".into())
    );
    assert_eq!(
        answer(r).await,
        (503, json!({"error": "upstream unavailable"}))
    );
    app.sandbox.halo.set_down(false);
    let (_, json) = answer(app.post_cf("evt-13", &incident(13)).await).await;
    assert_eq!(
        json["status"], "created",
        "the failed delivery was not recorded as processed"
    );
}

#[tokio::test]
async fn halos_own_retry_after_is_passed_on() {
    let app = spawn_app().await;
    app.sandbox.halo.push_fault(
        Fault::on("GET", "/api/Tickets", 429, "Rate Limit Reached").with_retry_after("17"),
    );
    let r = app.post_cf("evt-14", &incident(14)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").unwrap(), "17");
}

#[tokio::test]
async fn a_create_halo_rejects_is_502_with_halos_message() {
    let app = spawn_app().await;
    app.sandbox
        .halo
        .set_reject_creates(Some("Category is mandatory".into()));
    let (status, json) = answer(app.post_cf("evt-15", &incident(15)).await).await;
    assert_eq!(
        (status, json),
        (
            502,
            json!({"error": "halo rejected the request", "detail": "Category is mandatory"})
        )
    );
    app.sandbox.halo.set_reject_creates(None);
    let (_, json) = answer(app.post_cf("evt-15", &incident(15)).await).await;
    assert_eq!(json["status"], "created");
}

#[tokio::test]
async fn a_lookup_that_keeps_failing_is_503_and_the_redelivery_finds_the_ticket() {
    let app = spawn_app().await;
    // Halo made the ticket earlier but that answer was lost: the next delivery must find it.
    let made = app
        .sandbox
        .halo
        .insert_ticket("made", Some("cf|sentinel|incident-16"));
    for _ in 0..4 {
        app.sandbox
            .halo
            .push_fault(Fault::on("GET", "/api/Tickets", 503, "busy"));
    }
    assert_eq!(app.post_cf("evt-16", &incident(16)).await.status(), 503);
    let (_, json) = answer(app.post_cf("evt-16", &incident(16)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": made}));
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
}

#[tokio::test]
async fn a_create_answered_with_a_5xx_leaves_the_incident_in_doubt_then_looks_up_before_creating() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_CREATE_GRACE_SECONDS".into(), "2".into());
    })
    .await;
    app.sandbox
        .halo
        .push_fault(Fault::on("POST", "/api/Tickets", 500, "oops"));
    let r = app.post_cf("evt-20", &incident(20)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2", "the grace left");
    // Within the grace, a lookup that finds nothing does not create.
    let r = app.post_cf("evt-20", &incident(20)).await;
    assert_eq!(r.status(), 503);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(app.sandbox.halo.tickets().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, json) = answer(app.post_cf("evt-20", &incident(20)).await).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("created")));
    assert_eq!(app.sandbox.halo.tickets().len(), 1);
    let calls: Vec<String> = app
        .sandbox
        .halo
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .map(|r| format!("{} {}", r.method, r.status))
        .collect();
    assert_eq!(
        calls,
        ["GET 200", "POST 500", "GET 200", "GET 200", "POST 200"]
    );
}

#[tokio::test]
async fn ids_written_as_floats_or_strings_are_read() {
    use cf_halo_bridge::sandbox::IdStyle;
    for style in [IdStyle::Float, IdStyle::Str] {
        let app = spawn_app().await;
        app.sandbox.halo.set_id_style(style);
        let (_, json) = answer(app.post_cf("evt-17", &incident(17)).await).await;
        assert_eq!(json["status"], "created", "{style:?}");
        assert_eq!(
            json["ticketId"].as_u64(),
            app.sandbox.halo.tickets().first().map(|t| t.id)
        );
    }
}

#[tokio::test]
async fn bare_list_answers_are_accepted_for_the_lookup() {
    use cf_halo_bridge::sandbox::ListShape;
    let app = spawn_app().await;
    app.sandbox.halo.set_list_shape(ListShape::Bare);
    let existing = app
        .sandbox
        .halo
        .insert_ticket("x", Some("cf|sentinel|incident-18"));
    let (_, json) = answer(app.post_cf("evt-18", &incident(18)).await).await;
    assert_eq!(json, json!({"status": "updated", "ticketId": existing}));
}

//! CfToHalo, row by row of CONTRACT §3.1.

use cf_halo_bridge::contraforce::webhook::sign;
use cf_halo_bridge::sandbox::Fault;
use serde_json::{Value, json};

use crate::helpers::*;

fn signed_headers(
    secret: &str,
    ts: &str,
    body: &[u8],
    event_id: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("X-CF-Signature", sign(secret, ts, body)),
        ("X-CF-Timestamp", ts.to_string()),
        ("X-CF-Event-Id", event_id.to_string()),
    ]
}

#[tokio::test]
async fn the_contract_test_vector_is_accepted_at_its_timestamp() {
    let app = spawn_app_with(|env| {
        env.insert("CF_WEBHOOK_SECRET".into(), "whsec_example_secret".into());
    })
    .await;
    let vector: Value = serde_json::from_str(
        &std::fs::read_to_string("../shared/fixtures/cf-signature-vector.json").unwrap(),
    )
    .unwrap();
    app.clock
        .set(vector["timestamp"].as_str().unwrap().parse().unwrap());
    let headers = [
        (
            "X-CF-Signature",
            vector["X-CF-Signature"].as_str().unwrap().to_string(),
        ),
        (
            "X-CF-Timestamp",
            vector["timestamp"].as_str().unwrap().to_string(),
        ),
        ("X-CF-Event-Id", "vector-1".to_string()),
    ];
    let body = vector["body"].as_str().unwrap().as_bytes().to_vec();
    let (status, json) = answer(app.post_raw("/api/CfToHalo", &headers, body).await).await;
    // Signature accepted; the vector's data lacks the title, so the payload check answers.
    assert_eq!(
        (status, json),
        (
            400,
            json!({"error": "malformed payload", "detail": "data.title"})
        )
    );
    assert_eq!(app.halo_api_calls(), 0);
}

#[tokio::test]
async fn skew_of_300_seconds_is_accepted_and_301_is_rejected() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&incident(1)).unwrap();
    for (offset, expected) in [(-300, 200), (300, 200), (-301, 401), (301, 401)] {
        let ts = (NOW + offset).to_string();
        let headers = signed_headers(CF_SECRET, &ts, &body, &format!("skew{offset}"));
        let status = app
            .post_raw("/api/CfToHalo", &headers, body.clone())
            .await
            .status()
            .as_u16();
        assert_eq!(status, expected, "offset {offset}");
    }
}

#[tokio::test]
async fn the_previous_secret_is_accepted_and_an_unknown_one_is_not() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&incident(2)).unwrap();
    let ts = NOW.to_string();
    let ok = app
        .post_raw(
            "/api/CfToHalo",
            &signed_headers(CF_SECRET_PREVIOUS, &ts, &body, "p1"),
            body.clone(),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let (status, json) = answer(
        app.post_raw(
            "/api/CfToHalo",
            &signed_headers("whsec_other", &ts, &body, "p2"),
            body,
        )
        .await,
    )
    .await;
    assert_eq!((status, json), (401, json!({"error": "invalid signature"})));
}

#[tokio::test]
async fn every_signature_failure_is_401_before_anything_is_parsed() {
    let app = spawn_app().await;
    let body = b"not even json".to_vec();
    let ts = NOW.to_string();
    let good = sign(CF_SECRET, &ts, &body);
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![
            ("X-CF-Timestamp", ts.clone()),
            ("X-CF-Event-Id", "e".into()),
        ],
        vec![
            ("X-CF-Signature", good.clone()),
            ("X-CF-Event-Id", "e".into()),
        ],
        vec![
            ("X-CF-Signature", good.clone()),
            ("X-CF-Timestamp", "abc".into()),
        ],
        vec![
            ("X-CF-Signature", good.to_uppercase()),
            ("X-CF-Timestamp", ts.clone()),
        ],
        vec![
            ("X-CF-Signature", sign(CF_SECRET, &ts, b"other")),
            ("X-CF-Timestamp", ts.clone()),
        ],
        vec![
            ("X-CF-Signature", good.clone()),
            ("X-CF-Signature", good.clone()),
            ("X-CF-Timestamp", ts.clone()),
        ],
    ];
    for headers in cases {
        let (status, json) =
            answer(app.post_raw("/api/CfToHalo", &headers, body.clone()).await).await;
        assert_eq!(
            (status, &json),
            (401, &json!({"error": "invalid signature"})),
            "{headers:?}"
        );
    }
    assert_eq!(app.halo_api_calls(), 0);
}

#[tokio::test]
async fn a_body_over_the_cap_is_413_without_being_read() {
    let app = spawn_app_with(|env| {
        env.insert("MAX_BODY_BYTES".into(), "1000".into());
    })
    .await;
    let body = vec![b'x'; 1001];
    let (status, json) = answer(app.post_raw("/api/CfToHalo", &[], body).await).await;
    assert_eq!((status, json), (413, json!({"error": "payload too large"})));
    let (status, _) = answer(app.post_raw("/api/HaloToCf", &[], vec![b'x'; 1001]).await).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn payload_problems_are_400_with_the_field_named() {
    let app = spawn_app().await;
    let missing_id = app
        .post_raw(
            "/api/CfToHalo",
            &signed_headers(CF_SECRET, &NOW.to_string(), b"{}", "")[..2],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(
        answer(missing_id).await,
        (400, json!({"error": "missing X-CF-Event-Id"}))
    );

    let mut no_title = incident(3);
    no_title["data"].as_object_mut().unwrap().remove("title");
    let mut number_as_text = incident(3);
    number_as_text["data"]["incidentNumber"] = json!("3");
    let cases: Vec<(Vec<u8>, Value)> = vec![
        (
            b"[1,2]".to_vec(),
            json!({"error": "malformed payload", "detail": "type"}),
        ),
        (
            b"{not json".to_vec(),
            json!({"error": "malformed payload", "detail": "type"}),
        ),
        (
            br#"{"data":{}}"#.to_vec(),
            json!({"error": "malformed payload", "detail": "type"}),
        ),
        (
            br#"{"type":"incident.created.v1"}"#.to_vec(),
            json!({"error": "malformed payload", "detail": "data"}),
        ),
        (
            serde_json::to_vec(&no_title).unwrap(),
            json!({"error": "malformed payload", "detail": "data.title"}),
        ),
        (
            serde_json::to_vec(&number_as_text).unwrap(),
            json!({"error": "malformed payload", "detail": "data.incidentNumber"}),
        ),
        (
            br#"{"type":"incident.updated.v1"}"#.to_vec(),
            json!({"error": "schema mismatch"}),
        ),
    ];
    for (body, expected) in cases {
        let r = app.post_cf_bytes("bad", body.clone()).await;
        assert_eq!(
            answer(r).await,
            (400, expected),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    assert_eq!(app.halo_api_calls(), 0);
}

#[tokio::test]
async fn other_event_types_are_ignored_with_200() {
    let app = spawn_app().await;
    let body = br#"{"type":"incident.updated.v1","data":{}}"#.to_vec();
    let ts = NOW.to_string();
    let mut headers = signed_headers(CF_SECRET, &ts, &body, "u1");
    headers.push(("X-CF-Schema", "Incident.Updated.V1".into()));
    let r = app.post_raw("/api/CfToHalo", &headers, body).await;
    assert_eq!(
        answer(r).await,
        (
            200,
            json!({"status": "ignored", "reason": "unhandled schema"})
        )
    );
    assert_eq!(app.halo_api_calls(), 0);
}

#[tokio::test]
async fn test_deliveries_are_mapped_but_create_nothing() {
    let app = spawn_app().await;
    let mut body = incident(4);
    body["isTest"] = json!(true);
    let (status, json) = answer(app.post_cf("t1", &body).await).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"], "test");
    assert_eq!(
        json["ticket"]["summary"],
        "[CF #4] Suspicious sign-in activity"
    );
    assert_eq!(json["ticket"]["thirdpartynumber"], "cf|sentinel|incident-4");

    let body = serde_json::to_vec(&incident(5)).unwrap();
    let ts = NOW.to_string();
    let mut headers = signed_headers(CF_SECRET, &ts, &body, "t2");
    headers.push(("X-CF-Test", "true".into()));
    let (status, json) = answer(app.post_raw("/api/CfToHalo", &headers, body).await).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("test")));
    assert_eq!(
        app.sandbox.halo.requests().len(),
        0,
        "no Halo call at all, not even a token"
    );
}

#[tokio::test]
async fn test_deliveries_create_tickets_when_configured_to() {
    let app = spawn_app_with(|env| {
        env.insert("CF_TEST_EVENTS".into(), "create".into());
    })
    .await;
    let mut body = incident(6);
    body["isTest"] = json!(true);
    let (_, json) = answer(app.post_cf("t3", &body).await).await;
    assert_eq!(json["status"], "created");
}

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
        ticket.thirdpartynumber.as_deref(),
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
    app.sandbox.halo.set_ignore_lookup_filter(true);
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
async fn custom_field_mode_stores_and_looks_up_the_reference_in_the_field() {
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
    assert_eq!(ticket.thirdpartynumber, None);
    assert_eq!(
        ticket.customfields,
        vec![(251, json!("cf|sentinel|incident-11"))]
    );
    let lookup = app
        .sandbox
        .halo
        .requests()
        .into_iter()
        .find(|r| r.method == "GET")
        .unwrap();
    assert!(
        lookup
            .query
            .contains("searchcustomfield_251=cf%7Csentinel%7Cincident-11"),
        "{}",
        lookup.query
    );
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
async fn a_create_answered_with_a_5xx_is_followed_by_a_lookup_not_a_blind_retry() {
    let app = spawn_app().await;
    app.sandbox
        .halo
        .push_fault(Fault::on("POST", "/api/Tickets", 500, "oops"));
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
    assert_eq!(calls, ["GET 200", "POST 500", "GET 200", "POST 200"]);
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

#[tokio::test]
async fn a_function_missing_settings_answers_503_and_the_other_keeps_working() {
    let app = spawn_app_with(|env| {
        env.remove("CF_WEBHOOK_SECRET");
        env.remove("HALO_DEFAULT_CLIENT_ID");
    })
    .await;
    let r = app.post_cf("e", &incident(19)).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        answer(r).await,
        (
            503,
            json!({"error": "not configured", "missing": ["CF_WEBHOOK_SECRET", "HALO_DEFAULT_CLIENT_ID"]})
        )
    );
    let r = app.post_halo(&json!({"ticket_id": 999_999})).await;
    assert_eq!(
        answer(r).await,
        (
            200,
            json!({"status": "ignored", "reason": "ticket not found"})
        )
    );
}

#[tokio::test]
async fn the_readiness_ping_and_unknown_routes_answer_json() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .get(format!("{}/api/CfToHalo", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    assert_eq!(r.status(), 404);
}

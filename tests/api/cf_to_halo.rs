//! CfToHalo, row by row of CONTRACT §3.1: the signature and headers, the order of the checks,
//! payload problems, test deliveries and readiness. Ticket creation, lookup, notes and upstream
//! failures are in `cf_to_halo_tickets`.

use cf_halo_bridge::contraforce::webhook::sign;
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
        // Upper-case hex is the same MAC since CONTRACT §8.1; a digit short is not a MAC.
        vec![
            ("X-CF-Signature", good[..good.len() - 1].to_string()),
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
    assert_eq!(
        json["ticket"]["third_party_id_string"],
        "cf|sentinel|incident-4"
    );

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

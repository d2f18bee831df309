//! Garbage in: every bad input gets the contract's 4xx (CONTRACT §1, §3.1, §4) and costs no
//! upstream call.

use serde_json::{Value, json};

use crate::helpers::*;

/// A complete, valid incident body with one field of `data` replaced, or removed for `None`.
fn incident_with(field: &str, value: Option<Value>) -> Vec<u8> {
    let mut body = incident(1);
    match value {
        Some(v) => body["data"][field] = v,
        None => {
            body["data"].as_object_mut().unwrap().remove(field);
        }
    }
    serde_json::to_vec(&body).unwrap()
}

/// Request headers as `TestApp::post_raw` takes them.
type Headers = Vec<(&'static str, String)>;

fn malformed(detail: &str) -> Value {
    json!({"error": "malformed payload", "detail": detail})
}

/// `depth` nested arrays: `[[[…]]]`.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Asserts neither fake was called, naming the requests when one was.
fn assert_no_upstream_call(app: &TestApp, case: &str) {
    let halo = app.sandbox.halo.requests();
    let cf = app.sandbox.cf.requests();
    assert!(halo.is_empty(), "{case}: Halo was called: {halo:?}");
    assert!(cf.is_empty(), "{case}: ContraForce was called: {cf:?}");
}

/// Runs every case, then fails once listing every case whose answer differs.
fn report(mismatches: Vec<String>) {
    assert!(
        mismatches.is_empty(),
        "{} case(s) answered differently from the contract:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn cf_to_halo_answers_each_signed_bad_payload_with_its_400_and_calls_nobody() {
    let app = spawn_app().await;
    let deep_in_data = {
        // Every required field, then the nesting, inside `data`.
        let data = serde_json::to_string(&incident(1)["data"]).unwrap();
        let data = data.strip_suffix('}').unwrap();
        format!(
            r#"{{"type":"incident.created.v1","data":{data},"deep":{}}}}}"#,
            nested_arrays(10_000)
        )
        .into_bytes()
    };
    let big_array = serde_json::to_vec(&vec![json!(1); 10_000]).unwrap();
    let cases: Vec<(&str, Vec<u8>, Value)> = vec![
        ("empty body", vec![], malformed("type")),
        (
            "non-UTF-8 bytes",
            vec![0xff, 0xfe, b'{', 0xc3, 0x28, b'}'],
            malformed("type"),
        ),
        (
            "invalid JSON",
            br#"{"type":"incident.created.v1","data":{"#.to_vec(),
            malformed("type"),
        ),
        (
            "trailing garbage after the object",
            [serde_json::to_vec(&incident(1)).unwrap(), b"x".to_vec()].concat(),
            malformed("type"),
        ),
        (
            "a JSON string",
            br#""incident""#.to_vec(),
            malformed("type"),
        ),
        ("a JSON number", b"42".to_vec(), malformed("type")),
        (
            "a JSON array",
            br#"[{"type":"x"}]"#.to_vec(),
            malformed("type"),
        ),
        ("JSON null", b"null".to_vec(), malformed("type")),
        ("a 10,000-element array", big_array, malformed("type")),
        (
            "10,000 nested arrays at the top",
            nested_arrays(10_000).into_bytes(),
            malformed("type"),
        ),
        (
            "10,000 nested arrays inside data",
            deep_in_data,
            malformed("type"),
        ),
        (
            "type missing",
            br#"{"data":{}}"#.to_vec(),
            malformed("type"),
        ),
        (
            "type a number",
            serde_json::to_vec(&json!({"type": 1, "data": incident(1)["data"]})).unwrap(),
            malformed("type"),
        ),
        (
            "data missing",
            br#"{"type":"incident.created.v1"}"#.to_vec(),
            malformed("data"),
        ),
        (
            "data a string",
            br#"{"type":"incident.created.v1","data":"incident"}"#.to_vec(),
            malformed("data"),
        ),
        (
            "data an array",
            br#"{"type":"incident.created.v1","data":[]}"#.to_vec(),
            malformed("data"),
        ),
        (
            "data.incidentId a number",
            incident_with("incidentId", Some(json!(7))),
            malformed("data.incidentId"),
        ),
        (
            "data.incidentId empty",
            incident_with("incidentId", Some(json!(""))),
            malformed("data.incidentId"),
        ),
        (
            "data.incidentId missing",
            incident_with("incidentId", None),
            malformed("data.incidentId"),
        ),
        (
            "data.source null",
            incident_with("source", Some(Value::Null)),
            malformed("data.source"),
        ),
        (
            "data.title an object",
            incident_with("title", Some(json!({"text": "t"}))),
            malformed("data.title"),
        ),
        (
            "data.severity missing",
            incident_with("severity", None),
            malformed("data.severity"),
        ),
        (
            "data.incidentNumber a string",
            incident_with("incidentNumber", Some(json!("1"))),
            malformed("data.incidentNumber"),
        ),
        (
            "data.incidentNumber a float",
            incident_with("incidentNumber", Some(json!(1.5))),
            malformed("data.incidentNumber"),
        ),
    ];
    let mut mismatches = Vec::new();
    for (i, (case, body, expected)) in cases.into_iter().enumerate() {
        let (status, got) = answer(app.post_cf_bytes(&format!("bad-{i}"), body).await).await;
        if (status, &got) != (400, &expected) {
            mismatches.push(format!("{case}: got {status} {got}, want 400 {expected}"));
        }
        assert_no_upstream_call(&app, case);
    }
    report(mismatches);
}

#[tokio::test]
async fn cf_to_halo_refuses_repeated_security_headers() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&incident(1)).unwrap();
    let ts = NOW.to_string();
    let sig = cf_halo_bridge::contraforce::webhook::sign(CF_SECRET, &ts, &body);
    let headers = |extra: (&'static str, String)| {
        vec![
            ("X-CF-Signature", sig.clone()),
            ("X-CF-Timestamp", ts.clone()),
            ("X-CF-Event-Id", "dup-headers".to_string()),
            extra,
        ]
    };
    let cases = [
        (
            "two X-CF-Signature",
            headers(("X-CF-Signature", sig.clone())),
            401,
            json!({"error": "invalid signature"}),
        ),
        (
            "two X-CF-Timestamp",
            headers(("X-CF-Timestamp", ts.clone())),
            401,
            json!({"error": "invalid signature"}),
        ),
        (
            "two X-CF-Event-Id",
            headers(("X-CF-Event-Id", "dup-headers-2".to_string())),
            400,
            json!({"error": "missing X-CF-Event-Id"}),
        ),
        (
            "the same X-CF-Event-Id twice",
            headers(("X-CF-Event-Id", "dup-headers".to_string())),
            400,
            json!({"error": "missing X-CF-Event-Id"}),
        ),
    ];
    let mut mismatches = Vec::new();
    for (case, headers, want_status, want) in cases {
        let (status, got) =
            answer(app.post_raw("/api/CfToHalo", &headers, body.clone()).await).await;
        if (status, &got) != (want_status, &want) {
            mismatches.push(format!(
                "{case}: got {status} {got}, want {want_status} {want}"
            ));
        }
        assert_no_upstream_call(&app, case);
    }
    report(mismatches);
}

#[tokio::test]
async fn cf_to_halo_reads_a_body_just_under_the_cap_and_refuses_one_over_it() {
    let app = spawn_app_with(|env| {
        env.insert("MAX_BODY_BYTES".into(), "200000".into());
    })
    .await;
    let mut under = incident(1);
    under["data"]["title"] = json!("t".repeat(190_000));
    under["data"].as_object_mut().unwrap().remove("severity");
    let under = serde_json::to_vec(&under).unwrap();
    assert!(under.len() < 200_000, "{}", under.len());
    let r = answer(app.post_cf_bytes("under-cap", under).await).await;
    assert_eq!(r, (400, malformed("data.severity")));

    let mut over = incident(2);
    over["data"]["title"] = json!("t".repeat(210_000));
    let r = answer(
        app.post_cf_bytes("over-cap", serde_json::to_vec(&over).unwrap())
            .await,
    )
    .await;
    assert_eq!(r, (413, json!({"error": "payload too large"})));
    assert_no_upstream_call(&app, "size cap");
}

#[tokio::test]
async fn halo_to_cf_answers_each_authenticated_bad_payload_with_400_and_calls_nobody() {
    let app = spawn_app().await;
    let secret = [("X-Halo-Secret", HALO_SECRET.to_string())];
    let malformed_payload = json!({"error": "malformed payload"});
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty body", vec![]),
        ("non-UTF-8 bytes", vec![0xff, 0xfe, b'{', 0xc3, 0x28, b'}']),
        ("invalid JSON", br#"{"ticket_id": 4242"#.to_vec()),
        (
            "a JSON array (batch)",
            br#"[{"ticket_id":4242},{"ticket_id":4243}]"#.to_vec(),
        ),
        ("a JSON string", br#""4242""#.to_vec()),
        ("a JSON number", b"4242".to_vec()),
        ("JSON null", b"null".to_vec()),
        (
            "10,000 nested arrays at the top",
            nested_arrays(10_000).into_bytes(),
        ),
        (
            "10,000 nested arrays in an object",
            format!(r#"{{"ticket_id":4242,"deep":{}}}"#, nested_arrays(10_000)).into_bytes(),
        ),
    ];
    let mut mismatches = Vec::new();
    for (case, body) in cases {
        let (status, got) = answer(app.post_raw("/api/HaloToCf", &secret, body).await).await;
        if (status, &got) != (400, &malformed_payload) {
            mismatches.push(format!(
                "{case}: got {status} {got}, want 400 {malformed_payload}"
            ));
        }
        assert_no_upstream_call(&app, case);
    }
    report(mismatches);
}

#[tokio::test]
async fn halo_to_cf_refuses_a_repeated_or_missing_secret_before_looking_at_the_body() {
    let app = spawn_app().await;
    let invalid = json!({"error": "invalid callback secret"});
    let good_body = br#"{"ticket_id":4242}"#.to_vec();
    let cases: Vec<(&str, Headers, Vec<u8>)> = vec![
        (
            "two X-Halo-Secret, both right",
            vec![
                ("X-Halo-Secret", HALO_SECRET.to_string()),
                ("X-Halo-Secret", HALO_SECRET.to_string()),
            ],
            good_body.clone(),
        ),
        (
            "two X-Halo-Secret, one right",
            vec![
                ("X-Halo-Secret", "wrong".to_string()),
                ("X-Halo-Secret", HALO_SECRET.to_string()),
            ],
            good_body.clone(),
        ),
        ("no secret, invalid JSON", vec![], b"{".to_vec()),
        (
            "wrong secret, deeply nested",
            vec![("X-Halo-Secret", "wrong".to_string())],
            nested_arrays(10_000).into_bytes(),
        ),
    ];
    let mut mismatches = Vec::new();
    for (case, headers, body) in cases {
        let (status, got) = answer(app.post_raw("/api/HaloToCf", &headers, body).await).await;
        if (status, &got) != (401, &invalid) {
            mismatches.push(format!("{case}: got {status} {got}, want 401 {invalid}"));
        }
        assert_no_upstream_call(&app, case);
    }
    report(mismatches);
}

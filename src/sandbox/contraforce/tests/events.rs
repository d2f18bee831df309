//! The webhook emitter: both signing formats verify with the bridge's own verifier, and the
//! headers are ContraForce's.

use actix_web::dev::ServerHandle;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::contraforce::webhook::{self, SignatureError};
use crate::sandbox::common;
use crate::sandbox::contraforce::{FakeContraForce, SignedEvent, SigningFormat, send_event};

async fn receiver() -> (String, common::Captured, ServerHandle) {
    common::receiver("/api/CfToHalo", 202, json!({"status": "received"})).await
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// What the bridge's verifier says about a captured delivery, with `secret`.
fn verify(headers: &[(String, String)], body: &[u8], secret: &str) -> Result<(), SignatureError> {
    let secret = SecretString::from(secret.to_owned());
    webhook::verify(
        header(headers, "x-cf-signature").map(str::as_bytes),
        header(headers, "x-cf-timestamp").map(str::as_bytes),
        body,
        &[&secret],
        now(),
        300,
    )
    .map(drop)
}

fn incident_event() -> Value {
    json!({
        "type": "incident.created.v1",
        "data": {"incidentId": "b3f0", "source": "sentinel", "title": "Sign-in"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_format_signs_an_iso_timestamp_in_base64() {
    let (url, captured, handle) = receiver().await;
    let mut event = SignedEvent::new("evt-1", incident_event(), "whsec_test");
    event.test = true;
    event.authorization = Some("Bearer tok".to_owned());
    let answer = send_event(&url, &event).await.expect("delivered");
    assert_eq!(answer, (202, json!({"status": "received"})));

    let (headers, body) = common::lock(&captured)[0].clone();
    assert_eq!(body, serde_json::to_vec(&event.body).expect("bytes"));
    verify(&headers, &body, "whsec_test").expect("the bridge accepts it");
    assert_eq!(
        verify(&headers, &body, "other"),
        Err(SignatureError::Mismatch)
    );
    let timestamp = header(&headers, "x-cf-timestamp").expect("timestamp");
    assert_eq!(
        (timestamp.len(), &timestamp[19..20], &timestamp[23..]),
        (24, ".", "Z")
    );
    let signature = header(&headers, "x-cf-signature").expect("signature");
    assert_eq!(
        signature,
        webhook::sign_base64("whsec_test", timestamp, &body),
        "base64, no prefix"
    );
    assert_eq!(header(&headers, "x-cf-event-id"), Some("evt-1"));
    assert_eq!(header(&headers, "x-cf-schema"), Some("incident.created.v1"));
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(header(&headers, "x-cf-test"), Some("true"));
    assert_eq!(header(&headers, "authorization"), Some("Bearer tok"));
    handle.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_format_signs_unix_seconds_in_prefixed_hex() {
    let (url, captured, handle) = receiver().await;
    let event =
        SignedEvent::new("evt-2", incident_event(), "s3cret").with_format(SigningFormat::Legacy);
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    assert_eq!(cf.send_event(&url, &event).await.expect("delivered").0, 202);
    cf.stop().await;

    let (headers, body) = common::lock(&captured)[0].clone();
    verify(&headers, &body, "s3cret").expect("the bridge accepts it");
    let timestamp = header(&headers, "x-cf-timestamp").expect("timestamp");
    assert!(timestamp.bytes().all(|b| b.is_ascii_digit()), "{timestamp}");
    assert!(now().abs_diff(timestamp.parse::<i64>().expect("seconds")) <= 5);
    let signature = header(&headers, "x-cf-signature").expect("signature");
    assert_eq!(signature, webhook::sign("s3cret", timestamp, &body));
    assert!(signature.starts_with("sha256=") && signature.len() == 71);
    assert_eq!(header(&headers, "x-cf-test"), None);
    assert_eq!(header(&headers, "authorization"), None);
    handle.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_timestamp_is_signed_as_given_and_bodies_without_type_have_no_schema() {
    let (url, captured, handle) = receiver().await;
    let mut event = SignedEvent::new("evt-3", json!({"data": {}}), "k");
    event.timestamp = Some("2026-04-22T15:00:00Z".to_owned());
    let (headers, body) = event.request().expect("request");
    send_event(&url, &event).await.expect("delivered");
    send_event(&url, &event).await.expect("delivered again");

    let mut deliveries = common::lock(&captured).clone();
    // The receiver's header map has no order; compare them as sets.
    for (headers, _) in &mut deliveries {
        headers.sort();
    }
    let (sent, sent_body) = &deliveries[0];
    assert_eq!(header(sent, "x-cf-timestamp"), Some("2026-04-22T15:00:00Z"));
    assert_eq!(
        header(&headers, "X-CF-Signature"),
        header(sent, "x-cf-signature")
    );
    assert_eq!(&body, sent_body);
    assert_eq!(
        deliveries[1], deliveries[0],
        "a replay sends the same bytes"
    );
    assert_eq!(header(sent, "x-cf-schema"), None);
    // Long past: the bridge's skew check refuses it, whatever the MAC.
    assert_eq!(verify(sent, sent_body, "k"), Err(SignatureError::Skew));

    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let unreachable = format!("http://127.0.0.1:{port}/");
    assert!(send_event(&unreachable, &event).await.is_err());
    handle.stop(false).await;
}

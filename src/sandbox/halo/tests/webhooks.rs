//! The webhook emitter: Halo's published signature vector, envelope, auth headers and resend.

use actix_web::dev::ServerHandle;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::fake;
use crate::sandbox::common;
use crate::sandbox::halo::{WebhookAuth, sign};

#[test]
fn signature_matches_the_published_halo_vector() {
    let body = r#"{"id":"8e25bc7b-e07e-4102-9398-5d6647e1e79d","webhook_id":"53232637-7724-4a19-b126-3c7267a292aa","notification_id":41,"escmsg_id":"a726ee11-acb8-f111-8260-02725cb0e102","event":"ticket status changed","message":"The status has been changed for Ticket ID: 0004242.","object_id":4242,"agent_id":3,"timestamp":"2026-09-25T06:41:08.7895915Z","ticket":{"id":4242,"summary":"[CF #1234] Suspicious sign-in activity","status_id":9,"tickettype_id":25,"client_id":1,"team_id":5,"agent_id":3,"thirdpartynumber":"cf|sentinel|b3f0c2a1-5d4e-4f60-9a8b-7c6d5e4f3a21","customfields":[],"hasbeenclosed":true}}"#;
    assert_eq!(
        sign("halo_signing_secret_example", body.as_bytes()),
        "sha256= 1/EMJArSNjAUxn+VeneQQ4pRaOJXclmVVk6tbEMzg8E="
    );
}

async fn receiver() -> (String, common::Captured, ServerHandle) {
    common::receiver("/api/HaloToCf", 200, json!({"status": "processed"})).await
}

#[tokio::test]
async fn webhooks_carry_the_envelope_and_a_verifiable_signature() {
    let halo = fake().await;
    let id = halo.insert_ticket("t", Some("cf|s|a"));
    halo.close(id);
    let (url, captured, handle) = receiver().await;
    let auth = WebhookAuth::Hmac {
        header: "x-signature".to_owned(),
        secret: "s3cret".to_owned(),
    };
    let first = halo
        .send_webhook(&url, id, "ticket status changed", &auth)
        .await
        .expect("delivered");
    assert_eq!(first.status, 200);
    assert_eq!(first.body["status"], "processed");

    let resent = halo
        .resend_webhook(&url, &first, &auth)
        .await
        .expect("resent");
    assert_eq!(
        (resent.raw_body.as_slice(), &resent.delivery_id),
        (first.raw_body.as_slice(), &first.delivery_id)
    );

    let deliveries = common::lock(&captured).clone();
    assert_eq!(deliveries.len(), 2);
    let (headers, body) = &deliveries[0];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let signature = header("x-signature").expect("signed");
    let b64 = signature
        .strip_prefix("sha256= ")
        .expect("Halo's prefix, with the space");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
    mac.update(body);
    mac.verify_slice(&BASE64.decode(b64).expect("base64"))
        .expect("signature verifies");
    assert_eq!(header("content-type").as_deref(), Some("application/json"));

    let envelope: Value = serde_json::from_slice(body).expect("JSON envelope");
    assert_eq!(envelope["id"], first.delivery_id.as_str());
    assert_eq!(envelope["object_id"], id);
    assert_eq!(envelope["ticket"]["third_party_id_string"], "cf|s|a");
    assert_eq!(envelope["ticket"]["hasbeenclosed"], true);
    assert_eq!(
        envelope["message"],
        "The status has been changed for Ticket ID: 0001000."
    );
    assert_eq!(deliveries[1].1, *body);

    let secret = WebhookAuth::Header {
        name: "X-Halo-Secret".to_owned(),
        value: "abc".to_owned(),
    };
    halo.send_webhook(&url, id, "ticket updated", &secret)
        .await
        .expect("delivered");
    let last = common::lock(&captured)
        .last()
        .cloned()
        .expect("third delivery");
    assert!(
        last.0
            .contains(&("x-halo-secret".to_owned(), "abc".to_owned()))
    );
    assert!(
        halo.send_webhook(&url, 9999, "x", &WebhookAuth::None)
            .await
            .is_err()
    );
    handle.stop(false).await;
    halo.stop().await;
}

#[tokio::test]
async fn signed_header_webhooks_verify_under_their_form_and_are_logged_as_sent() {
    use crate::halo::signature::{RecordedDelivery, parse_recorded_headers, request_matches};
    use crate::settings::SignatureForm;

    let halo = fake().await;
    let token = super::token(&halo).await;
    let id = halo.insert_ticket("t", Some("cf|s|a"));
    let (url, captured, handle) = receiver().await;
    let hook = halo.register_webhook("bridge", &url, true);
    let form = SignatureForm::parse("X", "spaced-lines").unwrap();
    halo.set_webhook_signing(&hook, "x-signature", &form);
    let auth = WebhookAuth::Signed {
        header: "x-signature".to_owned(),
        secret: "s3cret".to_owned(),
        form: form.clone(),
    };
    let sent = halo
        .send_webhook(&url, id, "ticket updated", &auth)
        .await
        .expect("delivered");
    assert_eq!(sent.status, 200);

    let (headers, body) = common::lock(&captured)[0].clone();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let signature = header("x-signature").expect("signed");
    let secret = secrecy::SecretString::from("s3cret".to_owned());
    assert!(header("x-halo-date").is_some());
    assert!(request_matches(&form, &signature, header, &body, &secret));
    assert!(!request_matches(
        &SignatureForm::body(),
        &signature,
        header,
        &body,
        &secret
    ));

    let (status, hooks) = super::get(&halo, &token, "/Webhook").await;
    assert_eq!(status, 200);
    assert_eq!(hooks[0]["headers_to_sign"], json!(form.headers));
    let (status, events) = super::get(
        &halo,
        &token,
        &format!("/WebhookEvent?webhook_id={hook}&count=5"),
    )
    .await;
    assert_eq!(status, 200, "{events}");
    let event = &events["webhookevents"][0];
    assert_eq!(event["webhook_id"], hook.as_str());
    let recorded = RecordedDelivery {
        headers: parse_recorded_headers(event["requestheaders"].as_str().unwrap()),
        body: event["requestbody"].as_str().unwrap().to_owned(),
    };
    assert_eq!(recorded.body.as_bytes(), body.as_slice());
    assert!(recorded.verifies(&form, "x-signature", &secret));
    let (_, other) = super::get(&halo, &token, "/WebhookEvent?webhook_id=nope").await;
    assert_eq!(other["record_count"], 0);
    assert!(halo.undocumented_names().is_empty());
    handle.stop(false).await;
    halo.stop().await;
}

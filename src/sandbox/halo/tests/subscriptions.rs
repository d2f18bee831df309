//! `GET /api/Webhook`: the tenant's webhooks as Halo's API shows them, and the permission knob.

use serde_json::json;

use super::{client, fake, get, read, token};
use crate::sandbox::halo::subscriptions::NO_WEBHOOK_ACCESS;

#[tokio::test]
async fn webhooks_are_listed_as_halo_shows_them() {
    let halo = fake().await;
    let token = token(&halo).await;
    let (status, none) = get(&halo, &token, "/Webhook").await;
    assert_eq!(
        (status, none),
        (200, json!([])),
        "none registered by default"
    );

    let url = "https://bridge.example/api/HaloToCf?code=abc";
    let ours = halo.register_webhook("ContraForce bridge", url, true);
    let other = halo.register_webhook("Other", "https://other.example/hook", false);
    assert_ne!(ours, other);
    let (status, listed) = get(&halo, &token, "/webhook").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed[0],
        json!({
            "id": ours, "name": "ContraForce bridge", "type": 0, "url": url, "method": 0,
            "authentication_type": 0, "active": true, "auto_disable_attempts": 10,
            "events": [{"id": 1, "name": "Ticket Updated"}],
        })
    );
    assert_eq!(
        (&listed[1]["id"], &listed[1]["active"]),
        (&json!(other), &json!(false))
    );

    halo.set_webhook_active(&ours, false);
    let (status, one) = get(&halo, &token, &format!("/Webhook/{}", ours.to_uppercase())).await;
    assert_eq!(
        (status, &one["id"], &one["active"]),
        (200, &json!(ours), &json!(false))
    );
    let (status, _) = get(
        &halo,
        &token,
        "/Webhook/00000000-0000-4000-8000-000000000000",
    )
    .await;
    assert_eq!(status, 404);

    let anonymous = client()
        .get(format!("{}/Webhook", halo.api_url()))
        .send()
        .await;
    assert_eq!(read(anonymous.expect("GET")).await.0, 401);
    let posted = client()
        .post(format!("{}/Webhook", halo.api_url()))
        .bearer_auth(&token)
        .json(&json!([]))
        .send()
        .await
        .expect("POST");
    assert_eq!(posted.status(), 405);
    assert_eq!(halo.count("GET", "/api/webhook"), 5);
}

#[tokio::test]
async fn webhooks_can_be_forbidden_to_the_api_application() {
    let halo = fake().await;
    let token = token(&halo).await;
    let id = halo.register_webhook("ContraForce bridge", "https://b.example/api/HaloToCf", true);
    halo.set_webhooks_forbidden(true);
    for path in ["/Webhook".to_owned(), format!("/Webhook/{id}")] {
        let (status, body) = get(&halo, &token, &path).await;
        assert_eq!(
            (status, &body["Message"]),
            (403, &json!(NO_WEBHOOK_ACCESS)),
            "{path}"
        );
    }
    halo.set_webhooks_forbidden(false);
    let (status, listed) = get(&halo, &token, "/Webhook").await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)));
}

#[test]
#[should_panic(expected = "no webhook")]
fn switching_an_unknown_webhook_is_a_test_bug() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        fake().await.set_webhook_active("nope", true);
    });
}

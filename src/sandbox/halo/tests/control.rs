//! `/_sandbox`: the control endpoints the CLI drives the fake with.

use serde_json::json;

use super::{client, fake, read};

#[tokio::test]
async fn control_endpoints_drive_the_fake_without_auth() {
    let halo = fake().await;
    let id = halo.insert_ticket("t", None);
    let url = format!("{}/_sandbox/tickets/{id}/notes", halo.base_url());
    let response = client()
        .post(url)
        .json(&json!({"note": "<p>hi</p>", "who": "Jane Tech", "agent_id": 3, "hidden": false}))
        .send()
        .await
        .expect("note");
    let (status, body) = read(response).await;
    assert_eq!((status, body["actionId"].as_u64()), (200, Some(2)));
    let close = format!("{}/_sandbox/tickets/{id}/close", halo.base_url());
    let (status, ticket) = read(client().post(close).send().await.expect("close")).await;
    assert_eq!(
        (status, ticket["hasbeenclosed"].as_bool()),
        (200, Some(true))
    );
    let missing = format!("{}/_sandbox/tickets/5/reopen", halo.base_url());
    assert_eq!(
        client()
            .post(missing)
            .send()
            .await
            .expect("reopen")
            .status(),
        404
    );
    assert!(halo.requests().is_empty(), "control calls are not logged");
}

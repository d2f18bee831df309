//! Tests of the fake Halo over HTTP, one file per concern, with the client helpers they share.

mod actions;
mod auth;
mod control;
mod faults;
mod listing;
mod subscriptions;
mod tickets;
mod updates;
mod webhooks;

use serde_json::Value;

use super::{FakeHalo, FakeHaloConfig};

pub(super) async fn fake() -> FakeHalo {
    FakeHalo::start(FakeHaloConfig::default())
        .await
        .expect("fake Halo starts")
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

pub(super) async fn token_response(halo: &FakeHalo, secret: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{}/token", halo.auth_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sandbox-halo-client"),
            ("client_secret", secret),
            ("scope", "all"),
        ])
        .send()
        .await
        .expect("token request");
    read(response).await
}

pub(super) async fn token(halo: &FakeHalo) -> String {
    let (status, body) = token_response(halo, "sandbox-halo-secret").await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// Status and body; a non-JSON body comes back as a JSON string.
pub(super) async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

pub(super) async fn get(halo: &FakeHalo, token: &str, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{}{path}", halo.api_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    read(response).await
}

pub(super) async fn post(halo: &FakeHalo, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{}{path}", halo.api_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST");
    read(response).await
}

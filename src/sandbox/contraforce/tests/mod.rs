//! Tests of the fake ContraForce over HTTP, one file per concern, with the client helpers they
//! share; this file keeps the original ones: recording, auth and validation, failure knobs.

mod comments;
mod events;
mod routes;

use serde_json::{Value, json};

use super::{CF_CLIENT_ID, CF_CLIENT_SECRET, CF_WORKSPACE_ID, FakeContraForce};
use crate::sandbox::common::Fault;

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

pub(super) fn incident_url(
    cf: &FakeContraForce,
    workspace: &str,
    raw_incident: &str,
    what: &str,
) -> String {
    format!(
        "{}/workspaces/{workspace}/incidents/{raw_incident}/{what}",
        cf.base_url()
    )
}

pub(super) async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// The request with the sandbox's Basic credentials.
pub(super) fn authed(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.basic_auth(CF_CLIENT_ID, Some(CF_CLIENT_SECRET))
}

/// A `source`-style URL: `…/incidents/{source}/{incident}/{what}`.
pub(super) fn source_url(
    cf: &FakeContraForce,
    workspace: &str,
    source: &str,
    raw_incident: &str,
    what: &str,
) -> String {
    format!(
        "{}/workspaces/{workspace}/incidents/{source}/{raw_incident}/{what}",
        cf.base_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_recorded_with_decoded_and_raw_incident_ids() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let url = incident_url(&cf, CF_WORKSPACE_ID, "a%7Cb%2Fc", "comments");
    let comment =
        json!({"incidentId": "a|b/c", "content": "[Halo ticket #1000 note by Jane]\n\nhi"});
    let (status, body) = send(
        client()
            .post(&url)
            .basic_auth(CF_CLIENT_ID, Some(CF_CLIENT_SECRET))
            .json(&comment),
    )
    .await;
    assert_eq!(status, 201);
    assert!(body["id"].is_string());
    let comments = cf.comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].incident_id, "a|b/c");
    assert_eq!(comments[0].raw_incident_segment, "a%7Cb%2Fc");
    assert_eq!(comments[0].body, comment);
    assert_eq!(
        cf.requests()[0].path,
        "/api/v2/workspaces/5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d/incidents/a%7Cb%2Fc/comments"
    );
    cf.stop().await;
}

#[tokio::test]
async fn basic_auth_workspace_and_body_are_enforced() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let url = incident_url(&cf, CF_WORKSPACE_ID, "abc", "comments");
    let body = json!({"content": "x"});
    let (status, answer) = send(client().post(&url).json(&body)).await;
    assert_eq!((status, answer), (401, json!({"error": "unauthorized"})));
    let (status, _) = send(
        client()
            .post(&url)
            .basic_auth(CF_CLIENT_ID, Some("wrong"))
            .json(&body),
    )
    .await;
    assert_eq!(status, 401);

    let authed =
        |request: reqwest::RequestBuilder| request.basic_auth(CF_CLIENT_ID, Some(CF_CLIENT_SECRET));
    let other = incident_url(
        &cf,
        "00000000-0000-0000-0000-000000000000",
        "abc",
        "comments",
    );
    let (status, _) = send(authed(client().post(other)).json(&body)).await;
    assert_eq!(status, 404);
    let (status, answer) = send(authed(client().post(&url)).json(&json!({"content": ""}))).await;
    assert_eq!(
        (status, answer),
        (400, json!({"message": "content is required"}))
    );
    let (status, _) = send(authed(client().post(&url)).json(&json!(["content"]))).await;
    assert_eq!(status, 400);

    let status_url = incident_url(&cf, CF_WORKSPACE_ID, "abc", "status");
    let (status, _) = send(authed(client().put(&status_url)).json(&json!({"comment": "x"}))).await;
    assert_eq!(status, 400);
    let close = json!({"incidentId": "abc", "status": "Closed"});
    let (status, answer) = send(authed(client().put(&status_url)).json(&close)).await;
    assert_eq!((status, answer), (200, json!({"ok": true})));
    assert_eq!(cf.status_updates()[0].body, close);
    assert!(cf.comments().is_empty());
    assert_eq!(cf.count("PUT", "/api/v2/workspaces"), 2);

    let listed = client()
        .get(format!("{}/_sandbox/status", cf.origin()))
        .send()
        .await
        .expect("list");
    let listed: Value = listed.json().await.expect("JSON");
    assert_eq!(listed[0]["incident_id"], "abc");
}

#[tokio::test]
async fn outages_and_faults_replace_normal_answers() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let url = incident_url(&cf, CF_WORKSPACE_ID, "abc", "comments");
    let post = || {
        client()
            .post(&url)
            .basic_auth(CF_CLIENT_ID, Some(CF_CLIENT_SECRET))
            .json(&json!({"content": "x"}))
    };
    cf.set_down(true);
    assert_eq!(send(post()).await, (503, json!({"error": "unavailable"})));
    cf.set_down(false);
    cf.push_fault(Fault::on("POST", "/api/v2/", 500, r#"{"error":"boom"}"#));
    assert_eq!(send(post()).await, (500, json!({"error": "boom"})));
    assert_eq!(send(post()).await.0, 201);
    assert_eq!(
        cf.comments().len(),
        1,
        "faulted requests are not recorded as comments"
    );

    cf.push_fault(Fault::reset_on("POST", "/api/v2/"));
    let outcome = match post().send().await {
        Ok(response) => response.bytes().await.map(drop),
        Err(err) => Err(err),
    };
    assert!(outcome.is_err(), "a reset is a transport error");
    assert_eq!(send(post()).await.0, 201);
    let statuses: Vec<u16> = cf.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 500, 201, 0, 201]);
}

//! Stored comments: the POST answer, listing (shapes, text key, order), closing through the API
//! and the helpers, and the `/_sandbox/incidents` control endpoints.

use serde_json::{Value, json};

use super::{authed, client, incident_url, send, source_url};
use crate::sandbox::contraforce::{
    CF_WORKSPACE_ID, CommentListShape, CommentTextKey, FakeContraForce,
};

const WS: &str = CF_WORKSPACE_ID;

/// `2026-12-01T19:00:00.123Z`: RFC 3339, UTC, exactly three fractional digits.
fn assert_millis_time(text: &str) {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    assert!(time::OffsetDateTime::parse(text, rfc3339).is_ok(), "{text}");
    assert_eq!(
        (text.len(), &text[19..20], &text[23..]),
        (24, ".", "Z"),
        "{text}"
    );
}

/// `GET` the list at `url`, authenticated; its body.
async fn list(url: &str) -> Value {
    send(authed(client().get(url))).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_comment_is_stored_as_the_service_account() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let url = source_url(&cf, WS, "Sentinel", "inc-1", "comments");
    let (status, answer) = send(authed(client().post(&url)).json(&json!({"content": "hi"}))).await;
    assert_eq!(status, 201);
    let id = answer["id"].as_str().expect("top-level id");
    assert_eq!(answer["data"]["id"], id);
    assert!(
        uuid::Uuid::parse_str(answer["meta"]["requestId"].as_str().expect("requestId")).is_ok()
    );
    let data = &answer["data"];
    assert_eq!(data["message"], "hi");
    assert_eq!(data["authorName"], "Bridge Service Account");
    assert_eq!(data["authorEmail"], "svc-bridge@contraforce.example");
    for flag in ["isActivityComment", "isAgentComment", "isClosingComment"] {
        assert_eq!(data[flag], false, "{flag}");
    }
    assert_eq!(data["agentName"], Value::Null);
    assert_millis_time(data["createdTime"].as_str().expect("createdTime"));

    let stored = cf.incident_comments(WS, "inc-1");
    assert_eq!(json!(stored), json!([data]));
    assert_eq!(cf.comments()[0].comment_id, id);
    assert_eq!(cf.incident_status(WS, "inc-1"), None);
    cf.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_returns_every_kind_of_comment_oldest_first() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let url = incident_url(&cf, WS, "a%7Cb", "comments");
    let (status, empty) = send(authed(client().get(&url))).await;
    assert_eq!(
        (status, empty),
        (200, json!({"data": [], "meta": {"total": 0}}))
    );

    let analyst = cf.add_comment(WS, "a|b", "Jane Doe", "looking");
    let agent = cf.add_agent_comment(WS, "a|b", "Triage Agent", "benign");
    send(authed(client().post(&url)).json(&json!({"content": "[Halo ticket #1 note by X]\n\nok"})))
        .await;
    let status_url = source_url(&cf, WS, "Sentinel", "a%7Cb", "status");
    let close = json!({"status": "Closed", "comment": "Closed in HaloPSA (ticket #1)."});
    assert_eq!(
        send(authed(client().put(&status_url)).json(&close)).await.0,
        200
    );

    let (status, listed) = send(authed(client().get(&url))).await;
    assert_eq!(status, 200);
    assert_eq!(listed["meta"]["total"], 4);
    let items = listed["data"].as_array().expect("data");
    assert_eq!(items[0]["id"], analyst.as_str());
    assert_eq!(items[0]["authorName"], "Jane Doe");
    assert_eq!(items[0]["authorEmail"], "jane.doe@contraforce.example");
    assert_eq!(items[1]["id"], agent.as_str());
    assert_eq!(
        (
            &items[1]["isAgentComment"],
            &items[1]["agentName"],
            &items[1]["authorName"]
        ),
        (
            &json!(true),
            &json!("Triage Agent"),
            &json!("ContraForce Agent")
        )
    );
    assert_eq!(items[2]["message"], "[Halo ticket #1 note by X]\n\nok");
    assert_eq!(items[3]["message"], "Closed in HaloPSA (ticket #1).");
    assert_eq!(items[3]["isClosingComment"], true);
    assert_eq!(items[3]["authorName"], "Bridge Service Account");
    let times: Vec<&str> = items
        .iter()
        .filter_map(|c| c["createdTime"].as_str())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(cf.incident_status(WS, "a|b").as_deref(), Some("Closed"));
    assert_eq!(
        cf.comments().len(),
        1,
        "only API posts are recorded as posted"
    );

    // GET is checked like POST.
    assert_eq!(send(client().get(&url)).await.0, 401);
    let elsewhere = incident_url(
        &cf,
        "00000000-0000-0000-0000-000000000000",
        "a%7Cb",
        "comments",
    );
    assert_eq!(send(authed(client().get(elsewhere))).await.0, 404);
    cf.stop().await;
}

#[tokio::test]
async fn list_shape_and_text_key_follow_the_knobs() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    cf.add_comment(WS, "abc", "Jane", "one");
    let url = source_url(&cf, WS, "CrowdStrike", "abc", "comments");

    cf.set_comment_list_shape(CommentListShape::Data);
    let data = list(&url).await;
    assert_eq!(data.as_object().map(|o| o.len()), Some(1));
    assert_eq!(data["data"][0]["message"], "one");
    cf.set_comment_list_shape(CommentListShape::Value);
    assert_eq!(list(&url).await["value"][0]["message"], "one");
    cf.set_comment_list_shape(CommentListShape::Bare);
    assert_eq!(list(&url).await[0]["message"], "one");

    cf.set_comment_text_key(CommentTextKey::Content);
    let bare = list(&url).await;
    assert_eq!(bare[0]["content"], "one");
    assert!(bare[0].get("message").is_none());
    let (_, posted) = send(authed(client().post(&url)).json(&json!({"content": "two"}))).await;
    assert_eq!(posted["data"]["content"], "two");
    assert_eq!(cf.incident_comments(WS, "abc")[1].message, "two");

    cf.set_comment_list_shape(CommentListShape::DataWithMeta);
    cf.set_comment_text_key(CommentTextKey::Message);
    let back = list(&url).await;
    assert_eq!(
        (&back["meta"]["total"], &back["data"][1]["message"]),
        (&json!(2), &json!("two"))
    );
    cf.stop().await;
}

#[tokio::test]
async fn closing_through_the_api_or_the_helper() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let url = incident_url(&cf, WS, "abc", "status");
    let put = |body: Value| authed(client().put(&url)).json(&body);
    assert_eq!(
        send(put(json!({"status": "Active"}))).await,
        (200, json!({"ok": true}))
    );
    assert_eq!(cf.incident_status(WS, "abc").as_deref(), Some("Active"));
    assert!(
        cf.incident_comments(WS, "abc").is_empty(),
        "only a close comments"
    );
    send(put(json!({"status": "Closed", "comment": "  "}))).await;
    let closing = &cf.incident_comments(WS, "abc")[0];
    assert_eq!(
        (closing.message.as_str(), closing.is_closing_comment),
        ("Closed", true)
    );
    assert_eq!(cf.status_updates().len(), 2);

    let id = cf.close_incident(WS, "xyz", "Jane Doe", "False positive");
    let closed = cf.incident_comments(WS, "xyz");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].id, id);
    assert!(closed[0].is_closing_comment && !closed[0].is_agent_comment);
    assert_eq!(closed[0].author_name, "Jane Doe");
    assert_eq!(cf.incident_status(WS, "xyz").as_deref(), Some("Closed"));
    assert_eq!(cf.incident_status(WS, "never-seen"), None);
    assert!(cf.requests().len() == 2, "helpers make no requests");
    cf.stop().await;
}

#[tokio::test]
async fn created_times_strictly_increase_across_the_whole_fake() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    for n in 0..200 {
        cf.add_comment(WS, if n % 2 == 0 { "even" } else { "odd" }, "A", "x");
    }
    let mut all: Vec<_> = cf.incident_comments(WS, "even");
    all.extend(cf.incident_comments(WS, "odd"));
    let mut times: Vec<String> = all.iter().map(|c| c.created_time.clone()).collect();
    times.sort();
    times.dedup();
    assert_eq!(times.len(), 200, "no two comments share a createdTime");
    let ids: std::collections::HashSet<_> = all.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids.len(), 200);
    cf.stop().await;
}

#[tokio::test]
async fn control_endpoints_add_and_list_comments_unlogged() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let url = format!("{}/_sandbox/incidents/{WS}/a%7Cb/comments", cf.origin());
    let post = |body: Value| client().post(&url).json(&body);
    let (status, added) = send(post(json!({"author": "Jane", "message": "hi"}))).await;
    assert_eq!(status, 201);
    assert_eq!(added["data"]["authorName"], "Jane");
    assert_eq!(added["data"]["id"], added["id"]);
    let (_, agent) = send(post(
        json!({"agent": true, "author": "Triage", "message": "fp"}),
    ))
    .await;
    assert_eq!(agent["data"]["agentName"], "Triage");
    assert_eq!(agent["data"]["isAgentComment"], true);
    let (_, closed) = send(post(json!({"closing": true}))).await;
    assert_eq!(closed["data"]["message"], "Closed");
    assert_eq!(closed["data"]["isClosingComment"], true);
    assert_eq!(closed["data"]["authorName"], "ContraForce Analyst");
    assert_eq!(cf.incident_status(WS, "a|b").as_deref(), Some("Closed"));
    assert_eq!(send(post(json!({"author": "Jane"}))).await.0, 400);
    assert_eq!(send(client().post(&url).body("nope")).await.0, 400);

    let (status, listed) = send(client().get(&url)).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    assert_eq!(listed[0]["message"], "hi");
    assert!(cf.requests().is_empty(), "control calls are not logged");

    let api = source_url(&cf, WS, "Sentinel", "a%7Cb", "comments");
    let (_, via_api) = send(authed(client().get(api))).await;
    assert_eq!(via_api["data"], listed);
    let wrong = format!("{}/_sandbox/incidents/{WS}/a%7Cb/notes", cf.origin());
    assert_eq!(send(client().get(wrong)).await.0, 404);
    assert_eq!(send(client().delete(&url)).await.0, 405);
    cf.stop().await;
}

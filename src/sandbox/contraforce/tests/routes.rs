//! Both route styles, the knob that picks them, methods, and known, unknown and denied workspaces.

use serde_json::json;

use super::{authed, client, incident_url, send, source_url};
use crate::sandbox::contraforce::{CF_WORKSPACE_ID, FakeContraForce, RouteStyle, RouteStyles};

const OTHER_WS: &str = "0f1e2d3c-4b5a-4968-8776-655443322110";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_styles_reach_the_same_incident_and_are_recorded() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    assert_eq!(cf.route_styles(), RouteStyles::BOTH);
    let by_source = source_url(&cf, CF_WORKSPACE_ID, "Sentinel", "a%7Cb%2Fc", "comments");
    let (status, _) =
        send(authed(client().post(&by_source)).json(&json!({"content": "one"}))).await;
    assert_eq!(status, 201);
    let by_workspace = incident_url(&cf, CF_WORKSPACE_ID, "a%7Cb%2Fc", "comments");
    let (status, _) =
        send(authed(client().post(&by_workspace)).json(&json!({"content": "two"}))).await;
    assert_eq!(status, 201);

    let recorded = cf.comments();
    assert_eq!(recorded[0].style, RouteStyle::Source);
    assert_eq!(recorded[0].source_segment.as_deref(), Some("Sentinel"));
    assert_eq!(recorded[0].workspace_id, CF_WORKSPACE_ID);
    assert_eq!(
        (
            recorded[0].incident_id.as_str(),
            recorded[0].raw_incident_segment.as_str()
        ),
        ("a|b/c", "a%7Cb%2Fc")
    );
    assert_eq!(recorded[1].style, RouteStyle::Workspace);
    assert_eq!(recorded[1].source_segment, None);
    assert_eq!(json!(recorded[0])["style"], "source");

    // Reads in either style, under any source spelling, see both comments.
    let other_source = source_url(&cf, CF_WORKSPACE_ID, "DefenderXDR", "a%7Cb%2Fc", "comments");
    for url in [&by_workspace, &by_source, &other_source] {
        let (status, listed) = send(authed(client().get(url))).await;
        assert_eq!(status, 200);
        let texts: Vec<&str> = listed["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|c| c["message"].as_str().expect("message"))
            .collect();
        assert_eq!(texts, ["one", "two"], "{url}");
    }

    // The raw `{Source}` segment is kept as sent, `%2F` included.
    let odd = source_url(&cf, CF_WORKSPACE_ID, "Odd%2FSource", "a%7Cb%2Fc", "status");
    let (status, _) = send(authed(client().put(&odd)).json(&json!({"status": "Active"}))).await;
    assert_eq!(status, 200);
    let update = &cf.status_updates()[0];
    assert_eq!(update.style, RouteStyle::Source);
    assert_eq!(update.source_segment.as_deref(), Some("Odd%2FSource"));
    assert_eq!(update.incident_id, "a|b/c");
    assert_eq!(
        cf.incident_status(CF_WORKSPACE_ID, "a|b/c").as_deref(),
        Some("Active")
    );
    cf.stop().await;
}

#[tokio::test]
async fn a_style_not_served_is_an_unknown_path() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let by_source = source_url(&cf, CF_WORKSPACE_ID, "Sentinel", "abc", "comments");
    let by_workspace = incident_url(&cf, CF_WORKSPACE_ID, "abc", "comments");
    let body = json!({"content": "x"});
    let not_found = (404, json!({"error": "not found"}));

    cf.set_route_styles(RouteStyles::SOURCE_ONLY);
    assert_eq!(
        send(authed(client().post(&by_workspace)).json(&body)).await,
        not_found
    );
    assert_eq!(send(authed(client().get(&by_workspace))).await, not_found);
    assert_eq!(
        send(authed(client().post(&by_source)).json(&body)).await.0,
        201
    );

    cf.set_route_styles(RouteStyles::WORKSPACE_ONLY);
    assert_eq!(cf.route_styles(), RouteStyles::WORKSPACE_ONLY);
    assert_eq!(
        send(authed(client().post(&by_source)).json(&body)).await,
        not_found
    );
    let status_url = source_url(&cf, CF_WORKSPACE_ID, "Sentinel", "abc", "status");
    let close = json!({"status": "Closed"});
    assert_eq!(
        send(authed(client().put(&status_url)).json(&close)).await,
        not_found
    );
    assert_eq!(
        send(authed(client().post(&by_workspace)).json(&body))
            .await
            .0,
        201
    );

    cf.set_route_styles(RouteStyles::default());
    assert_eq!(send(authed(client().get(&by_source))).await.0, 200);
    assert_eq!(cf.comments().len(), 2, "refused requests are not recorded");
    let statuses: Vec<u16> = cf.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [404, 404, 201, 404, 404, 201, 200]);
    cf.stop().await;
}

#[tokio::test]
async fn only_the_documented_methods_are_allowed() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let not_allowed = (405, json!({"error": "method not allowed"}));
    let styles: [fn(&FakeContraForce, &str) -> String; 2] = [
        |cf, what| incident_url(cf, CF_WORKSPACE_ID, "abc", what),
        |cf, what| source_url(cf, CF_WORKSPACE_ID, "Splunk", "abc", what),
    ];
    for style_url in styles {
        let comments = style_url(&cf, "comments");
        let status = style_url(&cf, "status");
        assert_eq!(send(authed(client().put(&comments))).await, not_allowed);
        assert_eq!(send(authed(client().delete(&comments))).await, not_allowed);
        assert_eq!(send(authed(client().get(&status))).await, not_allowed);
        assert_eq!(send(authed(client().post(&status))).await, not_allowed);
    }
    // Paths that are neither style stay unknown.
    for path in [
        format!("/workspaces/{CF_WORKSPACE_ID}"),
        format!("/workspaces/{CF_WORKSPACE_ID}/incidents//abc/comments"),
        format!("/workspaces/{CF_WORKSPACE_ID}/incidents/a/b/c/comments"),
        format!("/workspaces/{CF_WORKSPACE_ID}/incidents/abc/notes"),
    ] {
        let url = format!("{}{path}", cf.base_url());
        assert_eq!(send(authed(client().get(&url))).await.0, 404, "{path}");
    }
    cf.stop().await;
}

#[tokio::test]
async fn workspaces_are_known_added_or_denied() {
    let cf = FakeContraForce::start().await.expect("fake CF starts");
    let body = json!({"content": "x"});
    let post = |ws: &str| {
        authed(client().post(source_url(&cf, ws, "Sentinel", "abc", "comments"))).json(&body)
    };
    let unknown = (404, json!({"error": "workspace not found"}));
    assert_eq!(send(post(OTHER_WS)).await, unknown);
    let list = incident_url(&cf, OTHER_WS, "abc", "comments");
    assert_eq!(send(authed(client().get(&list))).await, unknown);

    cf.add_workspace(OTHER_WS);
    assert_eq!(send(post(OTHER_WS)).await.0, 201);
    assert_eq!(cf.incident_comments(OTHER_WS, "abc").len(), 1);
    assert!(cf.incident_comments(CF_WORKSPACE_ID, "abc").is_empty());
    assert_eq!(cf.comments()[0].workspace_id, OTHER_WS);

    cf.deny_workspace(OTHER_WS);
    let response = post(OTHER_WS).send().await.expect("request");
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
    assert_eq!(
        problem["type"],
        "https://docs.contraforce.com/errors/insufficient-workspace-role"
    );
    assert_eq!(problem["title"], "Forbidden");
    assert_eq!(problem["status"], 403);
    assert_eq!(problem["code"], "INSUFFICIENT_WORKSPACE_ROLE");
    assert_eq!(
        problem["detail"],
        format!("The service account has no role on workspace {OTHER_WS}.")
    );
    let request_id = problem["requestId"].as_str().expect("requestId");
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
    let timestamp = problem["timestamp"].as_str().expect("timestamp");
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    assert!(
        time::OffsetDateTime::parse(timestamp, rfc3339).is_ok(),
        "{timestamp}"
    );
    assert_eq!(problem.as_object().map(|o| o.len()), Some(7));

    // Denial needs no prior add_workspace, applies to reads, and comes after authentication.
    let never_added = "11111111-2222-4333-8444-555555555555";
    cf.deny_workspace(never_added);
    assert_eq!(send(post(never_added)).await.0, 403);
    assert_eq!(send(authed(client().get(&list))).await.0, 403);
    let anonymous = client().post(incident_url(&cf, OTHER_WS, "abc", "comments"));
    assert_eq!(send(anonymous.json(&body)).await.0, 401);
    assert_eq!(cf.comments().len(), 1);
    cf.stop().await;
}

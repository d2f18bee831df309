//! ContraForce as documented today (CONTRACT §8): both signature formats, replayed signatures,
//! the optional `Authorization` header, both API route shapes, problem documents.

use std::time::{SystemTime, UNIX_EPOCH};

use cf_halo_bridge::contraforce::webhook::{sign, sign_base64};
use cf_halo_bridge::sandbox::{Fault, RouteStyles, SignedEvent, SigningFormat};
use serde_json::{Value, json};

use crate::azurite::Azurite;
use crate::helpers::*;

/// `X-CF-Timestamp` as docs.contraforce.com shows it, for `NOW`.
const NOW_ISO: &str = "2026-04-22T15:00:00.250Z";

fn headers(sig: String, ts: &str, event_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-CF-Signature", sig),
        ("X-CF-Timestamp", ts.to_string()),
        ("X-CF-Event-Id", event_id.to_string()),
        ("Content-Type", "application/json".to_string()),
    ]
}

#[tokio::test]
async fn the_iso_base64_vector_and_its_hex_form_are_accepted() {
    let app = spawn_app_with(|env| {
        env.insert("CF_WEBHOOK_SECRET".into(), "whsec_example_secret".into());
    })
    .await;
    let vector: Value = serde_json::from_str(
        &std::fs::read_to_string("../shared/fixtures/cf-signature-vector-iso.json").unwrap(),
    )
    .unwrap();
    let field = |k: &str| vector[k].as_str().unwrap().to_string();
    let body = field("body").into_bytes();
    for sig in [
        field("X-CF-Signature (base64, as docs.contraforce.com documents)"),
        field("X-CF-Signature (the same MAC, hex with prefix)"),
    ] {
        let r = app
            .post_raw(
                "/api/CfToHalo",
                &headers(sig, &field("timestamp"), "v"),
                body.clone(),
            )
            .await;
        // Signature accepted; the vector's data lacks the title, so the payload check answers.
        assert_eq!(
            answer(r).await,
            (
                400,
                json!({"error": "malformed payload", "detail": "data.title"})
            )
        );
    }
    assert_eq!(app.halo_api_calls(), 0);
}

#[tokio::test]
async fn an_incident_signed_the_current_way_creates_its_ticket() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&incident(1)).unwrap();
    let r = app
        .post_raw(
            "/api/CfToHalo",
            &headers(sign_base64(CF_SECRET, NOW_ISO, &body), NOW_ISO, "iso-1"),
            body,
        )
        .await;
    let (status, json) = answer(r).await;
    assert_eq!(
        (status, &json["status"]),
        (200, &json!("created")),
        "{json}"
    );
}

#[tokio::test]
async fn iso_timestamps_301_seconds_off_are_401_in_both_directions() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&incident(2)).unwrap();
    for (ts, expected) in [
        ("2026-04-22T14:55:00Z", 200),
        ("2026-04-22T15:05:00+00:00", 200),
        ("2026-04-22T14:54:59Z", 401),
        ("2026-04-22T17:05:01+02:00", 401),
        ("2026-04-22", 401),
        ("yesterday", 401),
    ] {
        let h = headers(sign_base64(CF_SECRET, ts, &body), ts, &format!("skew-{ts}"));
        let r = app.post_raw("/api/CfToHalo", &h, body.clone()).await;
        assert_eq!(r.status().as_u16(), expected, "{ts}");
    }
}

#[tokio::test]
async fn a_replayed_signature_with_a_new_event_id_is_a_duplicate_with_no_halo_call() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&incident(3)).unwrap();
    let sig = sign(CF_SECRET, &NOW.to_string(), &body);
    let first = headers(sig.clone(), &NOW.to_string(), "evt-original");
    let (_, created) = answer(app.post_raw("/api/CfToHalo", &first, body.clone()).await).await;
    let ticket = created["ticketId"].as_u64().unwrap();
    let calls = app.halo_api_calls();
    for replay_id in ["evt-replayed", "evt-replayed-again"] {
        let replay = headers(sig.clone(), &NOW.to_string(), replay_id);
        let r = app.post_raw("/api/CfToHalo", &replay, body.clone()).await;
        assert_eq!(
            answer(r).await,
            (200, json!({"status": "duplicate", "ticketId": ticket}))
        );
    }
    assert_eq!(app.halo_api_calls(), calls, "no lookup, no create, no note");
    assert_eq!(app.sandbox.halo.actions(ticket).len(), 1, "no note either");
    // The same incident signed anew (a later delivery) is a new event as before.
    let (_, updated) = answer(app.post_cf("evt-later", &incident(3)).await).await;
    assert_eq!(updated, json!({"status": "updated", "ticketId": ticket}));
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_replayed_to_another_process_is_a_duplicate_there_too() {
    let sandbox = start_sandbox().await;
    let url = Azurite::shared().container_url(&Azurite::new_container());
    let mut env = base_env(&sandbox);
    env.insert("STATE_STORE".into(), "blob".into());
    env.insert("STATE_BLOB_URL".into(), url);
    let (a, b) = (
        HandlerProcess::start(&env).await,
        HandlerProcess::start(&env).await,
    );
    let body = serde_json::to_vec(&incident(4)).unwrap();
    let ts = unix_now().to_string();
    let sig = sign_base64(CF_SECRET, &ts, &body);
    let http = reqwest::Client::new();
    let post = |address: &str, event_id: &str| {
        let mut request = http
            .post(format!("{address}/api/CfToHalo"))
            .body(body.clone());
        for (name, value) in headers(sig.clone(), &ts, event_id) {
            request = request.header(name, value);
        }
        request.send()
    };
    let (_, created) = answer(post(&a.address, "evt-a").await.unwrap()).await;
    let ticket = created["ticketId"].as_u64().expect("created");
    let calls = sandbox.halo.api_requests();
    let r = post(&b.address, "evt-b").await.unwrap();
    assert_eq!(
        answer(r).await,
        (200, json!({"status": "duplicate", "ticketId": ticket}))
    );
    assert_eq!(sandbox.halo.api_requests(), calls);
    sandbox.stop().await;
}

#[tokio::test]
async fn cf_webhook_authorization_must_match_exactly_when_set() {
    let app = spawn_app_with(|env| {
        env.insert(
            "CF_WEBHOOK_AUTHORIZATION".into(),
            "Bearer cf-hook-token".into(),
        );
    })
    .await;
    let body = serde_json::to_vec(&incident(5)).unwrap();
    let ts = NOW.to_string();
    let with = |auth: Option<&str>, event_id: &str| {
        let mut h = headers(sign(CF_SECRET, &ts, &body), &ts, event_id);
        if let Some(a) = auth {
            h.push(("Authorization", a.to_string()));
        }
        h
    };
    for (auth, id) in [
        (None, "auth-none"),
        (Some("Bearer wrong"), "auth-wrong"),
        (Some("bearer cf-hook-token"), "auth-case"),
        (Some("Bearer cf-hook-token2"), "auth-longer"),
        (Some("Basic Y2Y6aG9vaw=="), "auth-basic"),
    ] {
        let r = app
            .post_raw("/api/CfToHalo", &with(auth, id), body.clone())
            .await;
        assert_eq!(
            answer(r).await,
            (401, json!({"error": "invalid signature"})),
            "{auth:?}"
        );
    }
    assert_eq!(app.halo_api_calls(), 0);
    // The right header and a fresh signature.
    let ts = (NOW - 1).to_string();
    let mut h = headers(sign(CF_SECRET, &ts, &body), &ts, "auth-ok");
    h.push(("Authorization", "Bearer cf-hook-token".into()));
    let (status, json) = answer(app.post_raw("/api/CfToHalo", &h, body).await).await;
    assert_eq!((status, &json["status"]), (200, &json!("created")));
}

#[tokio::test]
async fn the_sandbox_sends_both_formats_and_the_handler_accepts_both() {
    let app = spawn_app().await;
    let url = format!("{}/api/CfToHalo", app.address);
    // The handler's clock is fixed at NOW; the sandbox signs at the real time, so sign at NOW.
    for (format, ts, n) in [
        (SigningFormat::Current, NOW_ISO.to_string(), 6),
        (SigningFormat::Legacy, NOW.to_string(), 7),
    ] {
        let mut event =
            SignedEvent::new(format!("fmt-{n}"), incident(n), CF_SECRET).with_format(format);
        event.timestamp = Some(ts);
        let (status, json) = app.sandbox.cf.send_event(&url, &event).await.unwrap();
        assert_eq!(
            (status, &json["status"]),
            (200, &json!("created")),
            "{format:?}"
        );
    }
}

// ---- route shapes (§8.4) and workspaces (§8.6) -------------------------------------------

/// A path's route shape: the source shape has one more segment.
fn shape(path: &str) -> &'static str {
    match path.trim_start_matches('/').split('/').count() {
        7 => "workspace",
        8 => "source",
        _ => "other",
    }
}

/// Creates incident `n`, adds two public notes, closes the ticket, sends a webhook after each.
async fn comment_and_close(app: &TestApp, n: u64) -> Vec<(u16, Value)> {
    let ticket = app.create_ticket(n).await;
    let mut answers = Vec::new();
    for note in ["<p>first</p>", "<p>second</p>"] {
        app.sandbox
            .halo
            .add_agent_note(ticket, "Jane Tech", 3, note, false);
        let r = app.halo_webhook(ticket).await;
        answers.push((r.status, r.body));
    }
    app.sandbox.halo.close(ticket);
    let r = app.halo_webhook(ticket).await;
    answers.push((r.status, r.body));
    answers
}

#[tokio::test]
async fn auto_finds_the_served_route_shape_with_at_most_one_wrong_call() {
    for (served, expected) in [
        (RouteStyles::SOURCE_ONLY, "source"),
        (RouteStyles::WORKSPACE_ONLY, "workspace"),
        (RouteStyles::BOTH, "source"),
    ] {
        let app = spawn_app().await;
        app.sandbox.cf.set_route_styles(served);
        let mut all = Vec::new();
        for n in [10, 11] {
            all.extend(comment_and_close(&app, n).await);
        }
        assert!(all.iter().all(|(s, _)| *s == 200), "{served:?}: {all:?}");
        let cf = &app.sandbox.cf;
        assert_eq!(cf.comments().len(), 4, "{served:?}");
        assert_eq!(cf.status_updates().len(), 2, "{served:?}");
        let requests = cf.requests();
        let wrong = requests
            .iter()
            .filter(|r| shape(&r.path) != expected)
            .count();
        assert!(wrong <= 1, "{served:?}: {wrong} calls in the wrong shape");
        assert_eq!(
            requests.iter().filter(|r| r.status == 404).count(),
            wrong,
            "{served:?}"
        );
    }
}

#[tokio::test]
async fn a_pinned_route_shape_never_calls_the_other() {
    for pinned in ["source", "workspace"] {
        let app = spawn_app_with(|env| {
            env.insert("CF_API_ROUTES".into(), pinned.into());
        })
        .await;
        let answers = comment_and_close(&app, 12).await;
        assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
        let requests = app.sandbox.cf.requests();
        assert_eq!(requests.len(), 3);
        assert!(
            requests.iter().all(|r| shape(&r.path) == pinned),
            "{requests:?}"
        );
    }
    // Pinned to the shape this ContraForce does not serve: the webhook is refused, visibly.
    let app = spawn_app_with(|env| {
        env.insert("CF_API_ROUTES".into(), "workspace".into());
    })
    .await;
    app.sandbox.cf.set_route_styles(RouteStyles::SOURCE_ONLY);
    let ticket = app.create_ticket(13).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>x</p>", false);
    let r = app.halo_webhook(ticket).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.body["error"], "contraforce rejected the request");
    assert!(
        app.sandbox
            .cf
            .requests()
            .iter()
            .all(|r| shape(&r.path) == "workspace")
    );
}

#[tokio::test]
async fn two_404s_are_a_502_with_the_second_answer() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(14).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>x</p>", false);
    let cf = &app.sandbox.cf;
    cf.push_fault(Fault::on("POST", "/api/v2/", 404, r#"{"message":"first"}"#));
    cf.push_fault(Fault::on(
        "POST",
        "/api/v2/",
        404,
        r#"{"title":"Not Found","status":404,"code":"INCIDENT_NOT_FOUND"}"#,
    ));
    let r = app.halo_webhook(ticket).await;
    assert_eq!(
        (r.status, r.body),
        (
            502,
            json!({"error": "contraforce rejected the request", "detail": "INCIDENT_NOT_FOUND: Not Found"})
        )
    );
}

#[tokio::test]
async fn defenderxdr_incidents_use_the_api_spelling_in_the_path() {
    let app = spawn_app().await;
    let mut body = incident(15);
    body["data"]["source"] = json!("defenderxdr");
    let r = app.post_cf("evt-xdr", &body).await;
    let ticket = answer(r).await.1["ticketId"].as_u64().unwrap();
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>x</p>", false);
    assert_eq!(app.halo_webhook(ticket).await.status, 200);
    let comments = app.sandbox.cf.comments();
    assert_eq!(comments[0].source_segment.as_deref(), Some("DefenderXDR"));
    assert!(
        app.sandbox.cf.requests()[0]
            .path
            .contains("/incidents/DefenderXDR/incident-15/comments")
    );
    assert_eq!(
        comments[0].body["source"], "defenderxdr",
        "the body keeps the slug"
    );
}

#[tokio::test]
async fn a_403_problem_document_is_a_502_naming_its_code() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(16).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>x</p>", false);
    app.sandbox
        .cf
        .deny_workspace(&app.sandbox.cf.workspace_id());
    let r = app.halo_webhook(ticket).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.body["error"], "contraforce rejected the request");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("INSUFFICIENT_WORKSPACE_ROLE: "),
        "{detail}"
    );
    assert_eq!(
        app.sandbox.cf.requests().len(),
        1,
        "a 403 is not a route-shape miss"
    );
}

fn account_incident(n: u64, account: &str) -> Value {
    let mut body = incident(n);
    body["data"]["accountId"] = json!(account);
    body
}

#[tokio::test]
async fn each_account_s_comments_and_close_go_to_its_own_workspace() {
    let app = spawn_app_with(|env| {
        let default_ws = env["CF_WORKSPACE_ID"].clone();
        env.remove("CF_WORKSPACE_ID");
        env.insert(
            "CF_WORKSPACE_MAP".into(),
            format!("acct-a={default_ws}, acct-b=ws-customer-b"),
        );
        env.insert("HALO_CLIENT_MAP".into(), "acct-a=2,acct-b=1".into());
    })
    .await;
    let cf = &app.sandbox.cf;
    cf.add_workspace("ws-customer-b");
    let default_ws = cf.workspace_id();
    for (n, account, ws) in [
        (20, "acct-a", default_ws.as_str()),
        (21, "acct-b", "ws-customer-b"),
    ] {
        let r = app
            .post_cf(&format!("evt-{n}"), &account_incident(n, account))
            .await;
        let ticket = answer(r).await.1["ticketId"].as_u64().unwrap();
        app.sandbox
            .halo
            .add_agent_note(ticket, "Jane Tech", 3, "<p>note</p>", false);
        app.sandbox.halo.close(ticket);
        let r = app.halo_webhook(ticket).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let incident_id = format!("incident-{n}");
        let comment = cf
            .comments()
            .into_iter()
            .find(|c| c.incident_id == incident_id)
            .unwrap();
        assert_eq!(comment.workspace_id, ws);
        let close = cf
            .status_updates()
            .into_iter()
            .find(|c| c.incident_id == incident_id)
            .unwrap();
        assert_eq!(close.workspace_id, ws);
    }

    // A ticket the store does not know: its client (1) maps back to exactly one account.
    let ticket = app
        .sandbox
        .halo
        .insert_ticket("made in Halo", Some("cf|sentinel|made-elsewhere"));
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>hello</p>", false);
    let r = app.halo_webhook(ticket).await;
    assert_eq!(r.body["actionsForwarded"], 1, "{}", r.body);
    let comment = cf
        .comments()
        .into_iter()
        .find(|c| c.incident_id == "made-elsewhere")
        .unwrap();
    assert_eq!(comment.workspace_id, "ws-customer-b");
}

#[tokio::test]
async fn an_account_with_no_workspace_is_ignored_and_named_in_the_log() {
    let app = spawn_app_with(|env| {
        env.remove("CF_WORKSPACE_ID");
        env.insert("CF_WORKSPACE_MAP".into(), "acct-known=ws-known".into());
    })
    .await;
    assert!(
        app.state.halo_to_cf.is_ok(),
        "CF_WORKSPACE_ID is optional when the map is set"
    );
    let r = app
        .post_cf("evt-30", &account_incident(30, "acct-unmapped"))
        .await;
    let ticket = answer(r).await.1["ticketId"].as_u64().unwrap();
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>x</p>", false);
    let r = app.halo_webhook(ticket).await;
    assert_eq!(
        (r.status, r.body),
        (
            200,
            json!({"status": "ignored", "reason": "no workspace for account"})
        )
    );
    assert!(app.sandbox.cf.requests().is_empty());
    // Two accounts on one Halo client: the reverse lookup refuses to guess.
    let app = spawn_app_with(|env| {
        env.remove("CF_WORKSPACE_ID");
        env.insert("CF_WORKSPACE_MAP".into(), "a=ws-a,b=ws-b".into());
        env.insert("HALO_CLIENT_MAP".into(), "a=1,b=1".into());
    })
    .await;
    let ticket = app
        .sandbox
        .halo
        .insert_ticket("x", Some("cf|sentinel|unknown"));
    let r = app.halo_webhook(ticket).await;
    assert_eq!(r.body["reason"], "no workspace for account");
}

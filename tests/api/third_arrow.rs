//! ContraForce → Halo after the ticket exists (CONTRACT §10): the agent's verdicts, ContraForce
//! comments and closes reach the Halo ticket, and nothing the bridge wrote comes back.

use std::time::Duration;

use cf_halo_bridge::sandbox::{CommentListShape, CommentTextKey, WebhookAuth};
use futures_util::future::join;
use serde_json::{Value, json};

use crate::helpers::*;

const JANE: u64 = 3;

/// The fixture verdict, about incident `n` of `helpers::incident`.
fn verdict(n: u64) -> Value {
    let mut body: Value = serde_json::from_str(
        &std::fs::read_to_string("../shared/fixtures/cf-agent-investigation.json").unwrap(),
    )
    .unwrap();
    body["data"]["incidentId"] = json!(format!("incident-{n}"));
    body
}

fn notes_starting(
    app: &TestApp,
    ticket: u64,
    opening: &str,
) -> Vec<cf_halo_bridge::sandbox::HaloAction> {
    app.sandbox
        .halo
        .actions(ticket)
        .into_iter()
        .filter(|a| a.note_html.starts_with(opening))
        .collect()
}

const VERDICT_NOTE: &str = "<p><strong>ContraForce agent investigation:</strong>";

#[tokio::test]
async fn the_fixture_verdict_on_a_linked_ticket_is_one_private_note_and_a_duplicate_costs_nothing()
{
    let app = spawn_app().await;
    let ticket = app.create_ticket(1).await;
    let (status, body) = answer(app.post_cf("inv-1", &verdict(1)).await).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "noted", "ticketId": ticket, "action": null})
        )
    );
    let notes = notes_starting(&app, ticket, VERDICT_NOTE);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].hiddenfromuser);
    assert_eq!(
        notes[0].note_html,
        "<p><strong>ContraForce agent investigation:</strong> FalsePositive (InaccurateData), malicious score 8/100</p>\
         <p>Sign-in came from the user&#39;s known travel VPN.<br>No follow-on activity.</p>"
    );
    let calls = app.halo_api_calls();
    let (_, again) = answer(app.post_cf("inv-1", &verdict(1)).await).await;
    assert_eq!(again, json!({"status": "duplicate", "ticketId": ticket}));
    assert_eq!(app.halo_api_calls(), calls);
    // A public note is still never forwarded to ContraForce: the bridge wrote it.
    assert_eq!(app.halo_webhook(ticket).await.body["actionsForwarded"], 0);
}

#[tokio::test]
async fn a_public_verdict_note_is_not_echoed_even_without_the_integration_agent_setting() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_INVESTIGATION_NOTE".into(), "public".into());
        env.remove("HALO_INTEGRATION_AGENT_ID");
    })
    .await;
    let ticket = app.create_ticket(2).await;
    answer(app.post_cf("inv-2", &verdict(2)).await).await;
    let notes = notes_starting(&app, ticket, VERDICT_NOTE);
    assert!(!notes[0].hiddenfromuser, "public");
    let hook = app.halo_webhook(ticket).await;
    assert_eq!(hook.body["actionsForwarded"], 0, "{}", hook.body);
    assert!(app.sandbox.cf.comments().is_empty());
}

#[tokio::test]
async fn false_positive_close_closes_the_ticket_and_the_webhook_after_it_is_not_echoed() {
    let app = spawn_app_with(|env| {
        env.insert(
            "HALO_INVESTIGATION_ACTIONS".into(),
            "FalsePositive=close,TruePositive=priority:1".into(),
        );
    })
    .await;
    let ticket = app.create_ticket(3).await;
    let (_, body) = answer(app.post_cf("inv-3", &verdict(3)).await).await;
    assert_eq!(
        body,
        json!({"status": "noted", "ticketId": ticket, "action": "close"})
    );
    let halo = &app.sandbox.halo;
    assert!(halo.ticket(ticket).unwrap().hasbeenclosed);
    let close = halo
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST" && r.path == "/api/Tickets")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&close.body).unwrap(),
        json!([{"id": ticket, "status_id": 9}])
    );
    // The webhook Halo sends about the close: nothing goes back to ContraForce.
    let hook = app.halo_webhook(ticket).await;
    assert_eq!(hook.body["closed"], false, "{}", hook.body);
    assert!(app.sandbox.cf.status_updates().is_empty());
    // A later re-open and close in Halo is mirrored as usual.
    halo.reopen(ticket);
    app.halo_webhook(ticket).await;
    halo.close(ticket);
    assert_eq!(app.halo_webhook(ticket).await.body["closed"], true);
    assert_eq!(app.sandbox.cf.status_updates().len(), 1);

    // Another classification takes its own action.
    let other = app.create_ticket(4).await;
    let mut tp = verdict(4);
    tp["data"]["classification"] = json!("truepositive");
    let (_, body) = answer(app.post_cf("inv-4", &tp).await).await;
    assert_eq!(body["action"], "priority");
    assert_eq!(halo.ticket(other).unwrap().priority_id, Some(1));
    assert!(!halo.ticket(other).unwrap().hasbeenclosed);
}

#[tokio::test]
async fn a_verdict_for_an_incident_with_no_ticket_creates_one_ticket_and_its_note() {
    let app = spawn_app().await;
    let (_, body) = answer(app.post_cf("inv-5", &verdict(5)).await).await;
    assert_eq!(body["status"], "noted", "{body}");
    let tickets = app.sandbox.halo.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].summary, "[CF #1234] Suspicious sign-in activity");
    assert_eq!(
        tickets[0].third_party_id_string.as_deref(),
        Some("cf|sentinel|incident-5")
    );
    assert_eq!(notes_starting(&app, tickets[0].id, VERDICT_NOTE).len(), 1);

    // With CF_INVESTIGATION_CREATES=false, no ticket: ignored.
    let app = spawn_app_with(|env| {
        env.insert("CF_INVESTIGATION_CREATES".into(), "false".into());
    })
    .await;
    let (_, body) = answer(app.post_cf("inv-6", &verdict(6)).await).await;
    assert_eq!(
        body,
        json!({"status": "ignored", "reason": "no ticket for incident"})
    );
    assert!(app.sandbox.halo.tickets().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_racing_the_incident_created_event_makes_one_ticket_in_both_orders() {
    for verdict_first in [true, false] {
        let app = spawn_app().await;
        app.sandbox.halo.set_delay(Duration::from_millis(150));
        let (incident_body, verdict_body) = (incident(7), verdict(7));
        // The second starts while the first is still waiting on Halo.
        let later = |ms| tokio::time::sleep(Duration::from_millis(ms));
        let created = async {
            later(if verdict_first { 50 } else { 0 }).await;
            app.post_cf("evt-7", &incident_body).await
        };
        let noted = async {
            later(if verdict_first { 0 } else { 50 }).await;
            app.post_cf("inv-7", &verdict_body).await
        };
        let (a, b) = join(created, noted).await;
        let ((sa, ba), (sb, bb)) = (answer(a).await, answer(b).await);
        assert_eq!((sa, sb), (200, 200), "{ba} {bb}");
        let tickets = app.sandbox.halo.tickets();
        assert_eq!(tickets.len(), 1, "verdict first: {verdict_first}");
        assert_eq!(bb["status"], "noted", "{bb}");
        assert!(
            ba["status"] == "created" || ba["status"] == "updated",
            "{ba}"
        );
        assert_eq!(notes_starting(&app, tickets[0].id, VERDICT_NOTE).len(), 1);
    }
}

#[tokio::test]
async fn a_verdict_with_no_incident_id_is_400_naming_the_field_and_a_test_costs_nothing() {
    let app = spawn_app().await;
    let mut body = verdict(8);
    body["data"].as_object_mut().unwrap().remove("incidentId");
    let (status, json) = answer(app.post_cf("inv-8", &body).await).await;
    assert_eq!(
        (status, json),
        (
            400,
            json!({"error": "malformed payload", "detail": "data.incidentId"})
        )
    );
    let mut test = verdict(9);
    test["isTest"] = json!(true);
    let (status, json) = answer(app.post_cf("inv-9", &test).await).await;
    assert_eq!((status, &json["status"]), (200, &json!("test")), "{json}");
    assert!(
        json["note"]["note_html"]
            .as_str()
            .unwrap()
            .starts_with(VERDICT_NOTE)
    );
    assert_eq!(app.sandbox.halo.requests().len(), 0);
}

#[tokio::test]
async fn the_sandbox_sends_a_verdict_signed_the_current_way() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(10).await;
    let mut event = cf_halo_bridge::sandbox::SignedEvent::new("inv-10", verdict(10), CF_SECRET);
    // The handler's clock is fixed: sign at its time.
    event.timestamp = Some("2026-04-22T15:00:00.000Z".into());
    let url = format!("{}/api/CfToHalo", app.address);
    let (status, body) = app.sandbox.cf.send_event(&url, &event).await.unwrap();
    assert_eq!((status, &body["ticketId"]), (200, &json!(ticket)), "{body}");
}

// ---- ContraForce comments and closes (reconcile step 4) ----------------------------------

fn ws(app: &TestApp) -> String {
    app.sandbox.cf.workspace_id()
}

/// Fires the Reconcile timer of a handler process.
async fn reconcile_at(http: &reqwest::Client, address: &str) -> Value {
    let r = http
        .post(format!("{address}/Reconcile"))
        .json(&timer_invocation())
        .send()
        .await
        .unwrap();
    let (status, body) = answer(r).await;
    assert_eq!(status, 200, "{body}");
    body["ReturnValue"].clone()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_comments_appear_once_each_oldest_first_across_runs_and_restarts() {
    let sandbox = start_sandbox().await;
    let container = tokio::task::spawn_blocking(|| {
        crate::azurite::Azurite::shared().container_url(&crate::azurite::Azurite::new_container())
    })
    .await
    .unwrap();
    let mut env = base_env(&sandbox);
    env.insert("STATE_STORE".into(), "blob".into());
    env.insert("STATE_BLOB_URL".into(), container);
    let http = reqwest::Client::new();
    let (cf, halo, ws) = (&sandbox.cf, &sandbox.halo, sandbox.cf.workspace_id());

    let first = HandlerProcess::start(&env).await;
    let (_, created) = post_cf_to(&http, &first.address, "evt-20", &incident(20), unix_now()).await;
    let ticket = created["ticketId"].as_u64().expect("created");
    cf.add_comment(
        &ws,
        "incident-20",
        "Ann Analyst",
        "First look:\nbenign so far.",
    );
    cf.add_agent_comment(&ws, "incident-20", "Triage Agent", "Enriched the IP.");
    cf.add_comment(&ws, "incident-20", "Ann Analyst", "   ");
    // A Halo note forwarded by the bridge: stored in ContraForce as the bridge's own comment.
    halo.add_agent_note(ticket, "Jane Tech", JANE, "<p>called the user</p>", false);
    let auth = WebhookAuth::Header {
        name: "X-Halo-Secret".into(),
        value: HALO_SECRET.into(),
    };
    let hook_url = format!("{}/api/HaloToCf", first.address);
    let hook = halo
        .send_webhook(&hook_url, ticket, "ticket updated", &auth)
        .await
        .unwrap();
    assert_eq!(hook.body["actionsForwarded"], 1);

    let summary = reconcile_at(&http, &first.address).await;
    assert_eq!(summary["notesToHalo"], 2, "{summary}");
    let copied = |halo: &cf_halo_bridge::sandbox::FakeHalo| -> Vec<String> {
        halo.actions(ticket)
            .into_iter()
            .filter(|a| {
                a.note_html
                    .starts_with("<p><strong>ContraForce comment by ")
            })
            .map(|a| a.note_html)
            .collect()
    };
    let notes = copied(halo);
    assert_eq!(
        notes[0],
        "<p><strong>ContraForce comment by Ann Analyst</strong></p><p>First look:<br>benign so far.</p>"
    );
    assert!(notes[1].contains("Enriched the IP."), "{notes:?}");
    assert!(
        halo.actions(ticket)
            .iter()
            .filter(|a| a.note_html.starts_with("<p><strong>ContraForce comment"))
            .all(|a| a.hiddenfromuser)
    );
    // Neither the copied notes go back to ContraForce, nor the bridge's comment to Halo.
    let hook = halo
        .send_webhook(&hook_url, ticket, "ticket updated", &auth)
        .await
        .unwrap();
    assert_eq!(hook.body["actionsForwarded"], 0);
    assert_eq!(reconcile_at(&http, &first.address).await["notesToHalo"], 0);
    assert!(notes.iter().all(|n| !n.contains("[Halo ticket #")));

    // A restart: a new process on the same store copies only the new comment.
    drop(first);
    cf.add_comment(&ws, "incident-20", "Bob Lead", "Keeping an eye on it.");
    let second = HandlerProcess::start(&env).await;
    assert_eq!(reconcile_at(&http, &second.address).await["notesToHalo"], 1);
    assert_eq!(reconcile_at(&http, &second.address).await["notesToHalo"], 0);
    let notes = copied(halo);
    assert_eq!(notes.len(), 3);
    assert!(notes[2].contains("Keeping an eye on it."));
    assert_eq!(
        cf.comments().len(),
        1,
        "one comment ever went to ContraForce"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn a_closing_comment_closes_the_ticket_once_only_when_asked_and_is_not_echoed() {
    for close in [false, true] {
        let app = spawn_app_with(|env| {
            env.insert("HALO_CLOSE_ON_CF_CLOSE".into(), close.to_string());
        })
        .await;
        let ticket = app.create_ticket(21).await;
        app.sandbox
            .cf
            .set_comment_list_shape(CommentListShape::Value);
        app.sandbox.cf.set_comment_text_key(CommentTextKey::Content);
        app.sandbox.cf.close_incident(
            &ws(&app),
            "incident-21",
            "Ann Analyst",
            "Benign: known VPN.",
        );
        let summary = app.reconcile().await;
        assert_eq!(summary["notesToHalo"], 1, "{summary}");
        assert_eq!(summary["closesMirrored"], u64::from(close), "{summary}");
        let halo_ticket = app.sandbox.halo.ticket(ticket).unwrap();
        assert_eq!(halo_ticket.hasbeenclosed, close);
        // The close Halo then reports is not sent back to ContraForce.
        let hook = app.halo_webhook(ticket).await;
        assert_eq!(hook.body["closed"], false, "{}", hook.body);
        assert!(app.sandbox.cf.status_updates().is_empty());
        assert_eq!(app.reconcile().await["closesMirrored"], 0, "once");
        if close {
            // Re-opened in Halo: the old closing comment does not close it again.
            app.sandbox.halo.reopen(ticket);
            app.halo_webhook(ticket).await;
            assert_eq!(app.reconcile().await["closesMirrored"], 0);
            assert!(!app.sandbox.halo.ticket(ticket).unwrap().hasbeenclosed);
        }
    }
}

#[tokio::test]
async fn a_ticket_closed_from_halo_is_not_checked_and_its_close_comment_never_comes_back() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_CLOSE_ON_CF_CLOSE".into(), "true".into());
    })
    .await;
    let ticket = app.create_ticket(22).await;
    app.sandbox.halo.close(ticket);
    assert_eq!(app.halo_webhook(ticket).await.body["closed"], true);
    // ContraForce logged the close as a closing comment with our text.
    let closing = app.sandbox.cf.incident_comments(&ws(&app), "incident-22");
    assert!(closing[0].is_closing_comment);
    app.sandbox.halo.reopen(ticket);
    app.halo_webhook(ticket).await;
    let summary = app.reconcile().await;
    assert_eq!(
        (
            summary["notesToHalo"].as_u64(),
            summary["closesMirrored"].as_u64()
        ),
        (Some(0), Some(0)),
        "{summary}"
    );
    assert!(!app.sandbox.halo.ticket(ticket).unwrap().hasbeenclosed);
}

#[tokio::test]
async fn comments_off_copies_nothing() {
    let app = spawn_app_with(|env| {
        env.insert("CF_COMMENTS_TO_HALO".into(), "off".into());
    })
    .await;
    let ticket = app.create_ticket(23).await;
    app.sandbox
        .cf
        .add_comment(&ws(&app), "incident-23", "Ann", "hello");
    assert_eq!(app.reconcile().await["notesToHalo"], 0);
    assert_eq!(app.sandbox.halo.actions(ticket).len(), 1);
}

//! The reconcile operator commands as the real executable, against the production-shaped store
//! (`blob` on Azurite) that a handler shares: `status [--json]`, `replay`, `reconcile`.

use std::collections::HashMap;

use serde_json::Value;

use crate::helpers::*;
use crate::tools::{run, stderr, stdout};

/// A handler on a fresh blob container, and the environment that reaches the same container.
async fn app_and_env() -> (TestApp, HashMap<String, String>) {
    let store = tokio::task::spawn_blocking(|| store_env(Store::Blob))
        .await
        .unwrap();
    let sandbox = start_sandbox().await;
    let mut env = base_env(&sandbox);
    env.extend(store);
    let app = spawn_app_on(sandbox, env.clone()).await;
    (app, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_parked_failed_and_pending_work_and_the_last_run() {
    let (app, env) = app_and_env().await;
    // A parked High incident (Halo down), a failed one (Halo rejects), a pending ticket (CF down).
    let ticket = app.create_ticket(1).await;
    app.sandbox.halo.set_down(true);
    let mut high = incident(2);
    high["data"]["severity"] = "High".into();
    assert_eq!(app.post_cf("evt-parked", &high).await.status(), 503);
    app.sandbox.halo.set_down(false);
    app.sandbox
        .halo
        .set_reject_creates(Some("Category is mandatory".into()));
    assert_eq!(app.post_cf("evt-failed", &incident(3)).await.status(), 502);
    app.sandbox.halo.set_reject_creates(None);
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>x</p>", false);
    app.sandbox.cf.set_down(true);
    assert_eq!(app.halo_webhook(ticket).await.status, 503);
    app.sandbox.cf.set_down(false);

    let out = run(&["status", "--json"], &env).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(status["parked"]["count"], 1, "{status:#}");
    assert_eq!(status["parked"]["bySeverity"]["High"], 1);
    assert!(status["parked"]["oldestAgeSeconds"].is_u64());
    assert_eq!(status["parked"]["events"][0]["eventId"], "evt-parked");
    assert_eq!(status["failed"][0]["eventId"], "evt-failed");
    assert_eq!(status["failed"][0]["incident"], "cf|sentinel|incident-3");
    assert_eq!(status["failed"][0]["message"], "Category is mandatory");
    assert_eq!(status["pending"][0]["ticketId"], ticket);
    assert_eq!(status["pending"][0]["attempts"], 0);
    assert_eq!(status["lastRun"], Value::Null);

    let summary = app.reconcile().await;
    assert_eq!(summary["eventsRedriven"], 1, "{summary}");
    let out = run(&["status"], &env).await;
    let text = stdout(&out);
    assert!(text.contains("Parked events: none"), "{text}");
    assert!(text.contains("Failed events: 1"), "{text}");
    assert!(text.contains("Category is mandatory"), "{text}");
    assert!(text.contains("Pending tickets: none"), "{text}");
    assert!(
        text.contains("Last run: ") && text.contains("1 event(s) re-driven"),
        "{text}"
    );

    // replay + --now: the failed event goes back and a run from the command line finishes it.
    let out = run(&["replay", "evt-unknown"], &env).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("evt-unknown is not on a failed list"));
    let out = run(&["replay", "evt-failed", "--now"], &env).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(summary["eventsRedriven"], 1, "{summary}");
    assert!(
        app.sandbox
            .halo
            .tickets()
            .iter()
            .any(|t| t.third_party_id_string.as_deref() == Some("cf|sentinel|incident-3"))
    );
    let out = run(&["status", "--json"], &env).await;
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(status["failed"], serde_json::json!([]));
    assert_eq!(status["lastRun"]["summary"]["eventsRedriven"], 1);
}

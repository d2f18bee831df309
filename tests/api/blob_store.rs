//! The `blob` store across processes: scale-out, a killed instance, restarts, storage outages.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cf_halo_bridge::sandbox::Sandbox;
use futures_util::future::join_all;
use serde_json::json;

use crate::azurite::Azurite;
use crate::helpers::*;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The environment of a handler process sharing `container_url` with its siblings.
fn process_env(
    sandbox: &Sandbox,
    container_url: &str,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let mut env = base_env(sandbox);
    env.insert("STATE_STORE".into(), "blob".into());
    env.insert("STATE_BLOB_URL".into(), container_url.into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_deliveries_split_across_two_processes_make_exactly_one_ticket() {
    let sandbox = start_sandbox().await;
    let url = Azurite::shared().container_url(&Azurite::new_container());
    let env = process_env(&sandbox, &url, &[]);
    let (a, b) = (
        HandlerProcess::start(&env).await,
        HandlerProcess::start(&env).await,
    );
    sandbox.halo.set_delay(Duration::from_millis(300));
    let http = reqwest::Client::new();
    let body = incident(50);
    let answers = join_all((0..50).map(|i| {
        let target = if i % 2 == 0 { &a.address } else { &b.address };
        let (http, body) = (&http, &body);
        async move { post_cf_to(http, target, &format!("evt-{}", i % 5), body, now()).await }
    }))
    .await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(
        sandbox.halo.tickets().len(),
        1,
        "exactly one ticket across both processes"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|(_, b)| b["status"] == "created")
            .count(),
        1
    );
    let notes = sandbox
        .halo
        .actions(sandbox.halo.tickets()[0].id)
        .iter()
        .filter(|a| a.hiddenfromuser)
        .count();
    assert_eq!(notes, 4, "one note per other event id, never two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_killed_process_is_taken_over_and_one_ticket_results() {
    let sandbox = start_sandbox().await;
    let url = Azurite::shared().container_url(&Azurite::new_container());
    // Deadline 3 s: a claim lives at most 5 s without its owner.
    let env = process_env(&sandbox, &url, &[("REQUEST_DEADLINE_SECONDS", "3")]);
    let mut doomed = HandlerProcess::start(&env).await;
    sandbox.halo.set_delay(Duration::from_secs(2));
    let http = reqwest::Client::new();
    let body = incident(51);
    let in_flight = {
        let (http, address, body) = (http.clone(), doomed.address.clone(), body.clone());
        tokio::spawn(async move { post_cf_to(&http, &address, "evt-51", &body, now()).await })
    };
    // Claimed, now waiting on Halo (token, then lookup): kill it before it can create.
    tokio::time::sleep(Duration::from_millis(800)).await;
    doomed.kill();
    let _ = in_flight.await;
    sandbox.halo.set_delay(Duration::ZERO);

    let survivor = HandlerProcess::start(&env).await;
    let started = Instant::now();
    let outcome = loop {
        let (status, answer) = post_cf_to(&http, &survivor.address, "evt-51", &body, now()).await;
        if status == 200 {
            break answer;
        }
        assert_eq!(status, 503, "{answer}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "claim never taken over"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(outcome["status"], "created");
    assert!(
        started.elapsed() <= Duration::from_secs(10),
        "taken over within the bound: {:?}",
        started.elapsed()
    );
    assert_eq!(sandbox.halo.tickets().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_nothing_is_done_twice() {
    let sandbox = start_sandbox().await;
    let url = Azurite::shared().container_url(&Azurite::new_container());
    let env = process_env(&sandbox, &url, &[]);
    let http = reqwest::Client::new();
    let hook = |address: &str| {
        let url = format!("{address}/api/HaloToCf");
        let auth = cf_halo_bridge::sandbox::WebhookAuth::Header {
            name: "X-Halo-Secret".into(),
            value: HALO_SECRET.into(),
        };
        (url, auth)
    };

    let first = HandlerProcess::start(&env).await;
    let (_, created) = post_cf_to(&http, &first.address, "evt-52", &incident(52), now()).await;
    let ticket = created["ticketId"].as_u64().unwrap();
    sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "<p>before restart</p>", false);
    sandbox.halo.close(ticket);
    let (url, auth) = hook(&first.address);
    let r = sandbox
        .halo
        .send_webhook(&url, ticket, "ticket updated", &auth)
        .await
        .unwrap();
    assert_eq!(
        r.body,
        json!({"status": "processed", "actionsForwarded": 1, "closed": true})
    );
    drop(first);

    let second = HandlerProcess::start(&env).await;
    let calls = sandbox.halo.requests().len();
    let (_, dup) = post_cf_to(&http, &second.address, "evt-52", &incident(52), now()).await;
    assert_eq!(dup, json!({"status": "duplicate", "ticketId": ticket}));
    assert_eq!(
        sandbox.halo.requests().len(),
        calls,
        "duplicate after restart: zero Halo calls"
    );
    let (url, auth) = hook(&second.address);
    let r = sandbox
        .halo
        .send_webhook(&url, ticket, "ticket updated", &auth)
        .await
        .unwrap();
    assert_eq!(
        r.body,
        json!({"status": "processed", "actionsForwarded": 0, "closed": false})
    );
    assert_eq!(sandbox.cf.comments().len(), 1);
    assert_eq!(sandbox.cf.status_updates().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_down_is_503_with_retry_after_for_both_functions_and_service_resumes() {
    let azurite = Azurite::start();
    let url = azurite.container_url(&Azurite::new_container());
    let app = spawn_app_with(|env| {
        env.insert("STATE_STORE".into(), "blob".into());
        env.insert("STATE_BLOB_URL".into(), url);
    })
    .await;
    let ticket = app.create_ticket(53).await;
    azurite.stop();
    let r = app.post_cf("evt-53b", &incident(53)).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let r = app.post_halo(&json!({"ticket_id": ticket})).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        answer(app.post_cf("evt-53c", &incident(53)).await).await.0,
        503
    );

    azurite.resume().expect("azurite starts again");
    let (_, body) = answer(app.post_cf("evt-53b", &incident(53)).await).await;
    assert_eq!(body, json!({"status": "updated", "ticketId": ticket}));
    let (status, body) = answer(app.post_halo(&json!({"ticket_id": ticket})).await).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("processed")));
}

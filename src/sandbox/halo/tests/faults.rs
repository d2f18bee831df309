//! The failure knobs as the fake Halo applies them: queued faults, the rate limit, connection
//! resets, delays and outages.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{client, fake, get, token, token_response};
use crate::sandbox::halo::{FakeHalo, Fault, RateLimit};

#[tokio::test]
async fn queued_faults_answer_once_then_service_resumes() {
    let halo = fake().await;
    let token = token(&halo).await;
    halo.push_fault(
        Fault::on("GET", "/api/tickets", 429, "Rate Limit Reached").with_retry_after("7"),
    );
    let response = client()
        .get(format!("{}/Tickets", halo.api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.text().await.expect("body"), "Rate Limit Reached");

    let (status, _) = get(&halo, &token, "/Tickets").await;
    assert_eq!(status, 200);
    let statuses: Vec<u16> = halo.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 429, 200]);
}

/// `GET /api/Status`: status, `Retry-After` header, body text.
async fn status_call(halo: &FakeHalo, token: &str) -> (u16, Option<String>, String) {
    let response = client()
        .get(format!("{}/Status", halo.api_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    (status, retry_after, response.text().await.expect("body"))
}

#[tokio::test]
async fn rate_limit_allows_calls_per_rolling_window_then_answers_429() {
    const LIMITED: &str = "Rate Limit Reached - 3 Requests per rolling 300 millisecond window";
    let halo = fake().await;
    let token = token(&halo).await;
    let limit = RateLimit {
        calls: 3,
        window: Duration::from_millis(300),
        retry_after: true,
    };
    halo.set_rate_limit(Some(limit));
    for _ in 0..3 {
        assert_eq!(status_call(&halo, &token).await.0, 200);
    }
    let (status, retry_after, body) = status_call(&halo, &token).await;
    assert_eq!((status, body.as_str()), (429, LIMITED));
    let secs: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!(secs >= 1);
    assert_eq!(halo.rate_limited_count(), 1);
    assert_eq!(halo.requests().last().map(|r| r.status), Some(429));
    // The token endpoint counts too, and `/_sandbox` does not.
    assert_eq!(token_response(&halo, "sandbox-halo-secret").await.0, 429);
    let control = client()
        .get(format!("{}/_sandbox/requests", halo.base_url()))
        .send()
        .await
        .expect("control");
    assert_eq!(control.status(), 200);

    // Once the window has rolled past, the next `calls` requests pass again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..3 {
        assert_eq!(status_call(&halo, &token).await.0, 200);
    }
    assert_eq!(status_call(&halo, &token).await.0, 429);
    assert_eq!(halo.rate_limited_count(), 3);

    halo.set_rate_limit(Some(RateLimit {
        retry_after: false,
        ..limit
    }));
    for _ in 0..3 {
        assert_eq!(status_call(&halo, &token).await.0, 200);
    }
    let (status, retry_after, body) = status_call(&halo, &token).await;
    assert_eq!((status, retry_after, body.as_str()), (429, None, LIMITED));
    assert_eq!(halo.rate_limited_count(), 4);

    halo.set_rate_limit(None);
    for _ in 0..5 {
        assert_eq!(status_call(&halo, &token).await.0, 200);
    }
    let statuses: Vec<u16> = halo.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 4);
    assert_eq!(halo.rate_limited_count(), 4);
}

#[tokio::test]
async fn a_client_pacing_itself_to_the_limit_never_sees_429() {
    let halo = fake().await;
    let token = token(&halo).await;
    halo.set_rate_limit(Some(RateLimit {
        calls: 3,
        window: Duration::from_millis(300),
        retry_after: true,
    }));
    // One send every 105 ms: never more than 3 sends within any 300 ms, by send time.
    let mut pace = tokio::time::interval(Duration::from_millis(105));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..10 {
        pace.tick().await;
        assert_eq!(status_call(&halo, &token).await.0, 200);
    }
    assert_eq!(halo.rate_limited_count(), 0);
}

#[tokio::test]
async fn a_reset_fault_breaks_the_connection_then_service_resumes() {
    let halo = fake().await;
    let token = token(&halo).await;
    halo.push_fault(Fault::reset_on("GET", "/api/status"));
    let outcome = match client()
        .get(format!("{}/Status", halo.api_url()))
        .bearer_auth(&token)
        .send()
        .await
    {
        Ok(response) => response.bytes().await.map(drop),
        Err(err) => Err(err),
    };
    let err = outcome.expect_err("a reset is a transport error");
    assert!(err.status().is_none(), "no HTTP status: {err:?}");

    assert_eq!(status_call(&halo, &token).await.0, 200);
    let statuses: Vec<u16> = halo.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 0, 200]);
}

#[tokio::test]
async fn delay_and_outage_apply_to_every_call() {
    let halo = fake().await;
    let token = token(&halo).await;
    halo.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    let (status, _) = get(&halo, &token, "/Status").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    halo.set_delay(Duration::ZERO);

    halo.set_down(true);
    let (status, body) = get(&halo, &token, "/Status").await;
    assert_eq!(
        (status, body),
        (503, json!({"error": "service unavailable"}))
    );
    let (status, _) = token_response(&halo, "sandbox-halo-secret").await;
    assert_eq!(status, 503);
    halo.set_down(false);
    let (status, _) = get(&halo, &token, "/Status").await;
    assert_eq!(status, 200);
}

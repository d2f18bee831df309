//! The storm's senders, as ContraForce delivers (each attempt signed anew, a 503 re-delivered
//! after its `Retry-After` a few times, then given up), and the host's timer.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{incident_id, severity};
use crate::bench::CF_SECRET;
use crate::sandbox::SignedEvent;

/// What a sender waits after a 503 without `Retry-After` (the contract's own default) or a
/// failed connection.
const DEFAULT_RETRY_AFTER: u64 = 30;

/// Incident `n`'s title.
pub(super) fn title(n: usize) -> String {
    format!("Storm incident {n} of the attack")
}

/// Incident `n` as ContraForce sends it: the fixture under its own id, number, severity and
/// title, created now (the storm is new: its lookups read the last few minutes of Halo).
pub(super) fn event(fixture: &Value, n: usize) -> SignedEvent {
    let mut body = fixture.clone();
    body["data"]["incidentId"] = json!(incident_id(n));
    body["data"]["incidentNumber"] = json!(n + 1);
    body["data"]["severity"] = json!(severity(n));
    body["data"]["title"] = json!(title(n));
    body["data"]["createdAt"] = json!(
        OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default()
    );
    SignedEvent::new(format!("storm-event-{n}"), body, CF_SECRET)
}

/// The body the Functions host POSTs to a timer-triggered function (reference/azure.md §1.6).
fn timer_invocation(every: Duration) -> Value {
    let now = OffsetDateTime::now_utc();
    let text = |at: OffsetDateTime| at.format(&Rfc3339).unwrap_or_default();
    json!({
        "Data": {
            "timer": {
                "Schedule": {"AdjustForDST": true},
                "ScheduleStatus": {
                    "Last": text(now - every),
                    "Next": text(now + every),
                    "LastUpdated": text(now - every)
                },
                "IsPastDue": false
            }
        },
        "Metadata": {
            "sys": {
                "MethodName": "Reconcile",
                "UtcNow": text(now),
                "RandGuid": uuid::Uuid::new_v4().to_string()
            }
        }
    })
}

/// What one sender saw for its incident.
pub(super) struct Sender {
    /// When its first delivery went out.
    pub(super) first_post: Instant,
    pub(super) attempts: u32,
    /// Attempts answered `503`.
    pub(super) unavailable: u32,
    /// Its last attempt was answered `503` too: ContraForce stops here.
    pub(super) gave_up: bool,
    /// The last answer: `created`, `duplicate`, `503`, or whatever else came back.
    pub(super) last: String,
    /// When an answer told it the ticket exists.
    pub(super) ticket_answered: Option<Instant>,
}

/// Delivers incident `n` at `at`, re-delivering each 503 after its `Retry-After` at most
/// `retries` times, every attempt signed anew with the same event id.
pub(super) async fn send(
    http: reqwest::Client,
    url: String,
    event: SignedEvent,
    at: Instant,
    retries: u32,
) -> Sender {
    tokio::time::sleep_until(at.into()).await;
    let mut sender = Sender {
        first_post: Instant::now(),
        attempts: 0,
        unavailable: 0,
        gave_up: false,
        last: String::new(),
        ticket_answered: None,
    };
    loop {
        sender.attempts += 1;
        let wait = match attempt(&http, &url, &event).await {
            Ok((200, answer, _)) => {
                sender.last = answer["status"].as_str().unwrap_or("200").to_string();
                if answer["ticketId"].is_u64() {
                    sender.ticket_answered = Some(Instant::now());
                }
                return sender;
            }
            Ok((503, _, retry_after)) => {
                sender.unavailable += 1;
                sender.last = "503".into();
                retry_after.unwrap_or(DEFAULT_RETRY_AFTER)
            }
            // Anything else (a 4xx, a 502) is not re-delivered: the bridge misbehaved.
            Ok((status, answer, _)) => {
                sender.last = format!("{status} {answer}");
                return sender;
            }
            Err(e) => {
                sender.last = e;
                DEFAULT_RETRY_AFTER
            }
        };
        if sender.attempts > retries {
            sender.gave_up = true;
            return sender;
        }
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}

/// One signed delivery: status, JSON answer and `Retry-After` seconds.
async fn attempt(
    http: &reqwest::Client,
    url: &str,
    event: &SignedEvent,
) -> Result<(u16, Value, Option<u64>), String> {
    // `request` signs with the current time, so a re-delivery carries a fresh timestamp.
    let (headers, body) = event.request()?;
    let mut request = http.post(format!("{url}/api/CfToHalo")).body(body);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let answer = response.json().await.unwrap_or(Value::Null);
    Ok((status, answer, retry_after))
}

/// One firing of the timer: the run's summary, or why there is none.
pub(in crate::bench) async fn fire_timer(
    http: &reqwest::Client,
    url: &str,
    every: Duration,
) -> Result<Value, String> {
    let response = http
        .post(format!("{url}/Reconcile"))
        .json(&timer_invocation(every))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status == 200 && answer["ReturnValue"].is_object() {
        Ok(answer["ReturnValue"].clone())
    } else {
        Err(format!("{status} {answer}"))
    }
}

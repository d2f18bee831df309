//! The load generator: signed deliveries, posted with a fixed number in flight, and what the
//! answers and their latencies came to.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use futures_util::future::join_all;
use serde_json::Value;

use super::{CF_SECRET, incident, numbered};
use crate::clock::{Clock, SystemClock};
use crate::contraforce::webhook::sign;

/// A signed delivery, ready to post.
#[derive(Clone)]
pub(super) struct Prepared {
    event_id: String,
    body: Bytes,
    timestamp: String,
    signature: String,
}

/// One new incident per number in `range`, ids and event ids prefixed by `prefix`; unsigned.
pub(super) fn prepare(prefix: &str, range: Range<usize>) -> Vec<Prepared> {
    let template = incident();
    range
        .map(|n| Prepared {
            event_id: format!("{prefix}-event-{n}"),
            body: numbered(&template, format!("{prefix}-incident-{n}"), n).into(),
            timestamp: String::new(),
            signature: String::new(),
        })
        .collect()
}

/// Signs every delivery with the current time (each phase re-signs, so the skew window holds).
pub(super) fn sign_all(deliveries: &mut [Prepared]) {
    let ts = SystemClock.now_unix().to_string();
    for d in deliveries {
        d.signature = sign(CF_SECRET, &ts, &d.body);
        d.timestamp.clone_from(&ts);
    }
}

/// What one load phase measured.
pub(super) struct Load {
    /// Wall time of the whole phase.
    pub(super) elapsed: Duration,
    latencies: Vec<Duration>,
    answers: HashMap<String, usize>,
}

impl Load {
    /// Answers per second.
    pub(super) fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at or below which `p` (0 to 1) of the answers came.
    pub(super) fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank =
            ((p * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }

    /// How many answers had this `status`.
    pub(super) fn count(&self, status: &str) -> usize {
        self.answers.get(status).copied().unwrap_or(0)
    }

    /// Every answer status with its count, sorted, for the transcript.
    pub(super) fn answers_text(&self) -> String {
        let mut parts: Vec<String> = self
            .answers
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        parts.sort();
        parts.join(", ")
    }
}

/// Posts `total` deliveries (cycling through `deliveries`) with `concurrency` in flight.
pub(super) async fn load(
    http: &reqwest::Client,
    url: &str,
    deliveries: Arc<Vec<Prepared>>,
    total: usize,
    concurrency: usize,
) -> Load {
    let next = Arc::new(AtomicUsize::new(0));
    let endpoint = format!("{url}/api/CfToHalo");
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (http, endpoint, deliveries, next) = (
                http.clone(),
                endpoint.clone(),
                deliveries.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut answers: HashMap<String, usize> = HashMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let d = &deliveries[i % deliveries.len()];
                    let sent = Instant::now();
                    let status = post(&http, &endpoint, d).await;
                    latencies.push(sent.elapsed());
                    *answers.entry(status).or_default() += 1;
                }
                (latencies, answers)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut answers: HashMap<String, usize> = HashMap::new();
    for (l, a) in join_all(workers).await.into_iter().flatten() {
        latencies.extend(l);
        for (k, v) in a {
            *answers.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Load {
        elapsed,
        latencies,
        answers,
    }
}

/// Posts one delivery; the answer's `status`, or what went wrong instead.
async fn post(http: &reqwest::Client, endpoint: &str, d: &Prepared) -> String {
    let response = http
        .post(endpoint)
        .header("X-CF-Signature", &d.signature)
        .header("X-CF-Timestamp", &d.timestamp)
        .header("X-CF-Event-Id", &d.event_id)
        .header("X-CF-Schema", "incident.created.v1")
        .header("Content-Type", "application/json")
        .body(d.body.clone())
        .send()
        .await;
    match response {
        Ok(r) => {
            let code = r.status().as_u16();
            match r.bytes().await {
                Ok(b) => serde_json::from_slice::<Value>(&b)
                    .ok()
                    .and_then(|v| v["status"].as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("HTTP {code}")),
                Err(_) => "body cut off".to_string(),
            }
        }
        Err(_) => "no answer".to_string(),
    }
}

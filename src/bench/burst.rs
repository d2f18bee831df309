//! `bench-burst`: many new incidents at once against a rate-limited sandbox Halo, in process.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;

use super::{CF_SECRET, incident, numbered};
use crate::clock::{Clock, SystemClock};
use crate::contraforce::webhook::sign;
use crate::local::start_local;
use crate::sandbox::halo::RateLimit as HaloLimit;

/// What one sender saw for one incident.
struct Delivery {
    attempts: u32,
    status: String,
    ticket_id: Option<u64>,
}

/// Posts one signed incident until it is answered 200, sleeping each 503's `Retry-After`, as
/// ContraForce re-delivers.
async fn deliver(http: &reqwest::Client, url: &str, n: usize) -> Delivery {
    let body = numbered(&incident(), format!("burst-{n}"), n);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let ts = SystemClock.now_unix().to_string();
        let response = http
            .post(format!("{url}/api/CfToHalo"))
            .header("X-CF-Signature", sign(CF_SECRET, &ts, &body))
            .header("X-CF-Timestamp", ts)
            .header("X-CF-Event-Id", format!("burst-event-{n}"))
            .body(body.clone())
            .send()
            .await;
        let Ok(response) = response else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        match (status, retry_after) {
            (503, Some(secs)) if attempts < 100 => {
                tokio::time::sleep(Duration::from_secs(secs)).await
            }
            _ => {
                return Delivery {
                    attempts,
                    status: answer["status"]
                        .as_str()
                        .map_or_else(|| format!("{status} {answer}"), str::to_string),
                    ticket_id: answer["ticketId"].as_u64(),
                };
            }
        }
    }
}

/// `bench-burst`: many new incidents at once against a rate-limited sandbox Halo.
pub async fn burst(incidents: usize, calls: u32, window_secs: u64) -> ExitCode {
    let limit = format!("{calls}/{window_secs}");
    let local = start_local(&[
        ("CF_WEBHOOK_SECRET", CF_SECRET),
        ("HALO_RATE_LIMIT", &limit),
    ])
    .await;
    let (sandbox, url, handle) = match local {
        Ok(l) => (l.sandbox, l.url, l.handle),
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let window = Duration::from_secs(window_secs);
    sandbox.halo.set_rate_limit(Some(HaloLimit {
        calls,
        window,
        retry_after: true,
    }));
    println!(
        "burst: {incidents} new incidents at once; sandbox Halo allows {calls} calls per rolling {window_secs} s;"
    );
    println!(
        "       the handler's HALO_RATE_LIMIT={limit}; senders re-deliver after each 503's Retry-After\n"
    );

    let http = reqwest::Client::new();
    let started = Instant::now();
    let results = join_all((0..incidents).map(|n| deliver(&http, &url, n))).await;
    let elapsed = started.elapsed();

    let created = results.iter().filter(|d| d.status == "created").count();
    let answered_other: Vec<&String> = results
        .iter()
        .map(|d| &d.status)
        .filter(|s| *s != "created")
        .collect();
    let deliveries: u32 = results.iter().map(|d| d.attempts).sum();
    let tickets = sandbox.halo.tickets();
    let mut per_incident: HashMap<String, usize> = HashMap::new();
    for t in &tickets {
        *per_incident
            .entry(t.third_party_id_string.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let exactly_one = per_incident.len() == incidents && per_incident.values().all(|n| *n == 1);
    let distinct_ids = results
        .iter()
        .filter_map(|d| d.ticket_id)
        .collect::<HashSet<_>>()
        .len();
    let api_calls = sandbox.halo.api_requests();
    let token_calls = sandbox.halo.token_requests();
    let halo_calls = api_calls + token_calls;
    let minimum = 2 * incidents + 1;
    let ratio = halo_calls as f64 / minimum as f64;
    let throttled = sandbox.halo.rate_limited_count();

    println!(
        "  elapsed                      {:.1} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  deliveries (incl. re-sends)  {deliveries} ({} answered 503 + Retry-After)",
        deliveries as usize - incidents
    );
    println!(
        "  answers                      {created} created, {} other {:?}",
        answered_other.len(),
        answered_other.iter().take(3).collect::<Vec<_>>()
    );
    println!(
        "  tickets in Halo              {} for {incidents} incidents ({distinct_ids} distinct ids answered)",
        tickets.len()
    );
    println!(
        "  Halo calls                   {halo_calls} ({api_calls} API + {token_calls} token); minimum {minimum}; ratio {ratio:.3}"
    );
    println!("  429 answers from Halo        {throttled}");
    println!(
        "  throughput                   {:.2} incidents/s (the budget allows {:.2})",
        incidents as f64 / elapsed.as_secs_f64(),
        f64::from(calls) / 2.0 / window_secs as f64
    );

    handle.stop(false).await;
    sandbox.stop().await;
    let ok = exactly_one && created == incidents && throttled == 0 && ratio <= 1.05;
    println!(
        "\n{}",
        if ok {
            "PASS: exactly one ticket per incident, no 429, calls within 1.05 × the minimum"
        } else {
            "FAIL"
        }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

//! The real executable's log after a run with failures: it says what happened and never
//! leaks a secret, a token or a payload (CONTRACT §6).

use crate::helpers::start_sandbox;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::helpers::{Child, free_port};
use base64::Engine as _;
use cf_halo_bridge::contraforce::webhook::sign;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_cf-halo-bridge");

const CF_SECRET: &str = "cfsecret-LOGTEST-current-5a1e90";
const CF_SECRET_PREVIOUS: &str = "cfsecret-LOGTEST-previous-77b0c3";
const HALO_SECRET: &str = "halosecret-LOGTEST-shared-c4d2f1";
const HALO_SIGNING_SECRET: &str = "halosecret-LOGTEST-signing-e9f3a8";
const BODY_MARKER: &str = "BODY-MARKER-7f3a";
const NOTE_MARKER: &str = "marker-XYZ";
const CREATED_EVENT: &str = "evt-log-created-3c1d";
const DOWN_EVENT: &str = "evt-log-halo-down-8e2b";
const DELIVERY_ID: &str = "5b0e7a52-log-test-delivery-0001";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What the run sent and got, for the assertions.
struct Run {
    log: String,
    ticket_id: u64,
    /// The secrets the handler was configured with, each by its setting name.
    secrets: Vec<(String, String)>,
    /// Hex digests of the `X-CF-Signature`s sent (they may be logged; they are not secrets).
    sent_signatures: Vec<String>,
}

async fn post_cf(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    event_id: &str,
    body: &Value,
    sent: &mut Vec<String>,
) -> (u16, Value) {
    let body = serde_json::to_vec(body).unwrap();
    let ts = unix_now().to_string();
    let sig = sign(secret, &ts, &body);
    sent.push(sig.trim_start_matches("sha256=").to_string());
    let r = http
        .post(format!("{base}/api/CfToHalo"))
        .header("X-CF-Signature", sig)
        .header("X-CF-Timestamp", ts)
        .header("X-CF-Event-Id", event_id)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post_halo(http: &reqwest::Client, base: &str, secret: &str, body: &Value) -> (u16, Value) {
    let r = http
        .post(format!("{base}/api/HaloToCf"))
        .header("X-Halo-Secret", secret)
        .json(body)
        .send()
        .await
        .expect("request sent");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn incident(n: u64) -> Value {
    json!({
        "type": "incident.created.v1",
        "timestamp": "2026-04-22T15:00:00Z",
        "isTest": false,
        "data": {
            "incidentId": format!("log-incident-{n}"),
            "incidentNumber": n,
            "source": "sentinel",
            "title": "Suspicious sign-in activity",
            "severity": "High",
            "description": format!("Multiple sign-ins {BODY_MARKER} from unfamiliar places."),
        }
    })
}

/// Starts the executable against a fresh sandbox, drives a run with failures and returns its
/// stderr.
async fn run_with_failures(log_format: &str) -> Run {
    let sandbox = start_sandbox().await;
    let settings = sandbox.settings();
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!(
        "cf-halo-bridge-logs-{}-{log_format}-{port}.log",
        std::process::id()
    ));
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let mut secrets: Vec<(String, String)> = vec![
        ("CF_WEBHOOK_SECRET".into(), CF_SECRET.into()),
        (
            "CF_WEBHOOK_SECRET_PREVIOUS".into(),
            CF_SECRET_PREVIOUS.into(),
        ),
        ("HALO_WEBHOOK_SECRET".into(), HALO_SECRET.into()),
        (
            "HALO_WEBHOOK_SIGNING_SECRET".into(),
            HALO_SIGNING_SECRET.into(),
        ),
    ];
    for (name, value) in &settings {
        if name.ends_with("_SECRET") {
            secrets.push((name.clone(), value.clone()));
        }
    }
    let setting = |name: &str| {
        settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // The ContraForce service account travels as HTTP Basic: its encoded form must not leak either.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        setting("CF_SERVICE_ACCOUNT_CLIENT_ID"),
        setting("CF_SERVICE_ACCOUNT_CLIENT_SECRET")
    ));
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .envs(secrets.iter().map(|(k, v)| (k, v)))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("RUST_LOG", "debug")
        .env("LOG_FORMAT", log_format)
        .env("REQUEST_DEADLINE_SECONDS", "5")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file));
    let mut child = Child(command.spawn().expect("handler starts"));
    secrets.push(("CF Basic credentials".into(), basic));

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        match http.get(format!("{base}/")).send().await {
            Ok(r) if r.status() == 200 => break,
            _ if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("handler never answered GET /: {other:?}"),
        }
    }

    let mut sent = Vec::new();
    let (status, body) = post_cf(
        &http,
        &base,
        CF_SECRET,
        CREATED_EVENT,
        &incident(1),
        &mut sent,
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("created")),
        "{body}"
    );
    let ticket_id = body["ticketId"].as_u64().expect("a ticket id");

    let (status, body) = post_cf(
        &http,
        &base,
        "whsec-not-ours",
        "evt-log-bad-signature",
        &incident(2),
        &mut sent,
    )
    .await;
    assert_eq!((status, body), (401, json!({"error": "invalid signature"})));

    sandbox.halo.set_down(true);
    let (status, body) =
        post_cf(&http, &base, CF_SECRET, DOWN_EVENT, &incident(3), &mut sent).await;
    assert_eq!(
        (status, body),
        (503, json!({"error": "upstream unavailable"}))
    );
    sandbox.halo.set_down(false);

    let halo_delivery =
        json!({"id": DELIVERY_ID, "event": "Ticket Updated", "ticket_id": ticket_id});
    let (status, body) = post_halo(&http, &base, "not-the-halo-secret", &halo_delivery).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "invalid callback secret"}))
    );

    sandbox.halo.add_agent_note(
        ticket_id,
        "Jane Tech",
        3,
        &format!("<p>note text {NOTE_MARKER}</p>"),
        false,
    );
    sandbox.cf.set_down(true);
    let (status, body) = post_halo(&http, &base, HALO_SECRET, &halo_delivery).await;
    assert_eq!(
        (status, body),
        (503, json!({"error": "upstream unavailable"}))
    );
    sandbox.cf.set_down(false);

    // Let the last lines reach the file, then stop the child by its PID.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.0.kill();
    let _ = child.0.wait();
    drop(child);
    sandbox.stop().await;
    let log = std::fs::read_to_string(&log_path).expect("log readable as UTF-8");
    let _ = std::fs::remove_file(&log_path);
    Run {
        log,
        ticket_id,
        secrets,
        sent_signatures: sent,
    }
}

/// Runs of 64 or more lowercase hex digits: the sandbox's access tokens are 64 of them.
fn long_hex_runs(text: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        let hex = c.is_ascii_digit() || ('a'..='f').contains(&c);
        match (hex, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= 64 {
                    runs.push(&text[s..i]);
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

fn assert_nothing_leaks(run: &Run) {
    let log = &run.log;
    for (name, value) in &run.secrets {
        assert!(!log.contains(value.as_str()), "{name} leaked:\n{log}");
    }
    // The sandbox's bearer tokens cannot be read back; they are 64 lowercase hex digits, so no
    // such run may appear except the signatures we sent ourselves.
    let tokens: Vec<&str> = long_hex_runs(log)
        .into_iter()
        .filter(|run_text| !run.sent_signatures.iter().any(|s| s == run_text))
        .collect();
    assert!(
        tokens.is_empty(),
        "token-like values in the log: {tokens:?}\n{log}"
    );
    assert!(
        !log.contains("Bearer "),
        "an Authorization value leaked:\n{log}"
    );
    assert!(
        !log.contains(BODY_MARKER),
        "the incident body leaked:\n{log}"
    );
    assert!(!log.contains(NOTE_MARKER), "the Halo note leaked:\n{log}");
}

fn assert_it_logged_the_run(run: &Run) {
    let log = &run.log;
    assert!(log.contains(CREATED_EVENT), "no event id:\n{log}");
    assert!(log.contains(DOWN_EVENT), "no event id of the 503:\n{log}");
    assert!(log.contains(DELIVERY_ID), "no Halo delivery id:\n{log}");
    let id = run.ticket_id.to_string();
    assert!(
        log.lines()
            .any(|l| l.contains("ticket_id") && l.contains(&id)),
        "ticket {id} never logged:\n{log}"
    );
    let answered_503 = |l: &&str| l.contains("status") && l.contains("503");
    assert!(
        log.lines()
            .filter(answered_503)
            .any(|l| l.contains(DOWN_EVENT)),
        "no line about CfToHalo's 503:\n{log}"
    );
    assert!(
        log.lines()
            .filter(answered_503)
            .any(|l| l.contains(DELIVERY_ID) || l.contains("HaloToCf")),
        "no line about HaloToCf's 503:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("401") && l.contains("status")),
        "no line about the 401s:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_tell_the_story_of_a_failing_run_without_secrets_tokens_or_payloads() {
    let run = run_with_failures("text").await;
    assert_nothing_leaks(&run);
    assert_it_logged_the_run(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_and_leak_nothing_either() {
    let run = run_with_failures("json").await;
    for line in run.log.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(
            parsed.as_ref().is_ok_and(Value::is_object),
            "not a JSON object: {line}"
        );
    }
    assert_nothing_leaks(&run);
    assert_it_logged_the_run(&run);
}

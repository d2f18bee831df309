//! `LOG_FORMAT=json`: the real executable writes one JSON object per line, and every line
//! logged while a request is handled carries the host's invocation id, the event or delivery
//! id and, once known, the ticket id as top-level fields.

use crate::helpers::start_sandbox;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cf_halo_bridge::contraforce::webhook::sign;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_cf-halo-bridge");
const CF_SECRET: &str = "whsec-telemetry-test";
const HALO_SECRET: &str = "halo-telemetry-secret";
const CF_INVOCATION: &str = "5e3c1a2b-inv-cf-0001";
const HALO_INVOCATION: &str = "9d8e7f60-inv-halo-0002";
const EVENT_ID: &str = "evt-telemetry-1";
const DELIVERY_ID: &str = "d4e5f6a7-telemetry-delivery";

/// Stops the child by its PID when the test ends, pass or fail.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_invocation_event_delivery_and_ticket_ids() {
    let sandbox = start_sandbox().await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = std::env::temp_dir().join(format!(
        "cf-halo-bridge-telemetry-{}-{port}.log",
        std::process::id()
    ));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = Child(
        Command::new(BIN)
            .env_clear()
            .envs(sandbox.settings())
            .env("CF_WEBHOOK_SECRET", CF_SECRET)
            .env("HALO_WEBHOOK_SECRET", HALO_SECRET)
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while !http
        .get(format!("{base}/"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no GET / answer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let body = std::fs::read("tests/data/cf-incident-created.json").unwrap();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let r = http
        .post(format!("{base}/api/CfToHalo"))
        .header("X-Azure-Functions-InvocationId", CF_INVOCATION)
        .header("X-CF-Signature", sign(CF_SECRET, &ts, &body))
        .header("X-CF-Timestamp", ts)
        .header("X-CF-Event-Id", EVENT_ID)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["status"], "created", "{answer}");
    let ticket_id = answer["ticketId"].as_u64().unwrap();

    let r = http
        .post(format!("{base}/api/HaloToCf"))
        .header("X-Azure-Functions-InvocationId", HALO_INVOCATION)
        .header("X-Halo-Secret", HALO_SECRET)
        .json(&json!({"id": DELIVERY_ID, "event": "Ticket Updated", "ticket_id": ticket_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.0.kill();
    let _ = child.0.wait();
    drop(child);
    sandbox.stop().await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);

    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(Value::is_object));
    for line in &lines {
        for key in ["timestamp", "level", "message"] {
            assert!(line.get(key).is_some(), "no {key}: {line}");
        }
    }

    let cf: Vec<&Value> = lines.iter().filter(|l| l["span"] == "CfToHalo").collect();
    assert!(cf.len() >= 2, "CfToHalo logged too little:\n{log}");
    for line in &cf {
        assert_eq!(line["invocation"], CF_INVOCATION, "{line}");
        assert_eq!(line["event_id"], EVENT_ID, "{line}");
    }
    let created = cf
        .iter()
        .find(|l| l["message"] == "created halo ticket")
        .unwrap_or_else(|| panic!("no creation line:\n{log}"));
    assert_eq!(created["ticket_id"], ticket_id);
    let answered = cf
        .iter()
        .find(|l| l["message"] == "answered")
        .unwrap_or_else(|| panic!("no answer line:\n{log}"));
    assert_eq!(answered["ticket_id"], ticket_id);
    assert_eq!(answered["status"], 200);

    let halo: Vec<&Value> = lines.iter().filter(|l| l["span"] == "HaloToCf").collect();
    assert!(!halo.is_empty(), "HaloToCf logged nothing:\n{log}");
    for line in &halo {
        assert_eq!(line["invocation"], HALO_INVOCATION, "{line}");
        assert_eq!(line["delivery_id"], DELIVERY_ID, "{line}");
        assert_eq!(line["ticket_id"], ticket_id, "{line}");
    }
    assert!(
        halo.iter().any(|l| l["message"] == "answered"),
        "no HaloToCf answer line:\n{log}"
    );
    // Lines outside a request carry no request ids.
    assert!(
        lines
            .iter()
            .filter(|l| l.get("span").is_none())
            .all(|l| l.get("invocation").is_none()),
        "{log}"
    );
}

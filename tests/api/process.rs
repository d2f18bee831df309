//! The real executable, started the way the Functions host starts it.

use crate::helpers::{Child, free_port};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cf-halo-bridge");

#[tokio::test]
async fn the_handler_answers_the_host_ping_and_reports_what_is_missing() {
    let port = free_port();
    let _child = Child(
        Command::new(BIN)
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("HALO_AUTH_URL", "http://127.0.0.1:9/auth")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    let ping = loop {
        match client.get(format!("http://127.0.0.1:{port}/")).send().await {
            Ok(r) => break r,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => panic!("handler never became ready: {e}"),
        }
    };
    assert_eq!(ping.status(), 200);
    let r = client
        .post(format!("http://127.0.0.1:{port}/api/HaloToCf"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not configured");
    assert!(
        body["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "HALO_WEBHOOK_SECRET")
    );
}

#[test]
fn a_malformed_setting_stops_start_up_with_one_line_naming_it() {
    let out = Command::new(BIN)
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", free_port().to_string())
        .env("HALO_DEFAULT_CLIENT_ID", "twelve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("HALO_DEFAULT_CLIENT_ID") && stderr.contains("whole number"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn the_demo_runs_end_to_end_and_succeeds() {
    let out = Command::new(BIN)
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("exactly one ticket"), "{stdout}");
    for scene in [
        "ContraForce → Halo",
        "Halo → ContraForce",
        "the third arrow",
        "Reconcile (POST /Reconcile, the timer)",
        "ContraForce API route shape: source (/incidents/Sentinel/…)",
        "a replay: no Halo call",
        "The state store is lost; the next event still finds its ticket",
    ] {
        assert!(stdout.contains(scene), "{scene}:\n{stdout}");
    }
    assert!(!stdout.contains('✗'), "{stdout}");
}

//! The operator commands, run as the real executable against the sandbox: `halo-lookup`,
//! `send-test-event`, and `--help` of every subcommand. `check-config` is in `tools_check_config`,
//! which shares the helpers here.

use crate::helpers::start_sandbox;
use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use crate::helpers::HandlerProcess;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use cf_halo_bridge::contraforce::webhook::sign;
use cf_halo_bridge::sandbox::Sandbox;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cf-halo-bridge");
const CF_SECRET: &str = "whsec-tools-test";

/// Runs the executable with exactly `env` (nothing inherited) off the async runtime.
pub(crate) async fn run(args: &[&str], env: &HashMap<String, String>) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env = env.clone();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .output()
            .expect("the executable runs")
    })
    .await
    .expect("not cancelled")
}

/// The executable's stdout, as text.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The executable's stderr, as text.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The sandbox's settings plus both webhook secrets.
pub(crate) fn sandbox_env(sandbox: &Sandbox) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = sandbox.settings().into_iter().collect();
    env.insert("CF_WEBHOOK_SECRET".into(), CF_SECRET.into());
    env.insert("HALO_WEBHOOK_SECRET".into(), "halo-tools-secret".into());
    env
}

/// What a capture server saw of one request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// The query string.
    pub(crate) query: String,
    /// Header name (lower case) → value.
    pub(crate) headers: HashMap<String, String>,
    /// The body's bytes.
    pub(crate) body: Vec<u8>,
}

/// A loopback server that records every request and answers `status` with a JSON body.
pub(crate) struct Capture {
    /// `http://127.0.0.1:{port}`.
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Capture {
    /// Starts the server on a free loopback port.
    pub(crate) async fn start(status: u16) -> Capture {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let server = HttpServer::new(move || {
            let log = log.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push(Seen {
                        query: req.query_string().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect(),
                        body: body.to_vec(),
                    });
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .json(serde_json::json!({"seen": true}))
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Capture {
            url: format!("http://127.0.0.1:{port}"),
            seen,
            handle,
        }
    }

    /// The requests seen so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Stops the server.
    pub(crate) async fn stop(&self) {
        self.handle.stop(false).await;
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halo_lookup_prints_every_table_of_the_sandbox_and_marks_the_closed_statuses() {
    let sandbox = start_sandbox().await;
    let env = sandbox_env(&sandbox);
    let out = run(&["halo-lookup"], &env).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    for needle in [
        "Ticket types",
        "Security Incident",
        "Priorities",
        "Critical",
        "Statuses",
        "On Hold",
        "Outcomes",
        "Private Note",
        "Teams",
        "SOC",
        "Clients",
        "Example MSP",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    let closed_line = text.lines().find(|l| l.contains("Closed")).unwrap();
    assert!(closed_line.trim_end().ends_with("yes"), "{closed_line}");
    let open_line = text.lines().find(|l| l.contains("In Progress")).unwrap();
    assert!(!open_line.contains("yes"), "{open_line}");
    assert!(text.contains("HALO_CLOSED_STATUS_ID (9)"), "{text}");

    // Without HALO_CLOSED_STATUS_ID: id 9 and names with "closed"/"resolved", and a suggestion.
    let mut guess = env.clone();
    guess.remove("HALO_CLOSED_STATUS_ID");
    let out = run(&["halo-lookup", "statuses"], &guess).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("Outcomes"),
        "only the table asked for:\n{text}"
    );
    assert!(
        text.contains("suggested: HALO_CLOSED_STATUS_ID=9"),
        "{text}"
    );
    let paths: Vec<String> = sandbox
        .halo
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    for table in [
        "TicketType",
        "Priority",
        "Status",
        "Outcome",
        "Team",
        "Client",
    ] {
        assert!(
            paths.iter().any(|p| p == &format!("/api/{table}")),
            "{table} not read: {paths:?}"
        );
    }
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halo_lookup_json_is_one_machine_readable_document() {
    let sandbox = start_sandbox().await;
    let out = run(&["halo-lookup", "--json"], &sandbox_env(&sandbox)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["ticket_types"][0]["id"], 25);
    let priorities = doc["priorities"].as_array().unwrap();
    assert_eq!(priorities.len(), 4);
    assert!(
        priorities[0]["id"].is_string(),
        "the SLA row's GUID id is kept"
    );
    assert_eq!(priorities[1]["slaid"], 1);
    assert_eq!(priorities[1]["priorityid"], 2);
    assert_eq!(priorities[1]["name"], "High");
    let closed: Vec<u64> = doc["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["closed"] == true)
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(closed, [9]);
    let note = doc["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["private_note_outcome"] == true)
        .expect("the note outcome is marked");
    assert_eq!(note["id"], 7);
    assert_eq!(doc["teams"][0]["name"], "SOC");
    assert_eq!(doc["clients"][0]["id"], 1);
    assert!(doc.get("errors").is_none(), "{doc}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halo_lookup_errors_are_one_line_with_a_non_zero_exit() {
    let out = run(&["halo-lookup"], &HashMap::new()).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("HALO_AUTH_URL") && err.contains("HALO_CLIENT_SECRET"),
        "{err}"
    );

    let sandbox = start_sandbox().await;
    let mut env = sandbox_env(&sandbox);
    env.insert("HALO_CLIENT_SECRET".into(), "not-the-secret".into());
    let out = run(&["halo-lookup"], &env).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains("not-the-secret"), "the secret leaked: {err}");

    env.insert("HALO_DEFAULT_CLIENT_ID".into(), "twelve".into());
    let out = run(&["halo-lookup"], &env).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HALO_DEFAULT_CLIENT_ID"));
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_event_signs_the_file_bytes_as_the_portal_does() {
    let capture = Capture::start(202).await;
    let dir = std::env::temp_dir().join(format!("cf-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("event.json");
    // Odd spacing and key order: the signature must cover these exact bytes.
    let raw = b"{ \"data\": {\"incidentId\":\"x\"},\n  \"type\" : \"incident.created.v1\" }\n";
    std::fs::write(&file, raw).unwrap();
    let url = format!("{}/api/CfToHalo?code=key-in-url", capture.url);
    let env = HashMap::from([("CF_WEBHOOK_SECRET".to_string(), CF_SECRET.to_string())]);
    let out = run(
        &[
            "send-test-event",
            "--url",
            &url,
            "--file",
            file.to_str().unwrap(),
            "--event-id",
            "evt-tools-1",
            "--test-flag",
            "--function-key",
            "key-in-header",
        ],
        &env,
    )
    .await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("HTTP 202"), "{text}");
    assert!(
        text.contains("\"seen\": true"),
        "the answer is printed: {text}"
    );
    assert!(
        !text.contains("key-in-url"),
        "the function key is printed: {text}"
    );

    let seen = capture.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.body, raw, "the body is the file's bytes as-is");
    assert_eq!(s.query, "code=key-in-url");
    let ts = &s.headers["x-cf-timestamp"];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(ts.parse::<u64>().unwrap()) < 60, "{ts}");
    assert_eq!(s.headers["x-cf-signature"], sign(CF_SECRET, ts, raw));
    assert_eq!(s.headers["x-cf-event-id"], "evt-tools-1");
    assert_eq!(s.headers["x-cf-schema"], "incident.created.v1");
    assert_eq!(s.headers["x-cf-test"], "true");
    assert_eq!(s.headers["x-functions-key"], "key-in-header");
    assert_eq!(s.headers["content-type"], "application/json");
    capture.stop().await;

    // A non-2xx answer is exit 1, with the answer printed.
    let refusing = Capture::start(500).await;
    let out = run(
        &["send-test-event", "--url", &refusing.url, "--secret", "s"],
        &HashMap::new(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("HTTP 500"));
    let seen = refusing.seen();
    assert!(!seen[0].headers.contains_key("x-cf-test"));
    assert!(
        seen[0].headers["x-cf-event-id"].starts_with("test-"),
        "a fresh event id by default"
    );
    refusing.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_event_creates_a_ticket_once_through_the_real_handler() {
    let sandbox = start_sandbox().await;
    let env = sandbox_env(&sandbox);
    let handler = HandlerProcess::start(&env).await;
    let with_code = format!("{}/api/CfToHalo?code=ignored-locally", handler.address);
    let args = |url: &str| -> Vec<String> {
        [
            "send-test-event",
            "--url",
            url,
            "--event-id",
            "evt-tools-real",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let first = args(&with_code);
    let out = run(&first.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("\"created\""), "{}", stdout(&out));

    // The same event id again, to the bare base URL, with the key as a header: a duplicate.
    let mut again = args(&handler.address);
    again.extend(["--function-key".to_string(), "k".to_string()]);
    let out = run(&again.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains("\"duplicate\""), "{}", stdout(&out));

    // A portal test delivery creates nothing.
    let out = run(
        &["send-test-event", "--url", &handler.address, "--test-flag"],
        &env,
    )
    .await;
    assert!(stdout(&out).contains("\"test\""), "{}", stdout(&out));
    assert_eq!(sandbox.halo.tickets().len(), 1);

    // The wrong secret: 401, exit 1.
    let out = run(
        &[
            "send-test-event",
            "--url",
            &handler.address,
            "--secret",
            "wrong",
        ],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("HTTP 401"), "{}", stdout(&out));

    // No secret at all, or an unreadable file: one line, exit 2.
    let mut no_secret = env.clone();
    no_secret.remove("CF_WEBHOOK_SECRET");
    let out = run(&["send-test-event", "--url", &handler.address], &no_secret).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let out = run(
        &[
            "send-test-event",
            "--url",
            &handler.address,
            "--file",
            "/nonexistent/e.json",
        ],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/e.json"));
    drop(handler);
    sandbox.stop().await;
}

#[test]
fn every_subcommand_has_help() {
    for command in [
        "serve",
        "demo",
        "sandbox",
        "halo-lookup",
        "send-test-event",
        "check-config",
        "bench",
        "bench-burst",
    ] {
        let out = Command::new(BIN)
            .args([command, "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command} --help failed");
        assert!(text.contains("Usage:"), "{command}:\n{text}");
    }
    let out = Command::new(BIN)
        .args(["send-test-event"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing --url is a usage error"
    );
}

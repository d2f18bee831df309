//! `spawn_app`: the handler in-process on a free port, wired to a fresh sandbox.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use cf_halo_bridge::clock::{Clock as _, FixedClock};
use cf_halo_bridge::contraforce::webhook::sign;
use cf_halo_bridge::sandbox::{Sandbox, WebhookAuth, WebhookResult};
use cf_halo_bridge::secrets::SecretSource;
use cf_halo_bridge::settings::Settings;
use cf_halo_bridge::startup::{Application, Overrides};
use serde_json::{Value, json};

/// The ContraForce signing secret the test app is configured with.
pub const CF_SECRET: &str = "whsec_test_current";
/// Its previous value, still accepted.
pub const CF_SECRET_PREVIOUS: &str = "whsec_test_previous";
/// The `X-Halo-Secret` the test app expects.
pub const HALO_SECRET: &str = "halo-shared-secret-0123456789";
/// A fixed "now" for signatures.
pub const NOW: i64 = 1_776_870_000;

/// The sandbox of one test. When the test ends (without another failure), it asserts that no
/// client sent Halo a name Halo's published API does not define (CONTRACT §11.1): every API test
/// gets its sandbox here, so none can forget the check (`layout` proves it).
pub struct TestSandbox(Sandbox);

impl std::ops::Deref for TestSandbox {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.0
    }
}

impl Clone for TestSandbox {
    fn clone(&self) -> Self {
        TestSandbox(self.0.clone())
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let undocumented = self.0.halo.undocumented_names();
        assert!(
            undocumented.is_empty(),
            "the bridge sent Halo names its published API does not define: {undocumented:?}"
        );
    }
}

/// Starts both fakes for one test.
pub async fn start_sandbox() -> TestSandbox {
    TestSandbox(Sandbox::start().await.expect("sandbox starts"))
}

/// A running handler and the sandbox it talks to.
pub struct TestApp {
    pub address: String,
    pub sandbox: TestSandbox,
    pub clock: Arc<FixedClock>,
    pub http: reqwest::Client,
    pub state: actix_web::web::Data<cf_halo_bridge::startup::AppState>,
    handle: ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // stop() sends the command at once; nothing needs to wait for it here.
        drop(self.handle.stop(false));
    }
}

/// The default environment for a sandbox: both functions configured.
pub fn base_env(sandbox: &Sandbox) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = sandbox.settings().into_iter().collect();
    env.insert("CF_WEBHOOK_SECRET".into(), CF_SECRET.into());
    env.insert(
        "CF_WEBHOOK_SECRET_PREVIOUS".into(),
        CF_SECRET_PREVIOUS.into(),
    );
    env.insert("HALO_WEBHOOK_SECRET".into(), HALO_SECRET.into());
    env.insert("REQUEST_DEADLINE_SECONDS".into(), "10".into());
    // Every run finds every item due (back-offs are tested where a test sets them).
    env.insert("RECONCILE_RETRY_SECONDS".into(), "0".into());
    env
}

/// Spawns the handler with the default environment.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process stopped by its PID when the test ends, pass or fail.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Which state store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// In process.
    Memory,
    /// Azure Blob Storage on the shared Azurite, in a fresh container.
    Blob,
}

/// Environment settings selecting a state store.
pub fn store_env(store: Store) -> Vec<(String, String)> {
    match store {
        Store::Memory => vec![("STATE_STORE".into(), "memory".into())],
        Store::Blob => {
            let azurite = crate::azurite::Azurite::shared();
            let url = azurite.container_url(&crate::azurite::Azurite::new_container());
            vec![
                ("STATE_STORE".into(), "blob".into()),
                ("STATE_BLOB_URL".into(), url),
            ]
        }
    }
}

/// Spawns the handler on the given store after `configure` adjusts the environment.
pub async fn spawn_app_on_store(
    store: Store,
    configure: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let env_for_store = tokio::task::spawn_blocking(move || store_env(store))
        .await
        .unwrap();
    spawn_app_with(|env| {
        env.extend(env_for_store);
        configure(env);
    })
    .await
}

/// The real executable, serving on a free port with this environment; killed when dropped.
pub struct HandlerProcess {
    pub address: String,
    child: std::process::Child,
}

impl HandlerProcess {
    /// Starts the binary and waits until it answers `GET /`.
    pub async fn start(env: &HashMap<String, String>) -> HandlerProcess {
        let port = free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_cf-halo-bridge"))
            .env_clear()
            .envs(env)
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("handler starts");
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        while client.get(format!("{address}/")).send().await.is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "handler never became ready"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        HandlerProcess { address, child }
    }

    /// SIGKILL, as a recycled or crashed instance dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HandlerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A signing time near `now`, different for every call (up to 200 calls in a row): each
/// delivery ContraForce sends is signed anew, and the same MAC twice is a replay (CONTRACT §8.2).
pub fn signing_time(now: i64) -> String {
    static SEQ: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (now - seq.rem_euclid(200)).to_string()
}

/// POSTs a correctly signed ContraForce delivery to any handler address.
pub async fn post_cf_to(
    http: &reqwest::Client,
    address: &str,
    event_id: &str,
    body: &Value,
    now: i64,
) -> (u16, Value) {
    let body = serde_json::to_vec(body).unwrap();
    let ts = signing_time(now);
    let r = http
        .post(format!("{address}/api/CfToHalo"))
        .header("X-CF-Signature", sign(CF_SECRET, &ts, &body))
        .header("X-CF-Timestamp", ts)
        .header("X-CF-Event-Id", event_id)
        .body(body)
        .send()
        .await
        .expect("request sent");
    answer(r).await
}

/// Spawns the handler after `configure` adjusts the environment.
pub async fn spawn_app_with(configure: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let sandbox = start_sandbox().await;
    let mut env = base_env(&sandbox);
    configure(&mut env);
    spawn_app_on(sandbox, env).await
}

/// Spawns the handler against an existing sandbox with this environment.
pub async fn spawn_app_on(sandbox: TestSandbox, env: HashMap<String, String>) -> TestApp {
    spawn_app_full(sandbox, env, None).await
}

/// Spawns the handler on a state store the test provides.
pub async fn spawn_app_with_store(
    store: Arc<dyn cf_halo_bridge::state::StateStore>,
    configure: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let sandbox = start_sandbox().await;
    let mut env = base_env(&sandbox);
    configure(&mut env);
    let settings = Settings::from_vars(&env).expect("valid test settings");
    let clock = Arc::new(FixedClock::at(NOW));
    let overrides = Overrides {
        clock: clock.clone(),
        store: Some(store),
        ..Overrides::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("free port");
    let app = Application::with_listener(&settings, overrides, listener).expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        sandbox,
        clock,
        http: reqwest::Client::new(),
        state,
        handle,
    }
}

/// Spawns the handler with a stand-in for Key Vault as the source of missing secrets.
pub async fn spawn_app_with_secret_source(
    source: Arc<dyn SecretSource>,
    configure: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let sandbox = start_sandbox().await;
    let mut env = base_env(&sandbox);
    configure(&mut env);
    spawn_app_full(sandbox, env, Some(source)).await
}

async fn spawn_app_full(
    sandbox: TestSandbox,
    env: HashMap<String, String>,
    secret_source: Option<Arc<dyn SecretSource>>,
) -> TestApp {
    let settings = Settings::from_vars(&env).expect("valid test settings");
    let clock = Arc::new(FixedClock::at(NOW));
    let overrides = Overrides {
        clock: clock.clone(),
        secret_source,
        ..Overrides::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("free port");
    let app = Application::with_listener(&settings, overrides, listener).expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        sandbox,
        clock,
        http: reqwest::Client::new(),
        state,
        handle,
    }
}

/// A fixture-shaped incident with its own id and number.
pub fn incident(n: u64) -> Value {
    let mut body: Value = serde_json::from_str(
        &std::fs::read_to_string("../shared/fixtures/cf-incident-created.json").unwrap(),
    )
    .unwrap();
    body["data"]["incidentId"] = json!(format!("incident-{n}"));
    body["data"]["incidentNumber"] = json!(n);
    body
}

impl TestApp {
    /// POSTs raw bytes with exactly these headers.
    pub async fn post_raw(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.address)).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.expect("request sent")
    }

    /// POSTs a correctly signed ContraForce delivery.
    pub async fn post_cf(&self, event_id: &str, body: &Value) -> reqwest::Response {
        // X-CF-Schema names the body's own type, as ContraForce sends it.
        let schema = body["type"].as_str().unwrap_or("incident.created.v1");
        self.post_cf_signed(event_id, schema, serde_json::to_vec(body).unwrap())
            .await
    }

    /// POSTs signed raw bytes as a ContraForce `incident.created.v1` delivery.
    pub async fn post_cf_bytes(&self, event_id: &str, body: Vec<u8>) -> reqwest::Response {
        self.post_cf_signed(event_id, "incident.created.v1", body)
            .await
    }

    async fn post_cf_signed(
        &self,
        event_id: &str,
        schema: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let ts = signing_time(self.clock.now_unix());
        let schema = schema.to_string();
        let headers = [
            ("X-CF-Signature", sign(CF_SECRET, &ts, &body)),
            ("X-CF-Timestamp", ts),
            ("X-CF-Event-Id", event_id.to_string()),
            ("X-CF-Schema", schema),
            ("Content-Type", "application/json".to_string()),
        ];
        self.post_raw("/api/CfToHalo", &headers, body).await
    }

    /// POSTs a Halo delivery with the shared secret.
    pub async fn post_halo(&self, body: &Value) -> reqwest::Response {
        let headers = [
            ("X-Halo-Secret", HALO_SECRET.to_string()),
            ("Content-Type", "application/json".into()),
        ];
        self.post_raw("/api/HaloToCf", &headers, serde_json::to_vec(body).unwrap())
            .await
    }

    /// Has the fake Halo send its webhook for a ticket, authenticated with the shared secret.
    pub async fn halo_webhook(&self, ticket_id: u64) -> WebhookResult {
        let auth = WebhookAuth::Header {
            name: "X-Halo-Secret".into(),
            value: HALO_SECRET.into(),
        };
        let url = format!("{}/api/HaloToCf", self.address);
        self.sandbox
            .halo
            .send_webhook(&url, ticket_id, "ticket updated", &auth)
            .await
            .expect("webhook sent")
    }

    /// Creates a ticket through CfToHalo and returns its id.
    pub async fn create_ticket(&self, n: u64) -> u64 {
        let r = self.post_cf(&format!("evt-{n}"), &incident(n)).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "created", "{body}");
        body["ticketId"].as_u64().unwrap()
    }

    /// Has the Functions host fire the Reconcile timer: `POST /Reconcile` with the JSON
    /// invocation body a timer trigger gets (reference/azure.md §1.6). Status and whole answer.
    pub async fn fire_timer(&self) -> (u16, Value) {
        let r = self
            .post_raw(
                "/Reconcile",
                &[("Content-Type", "application/json".into())],
                serde_json::to_vec(&timer_invocation()).unwrap(),
            )
            .await;
        answer(r).await
    }

    /// Fires the Reconcile timer and returns the run's summary (`ReturnValue`).
    pub async fn reconcile(&self) -> Value {
        let (status, body) = self.fire_timer().await;
        assert_eq!(status, 200, "{body}");
        body["ReturnValue"].clone()
    }

    /// Halo API calls (token calls excluded).
    pub fn halo_api_calls(&self) -> usize {
        self.sandbox.halo.api_requests()
    }
}

/// The body the Functions host POSTs to a timer-triggered custom handler function.
pub fn timer_invocation() -> Value {
    json!({
        "Data": {
            "timer": {
                "Schedule": {"AdjustForDST": true},
                "ScheduleStatus": {
                    "Last": "2026-12-01T19:55:00+00:00",
                    "Next": "2026-12-01T20:05:00+00:00",
                    "LastUpdated": "2026-12-01T19:55:00+00:00"
                },
                "IsPastDue": false
            }
        },
        "Metadata": {
            "sys": {
                "MethodName": "Reconcile",
                "UtcNow": "2026-12-01T20:00:00.0123456Z",
                "RandGuid": "3f1c9a52-7d2e-4b8a-9c61-0e5f4d3b2a19"
            }
        }
    })
}

/// Status and JSON body of a response.
pub async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// The `GET /api/Tickets` listings sent so far (not the ticket reads), with their query strings.
pub fn ticket_lists(app: &TestApp) -> Vec<String> {
    app.sandbox
        .halo
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.eq_ignore_ascii_case("/api/Tickets"))
        .map(|r| r.query)
        .collect()
}

//! A fake ContraForce API: records the comments and status changes the bridge sends.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::common::{self, Fault, Gate, RecordedRequest, json};

/// Service-account client id the fake accepts.
pub const CF_CLIENT_ID: &str = "sandbox-cf-client";
/// Service-account secret the fake accepts.
pub const CF_CLIENT_SECRET: &str = "sandbox-cf-secret";
/// The only workspace the fake knows.
pub const CF_WORKSPACE_ID: &str = "5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d";

const API_PREFIX: &str = "/api/v2/workspaces/";

/// A comment posted to an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CfComment {
    /// Incident id, percent-decoded.
    pub incident_id: String,
    /// The incident path segment exactly as received (still percent-encoded).
    pub raw_incident_segment: String,
    /// The JSON body.
    pub body: Value,
}

/// A status change sent for an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CfStatusUpdate {
    /// Incident id, percent-decoded.
    pub incident_id: String,
    /// The incident path segment exactly as received (still percent-encoded).
    pub raw_incident_segment: String,
    /// The JSON body.
    pub body: Value,
}

/// A running fake ContraForce API; clones share the same server and state.
#[derive(Clone)]
pub struct FakeContraForce {
    inner: Arc<Inner>,
    port: u16,
    handle: ServerHandle,
}

#[derive(Default)]
struct Inner {
    gate: Gate,
    records: Mutex<Records>,
}

#[derive(Default)]
struct Records {
    comments: Vec<CfComment>,
    statuses: Vec<CfStatusUpdate>,
}

impl FakeContraForce {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> io::Result<FakeContraForce> {
        FakeContraForce::start_on(0).await
    }

    /// Starts the fake on `port` (0 = a free port).
    pub async fn start_on(port: u16) -> io::Result<FakeContraForce> {
        let inner = Arc::new(Inner::default());
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(dispatch))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", port))?;
        let port = common::bound_port(&server.addrs())?;
        let handle = common::spawn(server.run());
        Ok(FakeContraForce {
            inner,
            port,
            handle,
        })
    }

    /// Stops the server (recorded data stays readable).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// `http://127.0.0.1:PORT/api/v2` (the value for `CF_API_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v2", self.port)
    }

    /// Accepted service-account client id.
    pub fn client_id(&self) -> String {
        CF_CLIENT_ID.to_owned()
    }

    /// Accepted service-account secret.
    pub fn client_secret(&self) -> String {
        CF_CLIENT_SECRET.to_owned()
    }

    /// The known workspace id.
    pub fn workspace_id(&self) -> String {
        CF_WORKSPACE_ID.to_owned()
    }

    /// Comments accepted so far, oldest first.
    pub fn comments(&self) -> Vec<CfComment> {
        self.records().comments.clone()
    }

    /// Status changes accepted so far, oldest first.
    pub fn status_updates(&self) -> Vec<CfStatusUpdate> {
        self.records().statuses.clone()
    }

    /// Every `/api` request so far, whatever it was answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.gate.requests()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.inner.gate.clear_requests();
    }

    /// Logged requests with this method whose path starts with `path_prefix` (case-insensitive).
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.inner.gate.count(method, path_prefix)
    }

    /// While down, every `/api` request gets 503.
    pub fn set_down(&self, down: bool) {
        self.inner.gate.set_down(down);
    }

    /// Queues a fault: the next matching request gets it instead of normal service.
    pub fn push_fault(&self, f: Fault) {
        self.inner.gate.push_fault(f);
    }

    /// Delays every `/api` answer by `d`.
    pub fn set_delay(&self, d: Duration) {
        self.inner.gate.set_delay(d);
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        common::lock(&self.inner.records)
    }
}

/// What an API path asks for.
enum Target {
    Comments,
    Status,
}

/// Every request lands here; the raw URI path is used so `%2F` in an incident id stays one segment.
async fn dispatch(req: HttpRequest, body: web::Bytes, fake: web::Data<Inner>) -> HttpResponse {
    let path = req.uri().path().to_owned();
    if let Some(control) = path.strip_prefix("/_sandbox/") {
        return fake.control(req.method().as_str(), control);
    }
    let response = fake.serve(&req, &path, &body).await;
    fake.gate.record(&req, &body, &response);
    response
}

impl Inner {
    fn records(&self) -> MutexGuard<'_, Records> {
        common::lock(&self.records)
    }

    async fn serve(&self, req: &HttpRequest, path: &str, body: &[u8]) -> HttpResponse {
        let method = req.method().as_str();
        let down = json!({ "error": "unavailable" });
        if let Some(response) = self.gate.intercept(method, path, down).await {
            return response;
        }
        let Some((workspace, raw_incident, target)) = route(path) else {
            return json(404, json!({ "error": "not found" }));
        };
        match (&target, method) {
            (Target::Comments, "POST") | (Target::Status, "PUT") => {}
            _ => return json(405, json!({ "error": "method not allowed" })),
        }
        if !authorized(req) {
            return json(401, json!({ "error": "unauthorized" }));
        }
        if workspace != CF_WORKSPACE_ID {
            return json(404, json!({ "error": "workspace not found" }));
        }
        let Ok(incident_id) = percent_decode_str(raw_incident).decode_utf8() else {
            return json(400, json!({ "message": "incident id is not valid UTF-8" }));
        };
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
            return json(400, json!({ "message": "body must be a JSON object" }));
        };
        let incident_id = incident_id.into_owned();
        let raw_incident_segment = raw_incident.to_owned();
        match target {
            Target::Comments => {
                if let Some(missing) = missing_text(&fields, "content") {
                    return missing;
                }
                self.records().comments.push(CfComment {
                    incident_id,
                    raw_incident_segment,
                    body: Value::Object(fields),
                });
                json(201, json!({ "id": uuid::Uuid::new_v4().to_string() }))
            }
            Target::Status => {
                if let Some(missing) = missing_text(&fields, "status") {
                    return missing;
                }
                self.records().statuses.push(CfStatusUpdate {
                    incident_id,
                    raw_incident_segment,
                    body: Value::Object(fields),
                });
                json(200, json!({ "ok": true }))
            }
        }
    }

    /// `/_sandbox/...`: read-only views for manual use; not logged.
    fn control(&self, method: &str, path: &str) -> HttpResponse {
        match (method, path.trim_end_matches('/')) {
            ("GET", "comments") => json(200, json!(self.records().comments)),
            ("GET", "status") => json(200, json!(self.records().statuses)),
            ("GET", "requests") => json(200, json!(self.gate.requests())),
            _ => json(404, json!({ "error": "not found" })),
        }
    }
}

/// `/api/v2/workspaces/{ws}/incidents/{incident}/{comments|status}` → its parts, raw.
fn route(path: &str) -> Option<(&str, &str, Target)> {
    let prefix = path.get(..API_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(API_PREFIX) {
        return None;
    }
    let segments: Vec<&str> = path[API_PREFIX.len()..].split('/').collect();
    let [workspace, incidents, incident, action] = segments.as_slice() else {
        return None;
    };
    if !incidents.eq_ignore_ascii_case("incidents") || incident.is_empty() {
        return None;
    }
    let target = if action.eq_ignore_ascii_case("comments") {
        Target::Comments
    } else if action.eq_ignore_ascii_case("status") {
        Target::Status
    } else {
        return None;
    };
    Some((workspace, incident, target))
}

/// `Authorization: Basic base64(clientId:clientSecret)` with the sandbox credentials.
fn authorized(req: &HttpRequest) -> bool {
    let expected = format!("{CF_CLIENT_ID}:{CF_CLIENT_SECRET}");
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| BASE64.decode(encoded.trim()).ok())
        .is_some_and(|decoded| decoded == expected.as_bytes())
}

/// ContraForce's 400 answer when `key` is not a non-empty string.
fn missing_text(fields: &Map<String, Value>, key: &str) -> Option<HttpResponse> {
    match fields.get(key).and_then(Value::as_str) {
        Some(value) if !value.trim().is_empty() => None,
        _ => Some(json(
            400,
            json!({ "message": format!("{key} is required") }),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client builds")
    }

    fn incident_url(
        cf: &FakeContraForce,
        workspace: &str,
        raw_incident: &str,
        what: &str,
    ) -> String {
        format!(
            "{}/workspaces/{workspace}/incidents/{raw_incident}/{what}",
            cf.base_url()
        )
    }

    async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn comments_are_recorded_with_decoded_and_raw_incident_ids() {
        let cf = FakeContraForce::start().await.expect("fake CF starts");
        let url = incident_url(&cf, CF_WORKSPACE_ID, "a%7Cb%2Fc", "comments");
        let comment =
            json!({"incidentId": "a|b/c", "content": "[Halo ticket #1000 note by Jane]\n\nhi"});
        let (status, body) = send(
            client()
                .post(&url)
                .basic_auth(CF_CLIENT_ID, Some(CF_CLIENT_SECRET))
                .json(&comment),
        )
        .await;
        assert_eq!(status, 201);
        assert!(body["id"].is_string());
        let comments = cf.comments();
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0].incident_id, "a|b/c");
        assert_eq!(comments[0].raw_incident_segment, "a%7Cb%2Fc");
        assert_eq!(comments[0].body, comment);
        assert_eq!(
            cf.requests()[0].path,
            "/api/v2/workspaces/5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d/incidents/a%7Cb%2Fc/comments"
        );
        cf.stop().await;
    }

    #[tokio::test]
    async fn basic_auth_workspace_and_body_are_enforced() {
        let cf = FakeContraForce::start().await.expect("fake CF starts");
        let url = incident_url(&cf, CF_WORKSPACE_ID, "abc", "comments");
        let body = json!({"content": "x"});
        let (status, answer) = send(client().post(&url).json(&body)).await;
        assert_eq!((status, answer), (401, json!({"error": "unauthorized"})));
        let (status, _) = send(
            client()
                .post(&url)
                .basic_auth(CF_CLIENT_ID, Some("wrong"))
                .json(&body),
        )
        .await;
        assert_eq!(status, 401);

        let authed = |request: reqwest::RequestBuilder| {
            request.basic_auth(CF_CLIENT_ID, Some(CF_CLIENT_SECRET))
        };
        let other = incident_url(
            &cf,
            "00000000-0000-0000-0000-000000000000",
            "abc",
            "comments",
        );
        let (status, _) = send(authed(client().post(other)).json(&body)).await;
        assert_eq!(status, 404);
        let (status, answer) =
            send(authed(client().post(&url)).json(&json!({"content": ""}))).await;
        assert_eq!(
            (status, answer),
            (400, json!({"message": "content is required"}))
        );
        let (status, _) = send(authed(client().post(&url)).json(&json!(["content"]))).await;
        assert_eq!(status, 400);

        let status_url = incident_url(&cf, CF_WORKSPACE_ID, "abc", "status");
        let (status, _) =
            send(authed(client().put(&status_url)).json(&json!({"comment": "x"}))).await;
        assert_eq!(status, 400);
        let close = json!({"incidentId": "abc", "status": "Closed"});
        let (status, answer) = send(authed(client().put(&status_url)).json(&close)).await;
        assert_eq!((status, answer), (200, json!({"ok": true})));
        assert_eq!(cf.status_updates()[0].body, close);
        assert!(cf.comments().is_empty());
        assert_eq!(cf.count("PUT", "/api/v2/workspaces"), 2);

        let listed = client()
            .get(format!("http://127.0.0.1:{}/_sandbox/status", cf.port))
            .send()
            .await
            .expect("list");
        let listed: Value = listed.json().await.expect("JSON");
        assert_eq!(listed[0]["incident_id"], "abc");
    }

    #[tokio::test]
    async fn outages_and_faults_replace_normal_answers() {
        let cf = FakeContraForce::start().await.expect("fake CF starts");
        let url = incident_url(&cf, CF_WORKSPACE_ID, "abc", "comments");
        let post = || {
            client()
                .post(&url)
                .basic_auth(CF_CLIENT_ID, Some(CF_CLIENT_SECRET))
                .json(&json!({"content": "x"}))
        };
        cf.set_down(true);
        assert_eq!(send(post()).await, (503, json!({"error": "unavailable"})));
        cf.set_down(false);
        cf.push_fault(Fault::on("POST", "/api/v2/", 500, r#"{"error":"boom"}"#));
        assert_eq!(send(post()).await, (500, json!({"error": "boom"})));
        assert_eq!(send(post()).await.0, 201);
        assert_eq!(
            cf.comments().len(),
            1,
            "faulted requests are not recorded as comments"
        );

        cf.push_fault(Fault::reset_on("POST", "/api/v2/"));
        let outcome = match post().send().await {
            Ok(response) => response.bytes().await.map(drop),
            Err(err) => Err(err),
        };
        assert!(outcome.is_err(), "a reset is a transport error");
        assert_eq!(send(post()).await.0, 201);
        let statuses: Vec<u16> = cf.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [503, 500, 201, 0, 201]);
    }
}

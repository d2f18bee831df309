//! For the fakes' own tests: a throwaway webhook receiver that records what it got.

use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

use super::{bound_port, lock, spawn};

/// Headers (lower-case names) and body of every request the receiver got.
pub(crate) type Captured = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A receiver on a free loopback port answering `status` with `answer`; its URL is
/// `http://127.0.0.1:{port}{path}`.
pub(crate) async fn receiver(
    path: &str,
    status: u16,
    answer: Value,
) -> (String, Captured, ServerHandle) {
    let captured: Captured = Arc::default();
    let sink = captured.clone();
    let status = StatusCode::from_u16(status).expect("a valid status");
    let server = HttpServer::new(move || {
        let (sink, answer) = (sink.clone(), answer.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            lock(&sink).push((headers, body.to_vec()));
            let answer = answer.clone();
            async move { HttpResponse::build(status).json(answer) }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("receiver binds");
    let port = bound_port(&server.addrs()).expect("port");
    let handle = spawn(server.run());
    (format!("http://127.0.0.1:{port}{path}"), captured, handle)
}

//! The sandbox and the handler in this process: the start-up `demo` and the benchmarks share,
//! and the stop signal every long-running command waits for. Imports none of its users.

use std::collections::HashMap;
use std::net::TcpListener;

use crate::sandbox::Sandbox;
use crate::settings::Settings;
use crate::startup::{Application, Overrides};

/// The sandbox and the handler, both in this process on free loopback ports.
pub struct Local {
    /// The fakes.
    pub sandbox: Sandbox,
    /// The handler's base URL.
    pub url: String,
    /// Stops the handler.
    pub handle: actix_web::dev::ServerHandle,
}

/// Starts the sandbox, then the handler pointed at it with `extra` settings on top.
pub async fn start_local(extra: &[(&str, &str)]) -> std::io::Result<Local> {
    let sandbox = Sandbox::start().await?;
    let (url, handle) = start_handler(&sandbox, extra)?;
    Ok(Local {
        sandbox,
        url,
        handle,
    })
}

/// Starts a handler (with its own, empty state store) pointed at `sandbox`, with `extra`
/// settings on top; its base URL and what stops it.
pub fn start_handler(
    sandbox: &Sandbox,
    extra: &[(&str, &str)],
) -> std::io::Result<(String, actix_web::dev::ServerHandle)> {
    let mut env: HashMap<String, String> = sandbox.settings().into_iter().collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::from_vars(&env).map_err(std::io::Error::other)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let app = Application::with_listener(&settings, Overrides::default(), listener)?;
    let url = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    Ok((url, handle))
}

/// Resolves on SIGINT or SIGTERM (the host stops the handler with SIGTERM).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

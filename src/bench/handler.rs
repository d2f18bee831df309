//! The benchmarked handler as its own process: spawning it, waiting for readiness, and reading
//! its peak RSS and CPU time from `/proc`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The spawned handler process, killed by its PID when dropped.
pub(super) struct Handler {
    child: Child,
    /// Its base URL on loopback.
    pub(super) url: String,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Handler {
    /// Its process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `{exe} serve` with exactly this environment on a free port; does not wait.
fn spawn_handler(env: &HashMap<String, String>, log: Option<&Path>) -> std::io::Result<Handler> {
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::File::create(path)?),
        None => Stdio::null(),
    };
    let exe = std::env::current_exe()?;
    let port = free_port()?;
    let child = Command::new(exe)
        .arg("serve")
        .env_clear()
        .envs(env)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()?;
    Ok(Handler {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

/// One `GET /` over a fresh connection; true on a 200 answer.
fn ping_once(addr: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Polls `GET /` until it is answered 200; the time from `since`.
fn wait_ready(handler: &mut Handler, since: Instant) -> std::io::Result<Duration> {
    let addr = handler.url.trim_start_matches("http://").to_string();
    loop {
        if ping_once(&addr) {
            return Ok(since.elapsed());
        }
        if let Some(status) = handler.child.try_wait()? {
            return Err(std::io::Error::other(format!(
                "the handler exited with {status} before answering GET /"
            )));
        }
        if since.elapsed() > Duration::from_secs(10) {
            return Err(std::io::Error::other(
                "the handler did not answer GET / within 10 s",
            ));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Exec → first `GET /` answered, `n` times; sorted.
fn cold_starts_blocking(env: &HashMap<String, String>, n: usize) -> std::io::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let started = Instant::now();
        let mut handler = spawn_handler(env, None)?;
        times.push(wait_ready(&mut handler, started)?);
    }
    times.sort();
    Ok(times)
}

/// Exec → first `GET /` answered, `n` times (at least once), polled off the async threads;
/// sorted.
pub(super) async fn cold_starts(
    env: &HashMap<String, String>,
    n: usize,
) -> std::io::Result<Vec<Duration>> {
    let env = env.clone();
    tokio::task::spawn_blocking(move || cold_starts_blocking(&env, n))
        .await
        .map_err(std::io::Error::other)?
}

/// Starts the handler (its log to `log`, else nowhere) and waits until it answers `GET /`.
pub(super) async fn start(
    env: &HashMap<String, String>,
    log: Option<&Path>,
) -> std::io::Result<Handler> {
    let mut handler = spawn_handler(env, log)?;
    let ready_since = Instant::now();
    let (handler, ready) = tokio::task::spawn_blocking(move || {
        let r = wait_ready(&mut handler, ready_since);
        (handler, r)
    })
    .await
    .map_err(std::io::Error::other)?;
    ready?;
    Ok(handler)
}

/// `VmHWM` (peak resident set) of a process, in KiB.
pub(super) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU time a process has used so far.
pub(super) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

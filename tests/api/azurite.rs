//! Azurite (the Azure Storage emulator) for the `blob` store tests: installed by
//! `scripts/test` under `.azurite/`, started on a free loopback port, stopped by PID.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::helpers::free_port;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Azurite's fixed development account.
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn azurite_bin() -> PathBuf {
    let path = std::env::var_os("AZURITE_BLOB_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".azurite/node_modules/.bin/azurite-blob"));
    assert!(
        path.exists(),
        "Azurite is not installed at {}: run ./scripts/test (it installs azurite@3.35 with npm)",
        path.display()
    );
    path
}

/// A command to start and where to send the started child.
type SpawnRequest = (Command, mpsc::Sender<Child>);

/// Spawns a child from one long-lived thread: with PR_SET_PDEATHSIG the child is killed when
/// that thread (so the test process) ends, even if a test panics first.
fn spawn_tied_to_process(mut command: Command) -> Child {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (mut command, reply) in rx {
                let child = command.spawn().expect("azurite starts");
                let _ = reply.send(child);
            }
        });
        Mutex::new(tx)
    });
    unsafe {
        use std::os::unix::process::CommandExt as _;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner.lock().unwrap().send((command, reply_tx)).unwrap();
    reply_rx.recv().unwrap()
}

/// One Azurite blob service.
pub struct Azurite {
    pub port: u16,
    location: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Azurite {
    /// Starts a private instance (the caller may stop and restart it).
    pub fn start() -> Azurite {
        let location = std::env::temp_dir().join(format!("azurite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&location).unwrap();
        let azurite = Azurite {
            port: free_port(),
            location,
            child: Mutex::new(None),
        };
        azurite.resume();
        azurite
    }

    /// The instance shared by every blob test in this process.
    pub fn shared() -> Arc<Azurite> {
        static SHARED: OnceLock<Arc<Azurite>> = OnceLock::new();
        SHARED.get_or_init(|| Arc::new(Azurite::start())).clone()
    }

    /// Starts (again) on the same port and data folder.
    pub fn resume(&self) {
        let mut command = Command::new(azurite_bin());
        command
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &self.port.to_string(),
            ])
            .arg("--location")
            .arg(&self.location)
            .args([
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_tied_to_process(command);
        *self.child.lock().unwrap() = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "azurite did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it by PID.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A container URL with an account SAS allowed to create the container, as `STATE_BLOB_URL`.
    pub fn container_url(&self, container: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{ACCOUNT}/{container}?{}",
            self.port,
            account_sas()
        )
    }

    /// A fresh container name.
    pub fn new_container() -> String {
        format!("t{}", uuid::Uuid::new_v4().simple())
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.location);
    }
}

/// An account SAS (blob service; service, container and object; every permission) for Azurite.
fn account_sas() -> String {
    let (version, services, types, permissions, expiry, protocol) = (
        "2021-08-06",
        "b",
        "sco",
        "rwdlacup",
        "2099-01-01T00:00:00Z",
        "https,http",
    );
    let to_sign = format!(
        "{ACCOUNT}\n{permissions}\n{services}\n{types}\n\n{expiry}\n\n{protocol}\n{version}\n\n"
    );
    let key = STANDARD.decode(ACCOUNT_KEY).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    let enc = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "sv={version}&ss={services}&srt={types}&sp={permissions}&se={}&spr={}&sig={}",
        enc(expiry),
        enc(protocol),
        enc(&sig)
    )
}

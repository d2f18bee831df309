//! Azurite (the Azure Storage emulator) for what runs the `blob` store locally: the tests, the
//! chaos test and the reconcile benchmark. `scripts/test` installs it under `.azurite/`; it is
//! started on a free loopback port with its own data folder and stopped by PID.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Azurite's fixed development account.
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How a child process is started (tests tie it to their own life).
pub type Spawn = Box<dyn Fn(Command) -> io::Result<Child> + Send + Sync>;

/// Where Azurite is installed: `AZURITE_BLOB_BIN`, else `.azurite/` in the working directory.
pub fn azurite_bin() -> io::Result<PathBuf> {
    let path = std::env::var_os("AZURITE_BLOB_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".azurite/node_modules/.bin/azurite-blob"));
    if path.exists() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "Azurite is not installed at {}: run ./scripts/test once (it installs azurite@3.35 with npm), or set AZURITE_BLOB_BIN",
                path.display()
            ),
        ))
    }
}

/// One Azurite blob service.
pub struct Azurite {
    /// Its loopback port.
    pub port: u16,
    location: PathBuf,
    child: Mutex<Option<Child>>,
    spawn: Spawn,
    /// Nothing written to disk (faster; lost when stopped, so not for tests that restart it).
    in_memory: bool,
}

impl Azurite {
    /// Starts a private instance with `Command::spawn`.
    pub fn start() -> io::Result<Azurite> {
        Azurite::start_with(Box::new(|mut command| command.spawn()))
    }

    /// Starts a private instance that keeps everything in memory (benchmarks, the chaos test).
    pub fn start_in_memory() -> io::Result<Azurite> {
        Azurite::launch(Box::new(|mut command| command.spawn()), true)
    }

    /// Starts a private instance, spawning it with `spawn`.
    pub fn start_with(spawn: Spawn) -> io::Result<Azurite> {
        Azurite::launch(spawn, false)
    }

    fn launch(spawn: Spawn, in_memory: bool) -> io::Result<Azurite> {
        let location = std::env::temp_dir().join(format!("azurite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&location)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let azurite = Azurite {
            port,
            location,
            child: Mutex::new(None),
            spawn,
            in_memory,
        };
        azurite.resume()?;
        Ok(azurite)
    }

    /// Starts (again) on the same port and data folder.
    pub fn resume(&self) -> io::Result<()> {
        let mut command = Command::new(azurite_bin()?);
        command.args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &self.port.to_string(),
        ]);
        // Azurite refuses a data folder together with in-memory persistence.
        if !self.in_memory {
            command.arg("--location").arg(&self.location);
        }
        command
            .args([
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.in_memory {
            command.arg("--inMemoryPersistence");
        }
        let child = (self.spawn)(command)?;
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(io::Error::other("azurite did not start within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stops it by PID.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
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
    let key = STANDARD
        .decode(ACCOUNT_KEY)
        .expect("the development key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
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

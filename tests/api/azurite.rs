//! Azurite for the `blob` store tests: the library's launcher (`sandbox::azurite`), with each
//! instance tied to this test process so a panicking test never leaves one running.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

pub use cf_halo_bridge::sandbox::azurite::Azurite as Instance;

/// A command to start and where to send the started child.
type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns a child from one long-lived thread: with PR_SET_PDEATHSIG the child is killed when
/// that thread (so the test process) ends, even if a test panics first.
fn spawn_tied_to_process(mut command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
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

/// The tests' Azurite.
pub struct Azurite;

impl Azurite {
    /// Starts a private instance (the caller may stop and resume it).
    pub fn start() -> Instance {
        Instance::start_with(Box::new(spawn_tied_to_process)).expect("azurite starts")
    }

    /// The instance shared by every blob test in this process.
    pub fn shared() -> Arc<Instance> {
        static SHARED: OnceLock<Arc<Instance>> = OnceLock::new();
        SHARED.get_or_init(|| Arc::new(Azurite::start())).clone()
    }

    /// A fresh container name.
    pub fn new_container() -> String {
        Instance::new_container()
    }
}

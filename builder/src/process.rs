//! Running the programs a buildpack needs (cargo, make, clang…): their output
//! goes to the build log line by line, and a build past its deadline has them
//! killed, with every process they started.

use anyhow::Context as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

/// Kills a child's whole process group if it is still running at the deadline.
pub(crate) struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<bool>>,
}

impl Watchdog {
    /// Watches `child`, which must lead its own process group (see [`spawn_group`]).
    pub(crate) fn new(child: &Child, deadline: Option<Instant>) -> Watchdog {
        let Some(deadline) = deadline else {
            return Watchdog {
                done: None,
                thread: None,
            };
        };
        let pid = child.id();
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let wait = deadline.saturating_duration_since(Instant::now());
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(wait) {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
                return true;
            }
            false
        });
        Watchdog {
            done: Some(tx),
            thread: Some(thread),
        }
    }

    /// Stops watching; true if the deadline passed and the child was killed.
    pub(crate) fn finish(mut self) -> bool {
        self.done.take();
        self.thread
            .take()
            .is_some_and(|t| t.join().unwrap_or(false))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.take();
    }
}

/// Spawns `command` as the leader of a new process group, so a watchdog can
/// end it together with everything it started.
pub(crate) fn spawn_group(command: &mut Command) -> std::io::Result<Child> {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    command.spawn()
}

/// Runs `command`, sending its stdout and stderr to `log` line by line; fails
/// with its status if it fails or runs past `deadline`.
pub(crate) fn run_logged(
    command: &mut Command,
    log: &mut dyn FnMut(&str),
    deadline: Option<Instant>,
) -> anyhow::Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn_group(command)?;
    let watchdog = Watchdog::new(&child, deadline);
    let stderr = child.stderr.take().context("stderr")?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    let err_tx = tx.clone();
    let readers = [
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        }),
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }),
    ];
    for line in rx {
        log(&line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait()?;
    if watchdog.finish() {
        anyhow::bail!("{program} was stopped: the build ran past its time limit");
    }
    if !status.success() {
        anyhow::bail!("{program} failed ({status}); see the output above");
    }
    Ok(())
}

/// Runs the future `make` returns on a thread of its own with its own
/// current-thread tokio runtime (the WASI host of a Wizer snapshot needs one,
/// and a build may already be inside another's), and returns its result.
pub(crate) fn on_own_runtime<T, F, Fut>(make: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(make())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the Wizer thread panicked"))?
}

/// `~/.cache/kumo/NAME`: build tools kept once per machine and shared by
/// every server on it (the JVM runtime's cargo build, Kumo's PHP).
pub(crate) fn machine_cache(name: &str) -> std::path::PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("kumo")
        .join(name)
}

/// A short key for the contents of `files` (name and text) and `extra`, so
/// that a change to any of them makes a tool anew.
pub(crate) fn content_key(files: &[(&str, &str)], extra: &str) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(extra);
    for (name, text) in files {
        hash.update(name);
        hash.update([0]);
        hash.update(text);
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..8])
}

//! The private Postgres cluster of a server on its embedded defaults: made
//! with Debian's `initdb` under `<data dir>/addons/postgres` the first time an
//! app asks for a database, started with `pg_ctl` then and at every later
//! start-up, so the databases outlive the server's restarts.
//!
//! The administrator connects through a Unix socket in the cluster's folder
//! (trusted, reachable only on this machine's filesystem); dynos reach their
//! database over TCP on `127.0.0.1` with their role's password (SCRAM), the
//! only way in over the network.

use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The package that has `initdb` and `pg_ctl`.
const PACKAGE_HINT: &str = "install Debian's `postgresql` package (apt-get install postgresql) so Kumo can run its own, or give a server with `kumo server --addons-postgres-url postgres://USER:PASSWORD@HOST:PORT/DATABASE`";

/// A private cluster under a server's data folder.
pub struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    pub fn new(dir: impl Into<PathBuf>) -> Cluster {
        Cluster { dir: dir.into() }
    }

    /// Whether the cluster was made before (so a start-up should start it).
    pub fn exists(&self) -> bool {
        self.data().join("PG_VERSION").exists()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Makes the cluster if needed, starts it if it is not running, and
    /// returns the administrator's URL and the `host:port` dynos reach it at.
    pub fn start(&self) -> anyhow::Result<(String, String)> {
        let bin = find_bin().ok_or_else(|| {
            anyhow::anyhow!(
                "no Postgres server for add-ons: `initdb` was not found; {PACKAGE_HINT}"
            )
        })?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let as_root = is_root();
        if as_root {
            // Postgres refuses to run as root: the cluster is the `postgres` user's.
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&self.dir))
            .context("giving the cluster's folder to the `postgres` user")?;
            // Every folder above it must let that user through.
            let mut parent = self.dir.parent();
            while let Some(dir) = parent {
                let _ = Command::new("chmod").arg("o+x").arg(dir).status();
                parent = dir.parent();
            }
        }
        let port_file = self.dir.join("port");
        if !self.exists() {
            let pwfile = self.dir.join("initdb-password");
            std::fs::write(&pwfile, super::postgres::secret())
                .with_context(|| format!("writing {}", pwfile.display()))?;
            if as_root {
                run(Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&pwfile))?;
            }
            let initdb = postgres_command(as_root, &bin.join("initdb"))
                .arg("-D")
                .arg(self.data())
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .output()
                .context("running initdb")?;
            let _ = std::fs::remove_file(&pwfile);
            if !initdb.status.success() {
                let _ = std::fs::remove_dir_all(self.data());
                anyhow::bail!(
                    "initdb failed: {}",
                    String::from_utf8_lossy(&initdb.stderr).trim()
                );
            }
            let port = free_port()?;
            std::fs::write(&port_file, port.to_string())
                .with_context(|| format!("writing {}", port_file.display()))?;
        }
        let port: u16 = std::fs::read_to_string(&port_file)
            .with_context(|| format!("reading {}", port_file.display()))?
            .trim()
            .parse()
            .with_context(|| format!("{} holds no port", port_file.display()))?;
        let running = postgres_command(as_root, &bin.join("pg_ctl"))
            .arg("status")
            .arg("-D")
            .arg(self.data())
            .output()
            .context("running pg_ctl status")?
            .status
            .success();
        if !running {
            let started = postgres_command(as_root, &bin.join("pg_ctl"))
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1",
                    self.dir.display()
                ))
                .output()
                .context("running pg_ctl start")?;
            if !started.status.success() {
                let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                anyhow::bail!(
                    "the add-ons' Postgres cluster in {} did not start: {} {}",
                    self.dir.display(),
                    String::from_utf8_lossy(&started.stderr).trim(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                );
            }
        }
        let admin = format!(
            "postgres://postgres@localhost:{port}/postgres?host={}",
            self.dir.display()
        );
        Ok((admin, format!("127.0.0.1:{port}")))
    }

    /// Stops the cluster (at the server's shutdown).
    pub fn stop(&self) {
        if let Some(bin) = find_bin() {
            let _ = postgres_command(is_root(), &bin.join("pg_ctl"))
                .args(["stop", "-m", "fast", "-D"])
                .arg(self.data())
                .output();
        }
    }
}

/// The folder of `initdb` and `pg_ctl`: on the `PATH`, else Debian's newest
/// `/usr/lib/postgresql/N/bin`.
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program`, run as the `postgres` user when Kumo runs as root.
fn postgres_command(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

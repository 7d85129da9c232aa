//! A private `redis-server` for the tests of the Redis backend: started on a
//! free loopback port with no persistence, in a temporary folder, and killed
//! when dropped. A machine without Debian's `redis-server` fails these tests
//! (`scripts/test` installs it).

use redis::aio::MultiplexedConnection;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The administrator's password.
const PASSWORD: &str = "kumo-test-admin";

pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let Some(bin) = find("redis-server") else {
            panic!(
                "redis-server is missing, and the Redis key-value tests need it: apt-get install redis-server (scripts/test installs it)"
            );
        };
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                PASSWORD,
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let client = redis::Client::open(server.admin_url()).unwrap();
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn admin_url(&self) -> String {
        format!("redis://default:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    pub async fn connect(&self, url: &str) -> MultiplexedConnection {
        redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/bin"), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|bin| bin.is_file())
}

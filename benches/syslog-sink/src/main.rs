//! The syslog receiver `scripts/bench drains` attaches as a drain: it accepts
//! TCP connections on `127.0.0.1:PORT`, reads everything each one sends with
//! large reads and discards it, so that the benchmark measures the server's
//! drains and not the receiver. When its standard input closes it prints the
//! bytes it got and exits.
//!
//!     syslog-sink PORT

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: syslog-sink PORT");
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = vec![0u8; 1 << 18];
                // Ends when the server hangs up (or the process exits).
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
    });
    println!("listening on 127.0.0.1:{port}");
    let _ = std::io::stdout().flush();
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    println!("{}", received.load(Ordering::Relaxed));
}

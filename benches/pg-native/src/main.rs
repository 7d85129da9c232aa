//! `pg-native URL N [current-thread]`: opens one tokio-postgres connection to
//! URL, runs `SELECT 1` N times timing each, and prints the same line as the
//! `addons` benchmark's guest (`benches/addons-guest`, `/pg-loop`): `n`,
//! `total_us`, `p50_us`, `p99_us`, `mean_us`, `open_us`. By default on
//! tokio's multi-threaded runtime (`#[tokio::main]`'s, and Kumo's host's: the
//! connection's task may run on another worker than the loop); with
//! `current-thread`, both on one thread.

use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: pg-native URL N [current-thread]");
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000).max(1);
    let runtime = match args.next().as_deref() {
        Some("current-thread") => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
    .expect("runtime");
    runtime.block_on(run(url, n));
}

async fn run(url: String, n: usize) {
    let start = Instant::now();
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("connection: {e}");
        }
    });
    let open = start.elapsed();
    let mut times = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let rows = client.query("SELECT 1", &[]).await.expect("SELECT 1");
        let one: i32 = rows[0].get(0);
        assert_eq!(one, 1);
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    times.sort();
    let at = |p: usize| times[((times.len() * p).div_ceil(100)).max(1) - 1];
    let mean = times.iter().sum::<Duration>() / n as u32;
    println!(
        "n={n} total_us={:.1} p50_us={:.2} p99_us={:.2} mean_us={:.2} open_us={:.1}",
        micros(total),
        micros(at(50)),
        micros(at(99)),
        micros(mean),
        micros(open)
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

//! The guest of Kumo's `addons` benchmark (`benches/suite/addons.py`): each
//! route runs a loop of N calls through the host, timing each call with
//! `std::time::Instant`, and answers one line of `key=value` pairs: `n`, the
//! loop's wall time `total_us`, and the calls' `p50_us`, `p99_us`, `mean_us`.
//!
//! - `GET /kv-loop?n=N`: N `Store::get`s of one 3-byte key on the app's
//!   default store (its key-value add-on), the store opened once before;
//! - `GET /kv-set-loop?n=N`: N `Store::set`s of that key (3 bytes each,
//!   `redis-benchmark`'s default value size);
//! - `GET /pg-loop?n=N`: N `SELECT 1`s on one connection to `DATABASE_URL`,
//!   opened once before (its open time is `open_us`);
//! - `GET /noop-loop?n=N`: the same loop with no call: what timing costs.
//!
//! An error is a 500 whose body says what failed.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use spin_sdk::pg4::{Connection, Decode};
use std::time::{Duration, Instant};

const KEY: &str = "bench:key";
const VALUE: &[u8] = b"xxx";

#[http_component]
fn handle(request: Request) -> Response {
    let n = request
        .query()
        .split('&')
        .find_map(|pair| pair.strip_prefix("n="))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1000)
        .max(1);
    let answer = match request.path() {
        "/kv-loop" => kv(n, false),
        "/kv-set-loop" => kv(n, true),
        "/pg-loop" => pg(n),
        "/noop-loop" => timed(n, String::new(), || Ok(())),
        _ => return Response::new(404, "not found\n"),
    };
    match answer {
        Ok(body) => Response::new(200, body),
        Err(e) => Response::new(500, format!("error: {e}\n")),
    }
}

fn kv(n: usize, set: bool) -> Result<String, String> {
    let store = Store::open_default().map_err(|e| format!("open: {e:?}"))?;
    store.set(KEY, VALUE).map_err(|e| format!("set: {e:?}"))?;
    if set {
        timed(n, String::new(), || {
            store.set(KEY, VALUE).map_err(|e| format!("set: {e:?}"))
        })
    } else {
        timed(n, String::new(), || match store.get(KEY) {
            Ok(Some(value)) if value == VALUE => Ok(()),
            Ok(other) => Err(format!("get: {other:?}")),
            Err(e) => Err(format!("get: {e:?}")),
        })
    }
}

fn pg(n: usize) -> Result<String, String> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_string())?;
    let start = Instant::now();
    let db = Connection::open(&url).map_err(|e| format!("open: {e:?}"))?;
    let open = start.elapsed();
    timed(n, format!(" open_us={:.1}", micros(open)), || {
        let rows = db
            .query("SELECT 1", &[])
            .map_err(|e| format!("query: {e:?}"))?;
        match rows.rows.first().map(|row| i32::decode(&row[0])) {
            Some(Ok(1)) => Ok(()),
            other => Err(format!("SELECT 1 answered {other:?}")),
        }
    })
}

/// Runs `call` `n` times, timing each; the answer line, with `extra` at its end.
fn timed(
    n: usize,
    extra: String,
    mut call: impl FnMut() -> Result<(), String>,
) -> Result<String, String> {
    let mut times = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        call()?;
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    times.sort();
    let at = |p: usize| times[((times.len() * p).div_ceil(100)).max(1) - 1];
    let mean = times.iter().sum::<Duration>() / n as u32;
    Ok(format!(
        "n={n} total_us={:.1} p50_us={:.2} p99_us={:.2} mean_us={:.2}{extra}\n",
        micros(total),
        micros(at(50)),
        micros(at(99)),
        micros(mean)
    ))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

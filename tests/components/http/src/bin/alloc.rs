//! `/grow` allocates without bound, 16 MiB at a time, until the host refuses
//! to grow memory and the guest traps; any other path answers `alive\n`.

use http_guests::{path, text};
use wstd::http::{Body, Error, Request, Response};

const CHUNK: usize = 16 << 20;

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    if path(&request) == "/grow" {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = Vec::<u8>::with_capacity(CHUNK);
            // Touch every page so the memory is really committed.
            chunk.resize(CHUNK, 0xa5);
            kept.push(std::hint::black_box(chunk));
            let mib = kept.len() * (CHUNK >> 20);
            if mib.is_multiple_of(64) {
                println!("allocated {mib} MiB");
            }
        }
    }
    text(200, "alive\n")
}

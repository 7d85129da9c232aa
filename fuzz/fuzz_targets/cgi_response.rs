//! The CGI response parser on arbitrary program output: a response or an
//! error message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match kumo_runtime::dynos::cgi::parse_response(data) {
        Ok(response) => assert!(response.body().len() <= data.len()),
        Err(message) => assert!(!message.is_empty()),
    }
});

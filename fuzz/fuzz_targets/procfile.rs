//! The Procfile parser on arbitrary text: it returns entries or an error naming
//! a line, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match kumo_builder::procfile::parse(text) {
        Ok(procfile) => {
            for (name, entry) in &procfile {
                assert!(!name.is_empty() && name.len() <= 63, "{name:?}");
                let _ = entry;
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

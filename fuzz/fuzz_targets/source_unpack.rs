//! The source unpacker on arbitrary archives (plain tar, gzip or zstd): it
//! unpacks or refuses, writes nothing outside its folder, and removes the
//! folder when it refuses.
#![no_main]

use kumo_builder::source::{SourceLimits, unpack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(scratch) = tempfile::tempdir() else {
        return;
    };
    let dest = scratch.path().join("src");
    // Small limits, so a bomb costs milliseconds, not gigabytes.
    let limits = SourceLimits {
        max_bytes: 1 << 20,
        max_entries: 1000,
    };
    match unpack(data, &dest, limits) {
        Ok(root) => assert!(root.starts_with(&dest), "{root:?} is outside {dest:?}"),
        Err(_) => assert!(!dest.exists(), "a refused source left {dest:?} behind"),
    }
    // Nothing but `src` may appear beside it.
    let names: Vec<_> = std::fs::read_dir(scratch.path())
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(names.iter().all(|n| n == "src"), "{names:?}");
});

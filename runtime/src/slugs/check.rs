//! What a slug's components declare, checked before the slug is accepted:
//! an initial memory no dyno size could hold, or a table past the engine's
//! limit. Compiling and linking (`Engine::prepare`)
//! catch what is not a component and imports Kumo does not provide; these
//! catch what would only fail while a dyno boots, and so take the app down
//! after its release. Start functions are not refused: the WASI adapter that
//! turns core modules into components has one (see RELIABILITY.md).

use crate::sizes::DynoSize;
use kumo_slug::Manifest;
use std::path::Path;

/// The most table elements an instance may start with: the pooling allocator's slot size.
pub const MAX_TABLE_ELEMENTS: u64 = 200_000;

/// Checks every process type's component under `app_dir`; the error names
/// the process type, the file and what to change.
pub fn check_components(app_dir: &Path, manifest: &Manifest) -> Result<(), String> {
    for (name, process) in &manifest.process_types {
        let path = app_dir.join(&process.component);
        // A file that cannot be read or parsed is reported by the compile step, which says why.
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        check_component(&bytes, &process.component)
            .map_err(|e| format!("process type `{name}`: {e}"))?;
    }
    Ok(())
}

/// Checks one component's (or module's) declarations, nested modules included.
pub fn check_component(bytes: &[u8], file: &str) -> Result<(), String> {
    let largest = DynoSize::ALL
        .iter()
        .copied()
        .max_by_key(|s| s.memory_bytes())
        .unwrap_or_default();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        // Malformed Wasm is the compile step's to report.
        let Ok(payload) = payload else {
            return Ok(());
        };
        match payload {
            wasmparser::Payload::MemorySection(memories) => {
                for memory in memories.into_iter().flatten() {
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                    let bytes = memory.initial.saturating_mul(page);
                    if bytes > largest.memory_bytes() {
                        return Err(format!(
                            "`{file}` declares {} MB of memory at start, more than the largest dyno ({largest}, {} MB) holds: lower its initial memory",
                            bytes >> 20,
                            largest.memory_bytes() >> 20
                        ));
                    }
                }
            }
            wasmparser::Payload::TableSection(tables) => {
                for table in tables.into_iter().flatten() {
                    if table.ty.initial > MAX_TABLE_ELEMENTS {
                        return Err(format!(
                            "`{file}` declares a table of {} elements at start, over Kumo's limit of {MAX_TABLE_ELEMENTS}: lower its initial size",
                            table.ty.initial
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leb(mut n: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend_from_slice(body);
    }

    /// A core module with an exported `memory` of `pages`, an empty exported
    /// `_start`, maybe a table of `table` elements and maybe a start function.
    fn module(pages: u32, table: Option<u32>, start: bool) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        section(1, &[1, 0x60, 0, 0], &mut m);
        section(3, &[1, 0], &mut m);
        if let Some(elements) = table {
            let mut t = vec![1, 0x70, 0];
            leb(elements, &mut t);
            section(4, &t, &mut m);
        }
        let mut memory = vec![1, 0];
        leb(pages, &mut memory);
        section(5, &memory, &mut m);
        let mut exports = vec![2, 6];
        exports.extend_from_slice(b"memory");
        exports.extend_from_slice(&[2, 0, 6]);
        exports.extend_from_slice(b"_start");
        exports.extend_from_slice(&[0, 0]);
        section(7, &exports, &mut m);
        if start {
            section(8, &[0], &mut m);
        }
        section(10, &[1, 2, 0, 0x0b], &mut m);
        m
    }

    #[test]
    fn what_components_may_declare() {
        let plain = module(1, None, false);
        assert_eq!(check_component(&plain, "a.wasm"), Ok(()));
        // The builder's conversion of a plain module passes, adapter included.
        let component = kumo_builder::componentize(&plain).unwrap();
        assert_eq!(check_component(&component, "a.wasm"), Ok(()));
        // Start functions are not refused: the adapter itself has one.
        assert_eq!(check_component(&module(1, None, true), "a.wasm"), Ok(()));
        // 2.5 GB fits a performance-M dyno; 3.75 GB fits none.
        assert_eq!(
            check_component(&module(40_000, None, false), "a.wasm"),
            Ok(())
        );
        let err = check_component(&module(60_000, None, false), "a.wasm").unwrap_err();
        assert_eq!(
            err,
            "`a.wasm` declares 3750 MB of memory at start, more than the largest dyno (performance-M, 2560 MB) holds: lower its initial memory"
        );
        let huge = kumo_builder::componentize(&module(60_000, None, false)).unwrap();
        assert!(
            check_component(&huge, "a.wasm").is_err(),
            "nested modules are checked"
        );
        assert_eq!(
            check_component(&module(1, Some(200_000), false), "a.wasm"),
            Ok(())
        );
        let err = check_component(&module(1, Some(10_000_000), false), "a.wasm").unwrap_err();
        assert!(err.contains("a table of 10000000 elements"), "{err}");
        // What is not Wasm is for the compile step to report.
        assert_eq!(check_component(b"not wasm", "a.wasm"), Ok(()));
    }
}

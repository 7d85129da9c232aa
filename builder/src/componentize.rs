//! Core module → component, with the WASI preview 1 adapter (`wit-component`).

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

/// What a `.wasm` file holds, judged by its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    Component,
    CoreModule,
    NotWasm,
}

/// Reads the Wasm header of `bytes`.
pub fn module_kind(bytes: &[u8]) -> ModuleKind {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        ModuleKind::NotWasm
    } else if bytes[4..8] == [1, 0, 0, 0] {
        ModuleKind::CoreModule
    } else {
        ModuleKind::Component
    }
}

/// Returns `bytes` as a component: components as they are, core modules wrapped
/// with the preview 1 adapter (the command adapter if the module exports `_start`,
/// else the reactor adapter).
pub fn componentize(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    match module_kind(bytes) {
        ModuleKind::Component => Ok(bytes.to_vec()),
        ModuleKind::NotWasm => {
            anyhow::bail!("not a Wasm file: it does not start with the magic bytes `\\0asm`")
        }
        ModuleKind::CoreModule => {
            let adapter = if exports_start(bytes) {
                WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
            } else {
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
            };
            wit_component::ComponentEncoder::default()
                .validate(true)
                .module(bytes)?
                .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)?
                .encode()
                .map_err(|e| {
                    anyhow::anyhow!("converting the core module into a component failed: {e:#}")
                })
        }
    }
}

fn exports_start(bytes: &[u8]) -> bool {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Ok(wasmparser::Payload::ExportSection(exports)) = payload {
            return exports
                .into_iter()
                .flatten()
                .any(|export| export.name == "_start");
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(module_kind(b"\0asm\x01\0\0\0"), ModuleKind::CoreModule);
        assert_eq!(module_kind(b"\0asm\x0d\0\x01\0"), ModuleKind::Component);
        assert_eq!(module_kind(b"hello world"), ModuleKind::NotWasm);
        let err = componentize(b"PK\x03\x04zipfile").unwrap_err().to_string();
        assert!(err.contains("not a Wasm file"), "{err}");
    }
}

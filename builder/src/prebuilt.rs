//! Prebuilt components deployed as they are (`kumo deploy --wasm app.wasm`):
//! made a component if needed, given a process type by what it exports, packed.

use crate::buildpack::{BuildContext, Buildpack, Compiled};
use crate::componentize;
use kumo_slug::{Manifest, PackedSlug, ProcessKind, ProcessType};
use std::collections::BTreeMap;
use std::path::Path;

/// The names a component exports at its top level (`wasi:http/incoming-handler@0.2.12`…).
pub fn component_exports(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(
                wasmparser::Payload::ModuleSection { .. }
                | wasmparser::Payload::ComponentSection { .. },
            ) => depth += 1,
            Ok(wasmparser::Payload::End(_)) => depth = depth.saturating_sub(1),
            Ok(wasmparser::Payload::ComponentExportSection(exports)) if depth == 0 => {
                names.extend(
                    exports
                        .into_iter()
                        .flatten()
                        .map(|e| e.name.name.to_string()),
                );
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    names
}

/// How a component runs as `process_type`: `http` if it exports
/// `wasi:http/incoming-handler`; else, as `web`, a CGI command; else a command.
pub fn kind_for(exports: &[String], process_type: &str) -> anyhow::Result<ProcessKind> {
    let has = |prefix: &str| exports.iter().any(|e| e.starts_with(prefix));
    // A component that is both (Kumo's JVM runtime) serves HTTP as `web` only.
    if has("wasi:http/incoming-handler@") && (process_type == "web" || !has("wasi:cli/run@")) {
        Ok(ProcessKind::Http)
    } else if has("wasi:cli/run@") {
        Ok(if process_type == "web" {
            ProcessKind::Cgi
        } else {
            ProcessKind::Command
        })
    } else {
        anyhow::bail!(
            "the component exports neither wasi:http/incoming-handler nor wasi:cli/run (it exports: {}); Kumo cannot run it",
            if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            }
        )
    }
}

/// Packs `wasm` (a component or a WASI preview 1 module) as the only process
/// type `process_type` of a new slug at `out`.
pub fn slug(wasm: &[u8], process_type: &str, out: &Path) -> anyhow::Result<PackedSlug> {
    let component = componentize(wasm)?;
    let kind = kind_for(&component_exports(&component), process_type)?;
    let app = out.with_extension("app");
    let _ = std::fs::remove_dir_all(&app);
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("app.wasm"), &component)?;
    let mut types = BTreeMap::new();
    types.insert(
        process_type.to_string(),
        ProcessType {
            component: "app.wasm".into(),
            args: Vec::new(),
            kind,
        },
    );
    let mut manifest = Manifest::new(types);
    manifest.buildpack = Some("prebuilt".to_string());
    let packed = kumo_slug::pack(&app, &manifest, out);
    let _ = std::fs::remove_dir_all(&app);
    Ok(packed?)
}

/// The prebuilt buildpack: `.wasm` files (components or WASI preview 1
/// modules) at the top of the source, deployed as they are.
pub struct PrebuiltBuildpack;

impl PrebuiltBuildpack {
    fn wasm_files(src: &Path) -> Vec<String> {
        crate::buildpack::top_level_files(src, ".wasm")
    }
}

impl Buildpack for PrebuiltBuildpack {
    fn name(&self) -> &'static str {
        "prebuilt"
    }

    fn detect(&self, src: &Path) -> Option<String> {
        (!Self::wasm_files(src).is_empty()).then(|| "Prebuilt Wasm".to_string())
    }

    fn compile(&self, ctx: &mut BuildContext<'_>) -> anyhow::Result<Compiled> {
        let files = Self::wasm_files(ctx.app_dir);
        (ctx.log)(&format!("Using {}", files.join(", ")));
        let mut compiled = Compiled::default();
        if let [only] = files.as_slice() {
            compiled
                .default_process_types
                .insert("web".to_string(), only.clone());
        }
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_exports() {
        let http = vec![
            "wasi:http/incoming-handler@0.2.12".to_string(),
            "wasi:cli/run@0.2.0".to_string(),
        ];
        let run = vec!["wasi:cli/run@0.2.12".to_string()];
        assert_eq!(kind_for(&http, "web").unwrap(), ProcessKind::Http);
        assert_eq!(kind_for(&run, "web").unwrap(), ProcessKind::Cgi);
        assert_eq!(kind_for(&run, "worker").unwrap(), ProcessKind::Command);
        // Both (Kumo's JVM runtime): HTTP for web, a command for the others.
        assert_eq!(kind_for(&http, "worker").unwrap(), ProcessKind::Command);
        assert_eq!(kind_for(&http[..1], "worker").unwrap(), ProcessKind::Http);
        let err = kind_for(&[], "web").unwrap_err().to_string();
        assert!(err.contains("exports neither"), "{err}");
    }
}

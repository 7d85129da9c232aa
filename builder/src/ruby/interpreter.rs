//! CRuby as a WASI command. npm's `@ruby/3.4-wasm-wasi` ships `ruby+stdlib.wasm`
//! as a reactor for a JavaScript host; Kumo merges it with a small glue module
//! (binaryen's `wasm-merge`, then `wasm-metadce` keeps `_start`) so it runs as
//! a plain command that any WASI host, and a CGI web dyno, can run.
//!
//! The glue's `wizer-initialize` starts the interpreter and evaluates Kumo's
//! Ruby runtime (`ruby/kumo.rb`); `_start` then calls `Kumo.main`, whose
//! arguments are the process's (passed through the `KUMO_ARGV` environment
//! variable, since the reactor has no way to set `ARGV` after start-up).
//! Run directly, `_start` initialises first; after Wizer has run
//! `wizer-initialize` and snapshotted the memory, `_start` only re-reads the
//! environment, so a request does not pay for Ruby's start-up.
//!
//! The module is app-independent: it is built once per package version and
//! glue and kept among the build tools.

use crate::buildpack::{BuildContext, install_once};
use crate::process::run_logged;
use anyhow::Context as _;
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The npm packages: Ruby itself, and binaryen for merging.
pub(crate) const RUBY_PACKAGE: &str = "@ruby/3.4-wasm-wasi@2.10.1";
const BINARYEN: &str = "binaryen@132.0.0";

/// Kumo's Ruby runtime, evaluated when the interpreter starts.
const KUMO_RB: &str = include_str!("../../ruby/kumo.rb");

/// Bumped when the glue below changes in a way its text does not show.
const GLUE_VERSION: u32 = 3;

/// Functions of the interpreter the glue needs that the reactor does not
/// export: the export name Kumo gives each, and the C function's name (found
/// through the debug build's name section).
const INTERNAL_EXPORTS: [(&str, &str); 2] = [
    ("kumo:initialize-environ", "__wasilibc_initialize_environ"),
    ("kumo:setenv", "setenv"),
];

/// Builds (or finds) the Ruby command component and returns its path.
pub(crate) fn command(ctx: &mut BuildContext<'_>) -> anyhow::Result<PathBuf> {
    let tools = ctx.tools_dir.join("ruby-wasm-2.10.1-binaryen-132");
    crate::buildpack::npm_tools_once(&tools, &[RUBY_PACKAGE, BINARYEN], ctx)?;
    let glue = glue_wat(KUMO_RB);
    let key = {
        let mut hash = sha2::Sha256::new();
        hash.update(format!("{RUBY_PACKAGE} {BINARYEN} {GLUE_VERSION}\n"));
        hash.update(&glue);
        hex::encode(&hash.finalize()[..8])
    };
    let dir = ctx.tools_dir.join(format!("ruby-command-{key}"));
    let mut built = false;
    install_once(
        &dir,
        "Building the Ruby interpreter (once)",
        ctx,
        |dir, ctx| {
            built = true;
            merge(&tools, dir, &glue, ctx)?;
            let mut core = std::fs::read(dir.join("core.wasm"))?;
            (ctx.log)("Pre-initialising it with Wizer");
            let (app, tmp) = (dir.join("snapshot-app"), dir.join("snapshot-tmp"));
            std::fs::create_dir_all(&app)?;
            std::fs::create_dir_all(&tmp)?;
            core = crate::preinit::snapshot(core, &app, &tmp, Vec::new(), "Ruby")?;
            let _ = std::fs::remove_dir_all(&app);
            let _ = std::fs::remove_dir_all(&tmp);
            (ctx.log)("Adapting it into a component");
            std::fs::write(dir.join("ruby.wasm"), crate::componentize(&core)?)?;
            Ok(())
        },
    )?;
    if !built {
        (ctx.log)("Using the cached Ruby interpreter");
    }
    Ok(dir.join("ruby.wasm"))
}

/// Merges the reactor with the glue into `dir/ruby.wasm`.
fn merge(tools: &Path, dir: &Path, glue: &str, ctx: &mut BuildContext<'_>) -> anyhow::Result<()> {
    let dist = tools.join("node_modules/@ruby/3.4-wasm-wasi/dist");
    // The debug build is the same code with its function names, which say
    // where the functions in INTERNAL_EXPORTS are.
    let reactor = std::fs::read(dist.join("ruby.debug+stdlib.wasm"))
        .with_context(|| format!("reading ruby.debug+stdlib.wasm from {}", dist.display()))?;
    let module = Reactor::parse(&reactor)?;
    for (export, signature) in [
        (RUBY_INIT, "(param i32 i32) (result )"),
        (EVAL, "(param i32 i32) (result i32)"),
    ] {
        if module.export_type(export) != Some(signature) {
            anyhow::bail!(
                "ruby.wasm's `{export}` is not what Kumo's glue expects: the package changed"
            );
        }
    }
    std::fs::write(dir.join("ruby.in.wasm"), module.with_exports(&reactor)?)?;
    for (name, wat) in [
        ("rb-js-abi-host", module.stubs("rb-js-abi-host")),
        ("canonical_abi", module.stubs("canonical_abi")),
        ("glue", glue.to_string()),
    ] {
        let bytes = wat::parse_str(&wat).with_context(|| format!("assembling the {name} glue"))?;
        std::fs::write(dir.join(format!("{name}.wasm")), bytes)?;
    }
    std::fs::write(
        dir.join("dce-graph.json"),
        r#"[
  {"name": "outside", "root": true, "reaches": ["start", "init", "memory"]},
  {"name": "start", "export": "_start"},
  {"name": "init", "export": "wizer-initialize"},
  {"name": "memory", "export": "memory"}
]"#,
    )?;
    let bin = tools.join("node_modules/.bin");
    (ctx.log)("Merging ruby+stdlib.wasm with Kumo's glue (wasm-merge)");
    // Never `--all-features`: binaryen 132 then writes compact imports, which
    // wasmtime rejects.
    run_logged(
        Command::new(bin.join("wasm-merge")).current_dir(dir).args([
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "ruby.in.wasm",
            "ruby",
            "rb-js-abi-host.wasm",
            "rb-js-abi-host",
            "canonical_abi.wasm",
            "canonical_abi",
            "glue.wasm",
            "glue",
            "-o",
            "merged.wasm",
        ]),
        ctx.log,
        ctx.deadline,
    )?;
    (ctx.log)("Keeping what _start reaches (wasm-metadce)");
    let mut report = |line: &str| {
        // metadce lists every unused export; only problems are worth showing.
        if !line.starts_with("unused:") {
            (ctx.log)(line)
        }
    };
    run_logged(
        Command::new(bin.join("wasm-metadce"))
            .current_dir(dir)
            .args([
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
                "--enable-sign-ext",
                "--enable-mutable-globals",
                "-f",
                "dce-graph.json",
                "merged.wasm",
                "-o",
                "core.wasm",
            ]),
        &mut report,
        ctx.deadline,
    )?;
    for scratch in [
        "ruby.in.wasm",
        "merged.wasm",
        "rb-js-abi-host.wasm",
        "canonical_abi.wasm",
        "glue.wasm",
    ] {
        let _ = std::fs::remove_file(dir.join(scratch));
    }
    Ok(())
}

/// What the glue needs to know about the reactor module.
struct Reactor {
    /// Function types, as WAT `(param …) (result …)`.
    types: Vec<String>,
    /// Imported functions: module, name, type index.
    imports: Vec<(String, String, u32)>,
    /// The type of each function, imported ones first.
    func_types: Vec<u32>,
    /// Exported functions by name.
    exports: BTreeMap<String, u32>,
    /// Function names from the name section.
    names: BTreeMap<String, u32>,
}

impl Reactor {
    fn parse(bytes: &[u8]) -> anyhow::Result<Reactor> {
        use wasmparser::{KnownCustom, Name, Payload, TypeRef};
        let mut reactor = Reactor {
            types: Vec::new(),
            imports: Vec::new(),
            func_types: Vec::new(),
            exports: BTreeMap::new(),
            names: BTreeMap::new(),
        };
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        for sub in group?.into_types() {
                            let wat = match &sub.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(f) => {
                                    let list = |types: &[wasmparser::ValType]| {
                                        types
                                            .iter()
                                            .map(|t| t.to_string())
                                            .collect::<Vec<_>>()
                                            .join(" ")
                                    };
                                    format!(
                                        "(param {}) (result {})",
                                        list(f.params()),
                                        list(f.results())
                                    )
                                }
                                _ => String::new(),
                            };
                            reactor.types.push(wat);
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        if let TypeRef::Func(ty) = import.ty {
                            reactor.imports.push((
                                import.module.to_string(),
                                import.name.to_string(),
                                ty,
                            ));
                            reactor.func_types.push(ty);
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        reactor.func_types.push(ty?);
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        if export.kind == wasmparser::ExternalKind::Func {
                            reactor
                                .exports
                                .insert(export.name.to_string(), export.index);
                        }
                    }
                }
                Payload::CustomSection(section) => {
                    if let KnownCustom::Name(names) = section.as_known() {
                        for name in names {
                            if let Ok(Name::Function(map)) = name {
                                for naming in map.into_iter().flatten() {
                                    reactor.names.insert(naming.name.to_string(), naming.index);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(reactor)
    }

    /// A module exporting every function the reactor imports from `module`:
    /// JavaScript interop traps (there is no JavaScript), and the resource
    /// functions of `canonical_abi` use the handle as the value.
    fn stubs(&self, module: &str) -> String {
        let mut wat = String::from("(module\n");
        for (from, name, ty) in &self.imports {
            if from != module {
                continue;
            }
            let signature = &self.types[*ty as usize];
            let body = if name.starts_with("resource_new_") || name.starts_with("resource_get_") {
                "local.get 0"
            } else if name.starts_with("resource_drop_") {
                ""
            } else {
                "unreachable"
            };
            let _ = writeln!(wat, "  (func (export {name:?}) {signature} {body})");
        }
        wat.push(')');
        wat
    }

    /// `bytes` with [`INTERNAL_EXPORTS`] added to its exports and its DWARF
    /// sections left out.
    fn with_exports(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut extra = Vec::new();
        for (export, function) in INTERNAL_EXPORTS {
            let index = self.names.get(function).ok_or_else(|| {
                anyhow::anyhow!("ruby.wasm has no function `{function}`: the package changed")
            })?;
            extra.push((export, *index));
        }
        let mut out = bytes[..8].to_vec();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let payload = payload?;
            if let wasmparser::Payload::ExportSection(reader) = &payload {
                let mut entries = Vec::new();
                let mut count = 0u32;
                for export in reader.clone() {
                    let export = export?;
                    name_bytes(&mut entries, export.name);
                    entries.push(export.kind as u8);
                    leb(&mut entries, export.index);
                    count += 1;
                }
                for (name, index) in &extra {
                    name_bytes(&mut entries, name);
                    entries.push(0); // func
                    leb(&mut entries, *index);
                    count += 1;
                }
                let mut body = Vec::new();
                leb(&mut body, count);
                body.extend(entries);
                section(&mut out, 7, &body);
                continue;
            }
            if let wasmparser::Payload::CustomSection(custom) = &payload
                && custom.name().starts_with(".debug")
            {
                continue;
            }
            if let Some((id, range)) = payload.as_section() {
                section(&mut out, id, &bytes[range]);
            }
        }
        Ok(out)
    }

    /// The WAT signature of the reactor's export `name`.
    fn export_type(&self, name: &str) -> Option<&str> {
        let index = *self.exports.get(name)?;
        let ty = *self.func_types.get(index as usize)?;
        self.types.get(ty as usize).map(String::as_str)
    }
}

fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    leb(out, body.len() as u32);
    out.extend_from_slice(body);
}

fn name_bytes(out: &mut Vec<u8>, name: &str) {
    leb(out, name.len() as u32);
    out.extend_from_slice(name.as_bytes());
}

fn leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

const RUBY_INIT: &str = "ruby-init: func(args: list<string>) -> ()";
const EVAL: &str = "rb-eval-string-protect: func(str: string) -> tuple<handle<rb-abi-value>, s32>";

/// The glue module: `wizer-initialize` starts Ruby and evaluates `boot`;
/// `_start` runs `Kumo.main` with the process's arguments and environment.
///
/// Strings handed to Ruby end in NUL, as ruby.wasm's own JavaScript glue
/// does; without it Ruby reads past them (`unknown encoding name - UTF-8`).
/// They are written into memory from `cabi_realloc` by store instructions,
/// so the glue has no data segment that could land on Ruby's data.
fn glue_wat(boot: &str) -> String {
    let mut wat = String::new();
    let _ = write!(
        wat,
        r#"(module
  (import "ruby" "memory" (memory 0))
  (import "ruby" "_initialize" (func $initialize))
  (import "ruby" {RUBY_INIT:?} (func $ruby_init (param i32 i32)))
  (import "ruby" {EVAL:?} (func $eval (param i32 i32) (result i32)))
  (import "ruby" "cabi_realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
  (import "ruby" "kumo:initialize-environ" (func $initialize_environ))
  (import "ruby" "kumo:setenv" (func $setenv (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (global $ready (mut i32) (i32.const 0))
  (func $alloc (param $size i32) (result i32)
    (call $realloc (i32.const 0) (i32.const 0) (i32.const 8) (local.get $size)))
  ;; Evaluates the string at $ptr; an exception that escapes exits with 1.
  (func $eval_or_exit (param $ptr i32) (param $len i32)
    (if (i32.load offset=4 (call $eval (local.get $ptr) (local.get $len)))
      (then (call $proc_exit (i32.const 1)))))
  (func $boot (export "wizer-initialize")
    (local $args i32) (local $s i32)
    (if (global.get $ready) (then (return)))
    (call $initialize)
    (local.set $args (call $alloc (i32.const 24)))
"#
    );
    for (i, arg) in ["ruby", "-EUTF-8", "-e_=0"].iter().enumerate() {
        let bytes = format!("{arg}\0");
        let _ = writeln!(
            wat,
            "    (local.set $s (call $alloc (i32.const {})))",
            bytes.len()
        );
        store_bytes(&mut wat, "$s", bytes.as_bytes());
        let _ = writeln!(
            wat,
            "    (i32.store offset={} (local.get $args) (local.get $s))\n    (i32.store offset={} (local.get $args) (i32.const {}))",
            i * 8,
            i * 8 + 4,
            bytes.len()
        );
    }
    wat.push_str("    (call $ruby_init (local.get $args) (i32.const 3))\n");
    let boot = format!("{boot}\0");
    let _ = writeln!(
        wat,
        "    (local.set $s (call $alloc (i32.const {})))",
        boot.len()
    );
    store_bytes(&mut wat, "$s", boot.as_bytes());
    let _ = writeln!(
        wat,
        "    (call $eval_or_exit (local.get $s) (i32.const {}))\n    (global.set $ready (i32.const 1)))",
        boot.len()
    );
    wat.push_str(
        r#"  (func (export "_start")
    (local $sizes i32) (local $len i32) (local $buf i32) (local $i i32) (local $s i32)
    (if (global.get $ready)
      (then (call $initialize_environ))
      (else (call $boot)))
    ;; The arguments, NUL-separated by args_get, joined with the unit
    ;; separator (0x1f) into KUMO_ARGV.
    (local.set $sizes (call $alloc (i32.const 8)))
    (drop (call $args_sizes_get (local.get $sizes) (i32.add (local.get $sizes) (i32.const 4))))
    (local.set $len (i32.load offset=4 (local.get $sizes)))
    (local.set $buf (call $alloc (i32.add (local.get $len) (i32.const 1))))
    (drop (call $args_get
      (call $alloc (i32.shl (i32.add (i32.load (local.get $sizes)) (i32.const 1)) (i32.const 2)))
      (local.get $buf)))
    (i32.store8 (i32.add (local.get $buf) (local.get $len)) (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $len)))
        (if (i32.eqz (i32.load8_u (i32.add (local.get $buf) (local.get $i))))
          (then (i32.store8 (i32.add (local.get $buf) (local.get $i)) (i32.const 31))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.set $s (call $alloc (i32.const 10)))
"#,
    );
    store_bytes(&mut wat, "$s", b"KUMO_ARGV\0");
    wat.push_str(
        "    (drop (call $setenv (local.get $s) (local.get $buf) (i32.const 1)))\n    (local.set $s (call $alloc (i32.const 10)))\n",
    );
    store_bytes(&mut wat, "$s", b"Kumo.main\0");
    wat.push_str("    (call $eval_or_exit (local.get $s) (i32.const 10)))\n)\n");
    wat
}

/// Stores `bytes` at the address in `local`, eight at a time.
fn store_bytes(wat: &mut String, local: &str, bytes: &[u8]) {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let value = i64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        let _ = writeln!(
            wat,
            "    (i64.store offset={offset} align=1 (local.get {local}) (i64.const {value}))"
        );
        offset += 8;
    }
    for byte in chunks.remainder() {
        let _ = writeln!(
            wat,
            "    (i32.store8 offset={offset} (local.get {local}) (i32.const {byte}))"
        );
        offset += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_assembles() {
        let wat = glue_wat("puts 'hello'");
        wat::parse_str(&wat).unwrap();
    }

    #[test]
    fn leb128() {
        let mut out = Vec::new();
        leb(&mut out, 624485);
        assert_eq!(out, [0xe5, 0x8e, 0x26]);
    }
}

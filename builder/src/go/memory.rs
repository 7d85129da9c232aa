//! A fix to Go's runtime, applied with `go build -overlay`, for Go programs
//! run as components. The WASI preview 1 adapter that makes a core module a
//! component keeps its state in pages it grows linear memory by. Go 1.24 and
//! later assume every `memory.grow` is their own (`blocMax = bl + n` in
//! `runtime/mem_wasm.go`), so Go's heap soon covers the adapter's page and
//! the adapter stops with `assertion failed at adapter line …` (a CGI request
//! is enough). The overlay adds `kumoSkipForeignMemory`, called with
//! `memlock` held before the runtime extends its break: it moves the break
//! past memory the runtime did not grow itself. Go 1.23 and earlier place
//! their heap where `memory.grow` says, and need no overlay.

use std::path::{Path, PathBuf};
use std::process::Command;

const SKIP: &str = "
// Kumo (builder/src/go/memory.rs): the WASI preview 1 component adapter in
// the same module grows linear memory for its own state. The runtime must
// never hand out those pages, so before it extends its break it moves past
// memory it did not grow itself. memlock must be held.
func kumoSkipForeignMemory() {
	if end := uintptr(currentMemory()) * physPageSize; end > blocMax {
		bloc = end
		blocMax = end
	}
}
";

/// Where `runtime/mem_sbrk.go` extends the break: each gets the call first.
const CALLS: [(&str, &str); 3] = [
    (
        "\t\treturn p\n\t}\n\treturn sbrk(n)\n",
        "\t\treturn p\n\t}\n\tkumoSkipForeignMemory()\n\treturn sbrk(n)\n",
    ),
    (
        "\t\tlock(&memlock)\n\t\tif uintptr(v) == bloc {",
        "\t\tlock(&memlock)\n\t\tkumoSkipForeignMemory()\n\t\tif uintptr(v) == bloc {",
    ),
    (
        "\t\t// Round up bloc to align, then allocate size.\n",
        "\t\t// Round up bloc to align, then allocate size.\n\t\tkumoSkipForeignMemory()\n",
    ),
];

/// The `-overlay` file for `go`'s runtime, written under `dir`, or `None` for
/// a Go that needs none; an error for a Go whose runtime has the problem in
/// a shape this fix does not know.
pub(super) fn overlay(go: &Path, version: &str, dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let out = Command::new(go).args(["env", "GOROOT"]).output()?;
    let runtime = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("src/runtime");
    let wasm = std::fs::read_to_string(runtime.join("mem_wasm.go"))?;
    if !wasm.contains("blocMax = bl + n") {
        return Ok(None);
    }
    let sbrk = std::fs::read_to_string(runtime.join("mem_sbrk.go"))?;
    let known = wasm.contains("func currentMemory() int32")
        && CALLS
            .iter()
            .all(|(from, _)| sbrk.matches(from).count() == 1);
    if !known {
        anyhow::bail!(
            "{version}'s runtime grows Wasm memory in a way Kumo cannot yet fix for components (its heap would overwrite the WASI adapter's state): build with Go 1.26 or earlier"
        );
    }
    let sbrk = CALLS
        .iter()
        .fold(sbrk, |text, (from, to)| text.replacen(from, to, 1));
    let folder = dir.join(format!("runtime-overlay-{version}"));
    std::fs::create_dir_all(&folder)?;
    std::fs::write(folder.join("mem_wasm.go"), wasm + SKIP)?;
    std::fs::write(folder.join("mem_sbrk.go"), sbrk)?;
    let json = serde_json::json!({
        "Replace": {
            runtime.join("mem_wasm.go").display().to_string(): folder.join("mem_wasm.go"),
            runtime.join("mem_sbrk.go").display().to_string(): folder.join("mem_sbrk.go"),
        }
    });
    let file = folder.join("overlay.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&json)?)?;
    Ok(Some(file))
}

//! Lists the files of Kumo's PHP build recipe (`builder/php`) for
//! `php::toolchain`, which writes them out to run `build.sh`: every file of the
//! folder except its documentation, the developer's check scripts and Python
//! environments (so that only a change to what the build uses rebuilds PHP).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let recipe = root.join("php");
    println!("cargo:rerun-if-changed=php");
    let mut files = Vec::new();
    collect(&recipe, &recipe, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for relative in files {
        let _ = writeln!(
            out,
            "    ({relative:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/php/\", {relative:?}))),"
        );
    }
    out.push_str("]\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("php_recipe.rs");
    std::fs::write(dest, out).expect("writing the PHP recipe list");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "venv"
            || name.starts_with('.')
            || name.starts_with("check.")
            || name.ends_with(".md")
        {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            files.push(relative.display().to_string());
        }
    }
}

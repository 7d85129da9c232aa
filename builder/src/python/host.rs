//! The host interfaces a Python app uses, read from its own code: an app is
//! built against worlds that import a capability's interfaces (`keyvalue.rs`,
//! `postgres.rs`) only when one of its files imports that capability's
//! modules, since a release importing them needs the matching add-on.

use std::path::{Path, PathBuf};

/// The text of the WIT packages an installed library already gives
/// componentize-py, which refuses a package defined twice.
pub(super) struct Provided(Vec<String>);

impl Provided {
    pub(super) fn read(site: Option<&Path>) -> Self {
        Provided(site.map(library_wit).unwrap_or_default())
    }

    /// Whether a library defines `package` (`package spin:postgres@3.0.0`).
    pub(super) fn has(&self, package: &str) -> bool {
        self.0.iter().any(|text| text.contains(package))
    }
}

/// The first of the app's own Python files that imports one of `modules` (or
/// a module under one), and that module (`app.py`, `spin_sdk.key_value`);
/// `None` for an app that imports none. Installed packages (`site-packages`,
/// virtualenvs) and hidden folders are not the app's code.
pub(super) fn used_by(
    app_dir: &Path,
    modules: &[&str],
) -> anyhow::Result<Option<(String, String)>> {
    let mut folders = vec![app_dir.to_path_buf()];
    let mut files: Vec<PathBuf> = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                let installed = ["site-packages", "venv", "node_modules", "__pycache__"];
                if !name.starts_with('.') && !installed.contains(&name.as_str()) {
                    folders.push(path);
                }
            } else if kind.is_file() && name.ends_with(".py") {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        let Ok(source) = std::fs::read_to_string(&file) else {
            continue;
        };
        if let Some(module) = imported_modules(&source).into_iter().find(|m| {
            modules
                .iter()
                .any(|k| m == k || m.starts_with(&format!("{k}.")))
        }) {
            let shown = file.strip_prefix(app_dir).unwrap_or(&file);
            return Ok(Some((shown.display().to_string(), module)));
        }
    }
    Ok(None)
}

/// The text of every WIT file of the libraries installed in `site` that give
/// componentize-py their WIT (a `componentize-py.toml` naming `wit_directory`).
fn library_wit(site: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(site).into_iter().flatten().flatten() {
        let config = entry.path().join("componentize-py.toml");
        let Ok(toml) = std::fs::read_to_string(&config) else {
            continue;
        };
        let Some(dir) = toml.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "wit_directory").then(|| value.trim().trim_matches('"').to_string())
        }) else {
            continue;
        };
        let mut folders = vec![entry.path().join(dir)];
        while let Some(folder) = folders.pop() {
            for file in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let path = file.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "wit")
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    texts.push(text);
                }
            }
        }
    }
    texts
}

/// The absolute modules a Python source's import statements name, anywhere
/// in it: `import a.b, c as d` names `a.b` and `c`; `from a import b, c`
/// names `a`, `a.b` and `a.c` (either may be a module). Relative imports
/// name nothing outside the app.
fn imported_modules(source: &str) -> Vec<String> {
    let mut modules = Vec::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let mut statement = line.trim().to_string();
        let import = statement.starts_with("import ") || statement.starts_with("from ");
        // A parenthesised or continued list of names goes on over lines.
        while import
            && ((statement.contains('(') && !statement.contains(')')) || statement.ends_with('\\'))
        {
            let Some(next) = lines.next() else { break };
            statement = format!("{} {}", statement.trim_end_matches('\\'), next.trim());
        }
        let statement = statement.split('#').next().unwrap_or("");
        for simple in statement.split(';').map(str::trim) {
            if let Some(rest) = simple.strip_prefix("import ") {
                for name in rest.split(',') {
                    if let Some(module) = name.split_whitespace().next() {
                        modules.push(module.to_string());
                    }
                }
            } else if let Some(rest) = simple.strip_prefix("from ")
                && let Some((module, names)) = rest.split_once(" import ")
            {
                let module = module.trim();
                if module.starts_with('.') {
                    continue;
                }
                modules.push(module.to_string());
                let names = names.replace(['(', ')'], " ");
                for name in names.split(',') {
                    if let Some(name) = name.split_whitespace().next()
                        && name != "*"
                    {
                        modules.push(format!("{module}.{name}"));
                    }
                }
            }
        }
    }
    modules
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULES: &[&str] = &["spin_sdk.key_value", "wit_world.imports.atomics"];

    fn check(source: &str, expected: &[&str]) {
        assert_eq!(imported_modules(source), expected, "{source}");
    }

    #[test]
    fn imports() {
        check(
            "from spin_sdk import key_value",
            &["spin_sdk", "spin_sdk.key_value"],
        );
        check(
            "import spin_sdk.key_value as kv, os",
            &["spin_sdk.key_value", "os"],
        );
        check(
            "    from wit_world.imports import (\n        atomics,\n        store,\n    )\n",
            &[
                "wit_world.imports",
                "wit_world.imports.atomics",
                "wit_world.imports.store",
            ],
        );
        check(
            "from spin_sdk.key_value import open_default  # the add-on",
            &["spin_sdk.key_value", "spin_sdk.key_value.open_default"],
        );
        check("from . import key_value", &[]);
        check("x = 1; import json", &["json"]);
        check("# import spin_sdk.key_value\nprint('import x')", &[]);
    }

    #[test]
    fn apps_that_use_key_value() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path();
        std::fs::write(app.join("app.py"), "from flask import Flask\n").unwrap();
        assert_eq!(used_by(app, MODULES).unwrap(), None);
        std::fs::create_dir_all(app.join(".venv/lib")).unwrap();
        std::fs::write(app.join(".venv/lib/kv.py"), "import spin_sdk.key_value\n").unwrap();
        assert_eq!(used_by(app, MODULES).unwrap(), None);
        std::fs::create_dir_all(app.join("shop")).unwrap();
        std::fs::write(
            app.join("shop/counter.py"),
            "from wit_world.imports import atomics, store\n",
        )
        .unwrap();
        assert_eq!(
            used_by(app, MODULES).unwrap(),
            Some((
                "shop/counter.py".to_string(),
                "wit_world.imports.atomics".to_string()
            ))
        );
    }
}

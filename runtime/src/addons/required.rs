//! Which add-ons a component needs: one that imports a key-value or a
//! Postgres interface cannot run in an app without such an add-on, so the
//! release that would run it is refused, naming the add-on to create.

use super::catalog::Kind;
use super::grant::AddonGrant;

/// Import prefixes that need an add-on of a kind.
const NEEDS: &[(&str, Kind)] = &[
    ("wasi:keyvalue/", Kind::KeyValue),
    ("fermyon:spin/key-value", Kind::KeyValue),
    ("spin:key-value/", Kind::KeyValue),
    ("spin:postgres/", Kind::Postgres),
    ("fermyon:spin/postgres", Kind::Postgres),
];

/// The add-on kinds `component`'s own imports need (nested components'
/// imports are satisfied inside it, so only the outermost count).
pub fn kinds_needed(component: &[u8]) -> Vec<Kind> {
    let mut kinds = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let Ok(payload) = payload else {
            break;
        };
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(imports) if depth == 0 => {
                for import in imports.into_iter().flatten() {
                    let name = import.name.name;
                    for (prefix, kind) in NEEDS {
                        if name.starts_with(prefix) && !kinds.contains(kind) {
                            kinds.push(*kind);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    kinds
}

/// Why a process whose component needs `kinds` cannot run with `grants`,
/// or `None` when every kind has an add-on.
pub fn missing(process: &str, kinds: &[Kind], grants: &[AddonGrant], app: &str) -> Option<String> {
    let has = |kind: Kind| grants.iter().any(|g| g.resource.kind() == kind);
    let kind = kinds.iter().find(|k| !has(**k))?;
    let (what, service) = match kind {
        Kind::Postgres => ("a Postgres interface (spin:postgres)", "kumo-postgresql"),
        Kind::KeyValue => ("a key-value interface (wasi:keyvalue)", "kumo-keyvalue"),
        Kind::Bucket => ("object storage", "kumo-bucket"),
    };
    Some(format!(
        "process type `{process}` imports {what}, but {app} has no {service} add-on: add one with `kumo addons:create {service} -a {app}`, then release again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(imports: &[&str]) -> Vec<u8> {
        let mut wat = String::from("(component\n");
        for (i, name) in imports.iter().enumerate() {
            wat.push_str(&format!("  (import \"{name}\" (instance $i{i}))\n"));
        }
        wat.push_str("  (component (import \"spin:postgres/postgres@4.0.0\" (instance)))\n)");
        wat::parse_str(&wat).unwrap()
    }

    #[test]
    fn needed_kinds() {
        assert_eq!(
            kinds_needed(&component(&[])),
            Vec::<Kind>::new(),
            "nested imports do not count"
        );
        assert_eq!(
            kinds_needed(&component(&[
                "wasi:keyvalue/store@0.2.0-draft2",
                "wasi:cli/environment@0.2.0"
            ])),
            vec![Kind::KeyValue]
        );
        assert_eq!(
            kinds_needed(&component(&[
                "spin:postgres/postgres@4.0.0",
                "fermyon:spin/key-value@2.0.0"
            ])),
            vec![Kind::Postgres, Kind::KeyValue]
        );
        let message = missing("web", &[Kind::Postgres], &[], "shop").unwrap();
        assert!(
            message.contains("kumo addons:create kumo-postgresql -a shop"),
            "{message}"
        );
        assert_eq!(missing("web", &[], &[], "shop"), None);
    }
}

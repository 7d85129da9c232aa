//! The slug manifest: schema version, `must_understand`, and process types.

use crate::{KNOWN_FEATURES, SCHEMA_VERSION, SlugError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a slug declares about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// Features a reader must understand to run this slug correctly.
    #[serde(default)]
    pub must_understand: Vec<String>,
    /// Process type name → how to run it.
    pub process_types: BTreeMap<String, ProcessType>,
    /// The buildpack that produced the slug (`rust`, `prebuilt`, …).
    #[serde(default)]
    pub buildpack: Option<String>,
    /// The stack the slug was built for.
    #[serde(default = "default_stack")]
    pub stack: String,
    /// `http` process types whose instances serve one request each: their
    /// language runtime keeps per-request state that a second request on the
    /// same instance would trip over (componentize-js's does). Listed under
    /// the `fresh-instances` feature in `must_understand`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fresh_instance_per_request: Vec<String>,
    /// `cgi` process types that serve a folder of the app as a web server in
    /// front of them does (Heroku's PHP apps behind Apache or Nginx): process
    /// type → its document root. Listed under the `document-roots` feature.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub document_roots: BTreeMap<String, DocumentRoot>,
}

/// A folder a `cgi` process type serves: files are sent as they are, scripts
/// (files ending in `script_suffix`) run the process type's command with the
/// script in `SCRIPT_FILENAME`, and every other path runs `index`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRoot {
    /// The folder, relative to the slug's `app/` (`.` for the app itself).
    pub path: String,
    /// What script file names end in (`.php`).
    pub script_suffix: String,
    /// The script run for folders and for paths that name no file (`index.php`).
    pub index: String,
}

/// How one process type runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessType {
    /// Path of the component, relative to the slug's `app/` folder.
    pub component: String,
    /// Arguments after the program name.
    #[serde(default)]
    pub args: Vec<String>,
    pub kind: ProcessKind,
}

/// The interface a process type's component is run through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessKind {
    /// `wasi:http/incoming-handler`: a web dyno with warm, reused instances.
    Http,
    /// `wasi:cli/run` to completion: a worker, a one-off or a release process.
    Command,
    /// A `wasi:cli` command answering one HTTP request CGI-style (RFC 3875).
    Cgi,
}

impl ProcessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Http => "http",
            ProcessKind::Command => "command",
            ProcessKind::Cgi => "cgi",
        }
    }

    /// Whether this kind answers HTTP requests from the router.
    pub fn serves_http(self) -> bool {
        matches!(self, ProcessKind::Http | ProcessKind::Cgi)
    }
}

fn default_stack() -> String {
    "kumo-1".to_string()
}

impl Manifest {
    /// A manifest of the current schema with the given process types.
    pub fn new(process_types: BTreeMap<String, ProcessType>) -> Manifest {
        let mut must_understand = vec!["process-kinds".to_string()];
        if process_types.values().any(|p| p.kind == ProcessKind::Cgi) {
            must_understand.push("cgi".to_string());
        }
        Manifest {
            schema_version: SCHEMA_VERSION,
            must_understand,
            process_types,
            buildpack: None,
            stack: default_stack(),
            fresh_instance_per_request: Vec::new(),
            document_roots: BTreeMap::new(),
        }
    }

    /// Has `process_type` serve `root` (see [`DocumentRoot`]).
    pub fn serve_document_root(&mut self, process_type: &str, root: DocumentRoot) {
        self.document_roots.insert(process_type.to_string(), root);
        if !self.must_understand.iter().any(|f| f == "document-roots") {
            self.must_understand.push("document-roots".to_string());
        }
    }

    /// Gives each request to `process_type` an instance of its own.
    pub fn fresh_instances_for(&mut self, process_type: &str) {
        if !self
            .fresh_instance_per_request
            .iter()
            .any(|p| p == process_type)
        {
            self.fresh_instance_per_request
                .push(process_type.to_string());
        }
        if !self.must_understand.iter().any(|f| f == "fresh-instances") {
            self.must_understand.push("fresh-instances".to_string());
        }
    }

    /// Parses and checks a manifest: schema version, `must_understand`, process type names and paths.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, SlugError> {
        // Read the version and feature list first, so that a newer slug whose
        // other fields have changed shape still gets the message that matters.
        #[derive(Deserialize)]
        struct Header {
            schema_version: u32,
            #[serde(default)]
            must_understand: Vec<String>,
        }
        let header: Header =
            serde_json::from_slice(bytes).map_err(|e| SlugError::InvalidManifest(e.to_string()))?;
        if header.schema_version > SCHEMA_VERSION || header.schema_version == 0 {
            return Err(SlugError::UnsupportedSchema {
                found: header.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        let unknown: Vec<String> = header
            .must_understand
            .into_iter()
            .filter(|f| !KNOWN_FEATURES.contains(&f.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(SlugError::UnknownFeatures(unknown));
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| SlugError::InvalidManifest(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest always serializes")
    }

    /// Checks process type names (`^[-\w]{1,128}$`, as the Platform API) and component paths.
    pub fn validate(&self) -> Result<(), SlugError> {
        for (name, process) in &self.process_types {
            let name_ok = !name.is_empty()
                && name.len() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !name_ok {
                return Err(SlugError::InvalidManifest(format!(
                    "process type `{name}` is not a valid name: use 1 to 128 letters, digits, `_` or `-`"
                )));
            }
            if !is_relative_inside(&process.component) {
                return Err(SlugError::InvalidManifest(format!(
                    "process type `{name}` names component `{}`, which is not a relative path inside the slug",
                    process.component
                )));
            }
        }
        for (name, root) in &self.document_roots {
            let inside = is_relative_inside(&root.path)
                && is_relative_inside(&root.index)
                && !root.index.contains('/');
            if !inside || root.script_suffix.is_empty() {
                return Err(SlugError::InvalidManifest(format!(
                    "the document root of `{name}` ({}, index {}) is not a folder inside the slug with a script file in it",
                    root.path, root.index
                )));
            }
        }
        Ok(())
    }
}

/// Whether `path` is relative and never climbs out of its root.
pub(crate) fn is_relative_inside(path: &str) -> bool {
    let p = std::path::Path::new(path);
    !path.is_empty()
        && p.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str, expected: Result<(), &str>) {
        let got = Manifest::from_json(json.as_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(want)) => assert!(e.contains(want), "error `{e}` should contain `{want}`"),
            (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn manifests() {
        let web = r#""process_types":{"web":{"component":"app.wasm","kind":"http"}}"#;
        check(&format!(r#"{{"schema_version":1,{web}}}"#), Ok(()));
        check(
            &format!(r#"{{"schema_version":1,"must_understand":["cgi"],{web}}}"#),
            Ok(()),
        );
        check(
            &format!(r#"{{"schema_version":1,"must_understand":["cgi","teleport","warp"],{web}}}"#),
            Err("does not understand: teleport, warp"),
        );
        check(
            &format!(r#"{{"schema_version":9,{web}}}"#),
            Err("schema version 9 is newer"),
        );
        check(
            r#"{"schema_version":1,"process_types":{"web":{"component":"../x.wasm","kind":"http"}}}"#,
            Err("not a relative path"),
        );
        check(
            r#"{"schema_version":1,"process_types":{"web":{"component":"/x.wasm","kind":"http"}}}"#,
            Err("not a relative path"),
        );
        check(
            r#"{"schema_version":1,"process_types":{"we b":{"component":"x.wasm","kind":"http"}}}"#,
            Err("not a valid name"),
        );
        check(
            r#"{"schema_version":1,"process_types":{"web":{"component":"x.wasm","kind":"fast"}}}"#,
            Err("unknown variant"),
        );
        check("not json", Err("invalid slug manifest"));
    }

    #[test]
    fn new_lists_cgi_when_used() {
        let mut pts = BTreeMap::new();
        pts.insert(
            "web".to_string(),
            ProcessType {
                component: "a.wasm".into(),
                args: vec![],
                kind: ProcessKind::Cgi,
            },
        );
        let m = Manifest::new(pts);
        assert!(m.must_understand.contains(&"cgi".to_string()));
        assert_eq!(Manifest::from_json(&m.to_json()).ok(), Some(m));
    }
}

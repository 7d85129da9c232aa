//! Python apps that use a Postgres add-on: an app whose code imports the
//! bindings componentize-py generates for Spin's spin:postgres/postgres@3.0.0
//! (`wit_world.imports.postgres`) is built against the worlds of
//! `wit/postgres.wit`, which import that interface. Spin's Python SDK 3.4.1
//! has `spin_sdk.postgres`, but it binds fermyon:spin/postgres@2.0.0, which
//! Kumo does not host: an app importing it is refused with the module to use.

use super::host;
use std::path::Path;

/// The Postgres worlds, beside `world.wit`.
const WORLDS: &str = include_str!("../../wit/postgres.wit");

/// The worlds of apps that use both key-value and Postgres.
const BOTH: &str = include_str!("../../wit/keyvalue-postgres.wit");

/// The interface Kumo's dynos host, the runtime's own copy.
const SPIN_POSTGRES: &str =
    include_str!("../../../runtime/wit/spin-postgres/deps/spin-postgres@3.0.0/postgres.wit");

/// Modules whose import means the app uses Postgres (and any module under them).
pub(super) const MODULES: &[&str] = &["wit_world.imports.postgres"];

/// Spin's SDK modules on fermyon:spin/postgres@2.0.0, which Kumo does not host.
pub(super) const UNHOSTED: &[&str] = &["spin_sdk.postgres", "spin_sdk.wit.imports.postgres"];

/// Refuses an app importing one of `UNHOSTED` (`file`, `module`), saying
/// what to import instead.
pub(super) fn refuse(file: &str, module: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{file} imports {module}, which Spin's Python SDK 3.x binds to fermyon:spin/postgres@2.0.0, an interface Kumo does not host: \
         use Kumo's spin:postgres/postgres@3.0.0 instead, `from wit_world.imports import postgres` \
         (`postgres.Connection.open(os.environ[\"DATABASE_URL\"])`)"
    )
}

/// Writes the Postgres worlds into `wit` (and, when the app uses key-value
/// too, the worlds of both), and the interface under `wit/deps` unless an
/// installed library already gives it.
pub(super) fn write_wit(
    wit: &Path,
    provided: &host::Provided,
    keyvalue: bool,
) -> anyhow::Result<()> {
    std::fs::write(wit.join("postgres.wit"), WORLDS)?;
    if keyvalue {
        std::fs::write(wit.join("keyvalue-postgres.wit"), BOTH)?;
    }
    if !provided.has("package spin:postgres@3.0.0") {
        std::fs::write(wit.join("deps/spin-postgres-3.0.0.wit"), SPIN_POSTGRES)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_that_use_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path();
        std::fs::write(
            app.join("app.py"),
            "from wit_world.imports import postgres, types\n",
        )
        .unwrap();
        let found = |modules| host::used_by(app, modules).unwrap();
        assert_eq!(
            found(MODULES),
            Some((
                "app.py".to_string(),
                "wit_world.imports.postgres".to_string()
            ))
        );
        assert_eq!(found(UNHOSTED), None);
        std::fs::write(app.join("db.py"), "from spin_sdk import postgres\n").unwrap();
        let (file, module) = found(UNHOSTED).unwrap();
        assert_eq!(
            (file.as_str(), module.as_str()),
            ("db.py", "spin_sdk.postgres")
        );
        assert!(
            refuse(&file, &module)
                .to_string()
                .contains("fermyon:spin/postgres@2.0.0")
        );
    }
}

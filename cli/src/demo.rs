//! The demo app: `examples/rust-hello`, shipped inside the binary, built with the
//! Rust builder and deployed as the app `demo`.

use anyhow::Context as _;
use kumo_runtime::manager::DynoManager;
use kumo_runtime::sizes::DynoSize;
use kumo_runtime::slugs::SlugStore;
use kumo_runtime::state::State;
use kumo_slug::{Manifest, ProcessKind, ProcessType};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const SOURCES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../examples/rust-hello/Cargo.toml"),
    ),
    (
        "Cargo.lock",
        include_str!("../../examples/rust-hello/Cargo.lock"),
    ),
    (
        "src/main.rs",
        include_str!("../../examples/rust-hello/src/main.rs"),
    ),
    (
        "Procfile",
        include_str!("../../examples/rust-hello/Procfile"),
    ),
    (
        "README.md",
        include_str!("../../examples/rust-hello/README.md"),
    ),
];

/// Builds the demo app (its build cache stays in the data folder), deploys it as
/// the admin's app `demo` on first start, and returns its URL.
pub async fn deploy(
    data_dir: &Path,
    state: &State,
    slugs: &SlugStore,
    manager: &Arc<DynoManager>,
    domain: &str,
    port: u16,
) -> anyhow::Result<String> {
    let url = format!("http://demo.{domain}:{port}/");
    if let Some(app) = state.app("demo").await?
        && state.current_release(&app).await?.is_some()
    {
        return Ok(url);
    }
    let root = data_dir.join("demo");
    let src = root.join("src");
    for (path, text) in SOURCES {
        let file = src.join(path);
        std::fs::create_dir_all(file.parent().unwrap_or(&src))?;
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    println!(
        "-----> Building the demo app (Rust, {})",
        kumo_builder::rust::TARGET
    );
    let (src_dir, target_dir) = (src.clone(), root.join("target"));
    let built = tokio::task::spawn_blocking(move || {
        kumo_builder::rust::compile(
            &src_dir,
            &target_dir,
            &mut |line| println!("       {line}"),
            None,
        )
    })
    .await??;
    let component = built.first().context("the demo app built no component")?;

    let app_dir = root.join("app");
    let _ = std::fs::remove_dir_all(&app_dir);
    std::fs::create_dir_all(&app_dir)?;
    let file = format!("{}.wasm", component.name);
    std::fs::copy(&component.path, app_dir.join(&file))?;
    std::fs::write(app_dir.join("README.md"), SOURCES[4].1)?;
    let mut types = BTreeMap::new();
    types.insert(
        "web".to_string(),
        ProcessType {
            component: file,
            args: Vec::new(),
            kind: ProcessKind::Http,
        },
    );
    let packed = kumo_slug::pack(&app_dir, &Manifest::new(types), &root.join("slug.tar.zst"))?;
    println!("-----> Slug {} ({} KB)", packed.digest, packed.size / 1024);

    slugs
        .put(&packed.digest, std::fs::read(&packed.path)?.into())
        .await?;
    let admin = state
        .admin()
        .await?
        .context("the admin account is missing")?;
    let app = match state.app("demo").await? {
        Some(app) => app,
        None => state.create_app(&admin, "demo").await?,
    };
    let description = format!("Deploy {}", packed.digest.short());
    state
        .append_release(
            &app,
            Some(packed.digest.to_string()),
            BTreeMap::new(),
            Vec::new(),
            &description,
            &admin.email,
            kumo_runtime::state::ReleaseStatus::Succeeded,
        )
        .await?;
    state
        .scale(
            &app,
            &[("web".to_string(), Some(1), Some(DynoSize::Standard1X))],
        )
        .await?;
    manager.converge("demo").await;
    Ok(url)
}

//! A component is compiled once per content; a restarted server, or another slug
//! holding the same component, loads the machine code from disk instead.

use kumo_runtime::engine::{Engine, EngineConfig};
use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_runtime::slugs::SlugCache;
use kumo_runtime::source::{MemorySource, ReleaseSource};
use kumo_slug::{Manifest, ProcessKind, ProcessType};
use std::collections::BTreeMap;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_start_does_not_compile() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(kumo_tests::components::HELLO, app.join("hello.wasm")).unwrap();
    // A slug of its own, so no other test has compiled it.
    std::fs::write(
        app.join("unique.txt"),
        format!("{:?}", std::time::SystemTime::now()),
    )
    .unwrap();
    let mut types = BTreeMap::new();
    types.insert(
        "web".into(),
        ProcessType {
            component: "hello.wasm".into(),
            args: vec![],
            kind: ProcessKind::Http,
        },
    );
    let packed = kumo_slug::pack(
        &app,
        &Manifest::new(types),
        &dir.path().join("slug.tar.zst"),
    )
    .unwrap();
    let memory = Arc::new(MemorySource::new());
    memory.add_slug(packed.digest.clone(), &packed.path);
    let source: Arc<dyn ReleaseSource> = memory.clone();
    let process = ProcessType {
        component: "hello.wasm".into(),
        args: vec![],
        kind: ProcessKind::Http,
    };
    let config = EngineConfig {
        cache_dir: dir.path().join("compiled"),
        max_instances: 16,
    };

    let first = Engine::new(&config).unwrap();
    let slugs = SlugCache::new(dir.path().join("slugs"), source.clone());
    let slug = slugs.get(&packed.digest).await.unwrap();
    first.prepare(&slug, &process).await.unwrap();
    first.prepare(&slug, &process).await.unwrap();
    assert_eq!(
        (first.compilations(), first.cache_loads()),
        (1, 0),
        "compiled once, then reused in memory"
    );
    drop(first);

    // A new engine, as after a server restart, with the same cache folder.
    let second = Engine::new(&config).unwrap();
    let slugs = SlugCache::new(dir.path().join("slugs"), source);
    let slug = slugs.get(&packed.digest).await.unwrap();
    second.prepare(&slug, &process).await.unwrap();
    assert_eq!(
        (second.compilations(), second.cache_loads()),
        (0, 1),
        "loaded from disk, not compiled"
    );

    // Another slug (another app, or a new release with only other files changed)
    // holding the same component uses the same machine code.
    std::fs::write(app.join("unique.txt"), "another release").unwrap();
    let other = kumo_slug::pack(
        &app,
        &Manifest::new(types_of(&process)),
        &dir.path().join("other.tar.zst"),
    )
    .unwrap();
    assert_ne!(other.digest, packed.digest);
    memory.add_slug(other.digest.clone(), &other.path);
    let slug = slugs.get(&other.digest).await.unwrap();
    second.prepare(&slug, &process).await.unwrap();
    assert_eq!(
        (second.compilations(), second.cache_loads()),
        (0, 2),
        "the same component in another slug is not compiled again"
    );
}

fn types_of(process: &ProcessType) -> BTreeMap<String, ProcessType> {
    BTreeMap::from([("web".to_string(), process.clone())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_dynos_of_one_slug_compile_once() {
    let kumo = kumo_tests::Kumo::start().await;
    let slug = kumo.slug(&[kumo_tests::Process::web(kumo_tests::components::HELLO)]);
    let before = kumo.engine.compilations() + kumo.engine.cache_loads();
    kumo.deploy("many", 1, &slug, &[], &[("web", 3, Standard1X)])
        .await;
    kumo.deploy("many", 2, &slug, &[("X", "1")], &[("web", 3, Standard1X)])
        .await;
    assert_eq!(
        kumo.engine.compilations() + kumo.engine.cache_loads() - before,
        1
    );
    assert_eq!(kumo.get("many", "/").await.status, 200);
}

//! Each dyno has its own ephemeral filesystem: a private writable copy of the
//! slug at `/app` and `/tmp`, gone after a restart, invisible to other dynos,
//! other apps and the host.

use kumo_runtime::sizes::DynoSize::Standard1X;
use kumo_tests::{Kumo, Process, components, request_id};

async fn request_on(kumo: &Kumo, app: &str, path: &str) -> (String, kumo_tests::Reply) {
    let id = request_id("fs");
    let reply = kumo
        .request(app, "GET", path, &[("x-request-id", &id)], b"")
        .await;
    let line = kumo.router_line(app, &id).await;
    let dyno = line
        .split("dyno=")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap_or("")
        .to_string();
    (dyno, reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_private_to_a_dyno_and_gone_after_restart() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::FILES)]);
    kumo.deploy("files", 1, &slug, &[], &[("web", 2, Standard1X)])
        .await;

    let reply = kumo.get("files", "/read?name=README.txt").await;
    assert_eq!(
        reply.text(),
        "a file of the slug\n",
        "the slug's files are at /app"
    );

    let (writer, reply) = request_on(&kumo, "files", "/write?name=note.txt&data=secret").await;
    assert_eq!(reply.text(), "wrote note.txt\n");
    let (mut same, mut other) = (0, 0);
    for _ in 0..40 {
        let (dyno, reply) = request_on(&kumo, "files", "/read?name=note.txt").await;
        if dyno == writer {
            assert_eq!(reply.text(), "secret", "the writing dyno reads its file");
            same += 1;
        } else {
            assert_eq!(
                reply.status,
                404,
                "{dyno} must not see {writer}'s file: {}",
                reply.text()
            );
            other += 1;
        }
    }
    assert!(
        same > 0 && other > 0,
        "both dynos were asked ({same}, {other})"
    );

    // The host folder of the dyno holds the file, but only inside the dyno's own root.
    let dynos_dir = kumo.data.path().join("dynos/files");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dynos_dir).unwrap() {
        if entry.as_ref().unwrap().path().join("app/note.txt").exists() {
            found.push(entry.unwrap().file_name());
        }
    }
    assert_eq!(
        found.len(),
        1,
        "exactly one dyno folder has the file: {found:?}"
    );

    kumo.manager.restart("files", None).await;
    for _ in 0..10 {
        let reply = kumo.get("files", "/read?name=note.txt").await;
        assert_eq!(
            reply.status,
            404,
            "a restart gives a fresh filesystem: {}",
            reply.text()
        );
    }
    // The old dynos' folders are removed once they stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(&dynos_dir).unwrap().count() > 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "old dyno folders were not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_the_host_or_other_apps_is_visible() {
    let kumo = Kumo::start().await;
    let slug = kumo.slug(&[Process::web(components::FILES)]);
    kumo.deploy("alpha", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;
    kumo.deploy("beta", 1, &slug, &[], &[("web", 1, Standard1X)])
        .await;

    assert_eq!(
        kumo.get("alpha", "/write?name=alpha.txt&data=a")
            .await
            .status,
        200
    );
    assert_eq!(
        kumo.get("beta", "/read?name=alpha.txt").await.status,
        404,
        "apps do not share files"
    );

    for path in ["/etc/passwd", "/proc/self/environ", "/app/../../etc/passwd"] {
        let reply = kumo.get("alpha", &format!("/read-abs?path={path}")).await;
        assert_eq!(
            reply.status,
            404,
            "{path} must not be readable: {}",
            reply.text()
        );
    }
    let host_path = kumo.data.path().join("slugs").display().to_string();
    let reply = kumo
        .get("alpha", &format!("/read-abs?path={host_path}"))
        .await;
    assert_eq!(
        reply.status,
        404,
        "the host's data dir is not visible: {}",
        reply.text()
    );

    let reply = kumo.get("alpha", "/ls?dir=/").await;
    assert_eq!(
        reply.status,
        404,
        "the host's root cannot be listed: {}",
        reply.text()
    );
    let reply = kumo.get("alpha", "/ls?dir=/app").await;
    assert_eq!(reply.text(), "README.txt\nalpha.txt\nfiles.wasm\n");

    assert_eq!(kumo.get("alpha", "/tmp-write?data=x").await.text(), "ok\n");
}

//! The Clojure buildpack end to end: `kumo deploy examples/clojure-ring` (a
//! Leiningen project: a Ring handler served by `lein ring server-headless`,
//! org.clojure/data.json from Maven Central, a worker run by `lein run`)
//! compiled ahead of time and run from a JVM pre-initialised with Clojure's
//! runtime; a config var, a request body, a lazy-seq response answering a
//! request body line by line while both stream, a handler that throws (500, the
//! stack trace in the logs, the dyno still serving), the worker as a one-off
//! (arguments, stdin, `System/exit`'s status, an uncaught exception);
//! and a deps.edn app, pushed with `git push`, whose `-main` serves its handler with
//! `kumo.ring/run-server`, then a dependency Maven Central does not have
//! failing the build while the release keeps serving.

use crate::support::{
    Server, check_chat, check_echo, deploy_dir, failing_route_logs, git_push_dir, has, kumo,
    run_one_off, stdout, wait_for_answer,
};
use std::path::Path;

#[test]
fn a_ring_app_and_a_deps_edn_app_serve_from_a_preinitialised_jvm() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "clj"]));
    stdout(&kumo(&server, &["config:set", "-a", "clj", "GREETING=Hej"]));

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/clojure-ring");
    let (ok, out) = deploy_dir(&server, "clj", &example);
    assert!(ok, "{out}");
    has(&out, "-----> Clojure (Leiningen) app detected");
    has(&out, "Fetching 2 dependencies from Maven Central");
    has(&out, "Compiling 1 namespace(s) ahead of time: hello.core");
    has(&out, "Pre-initialising the JVM for `web` with Wizer");
    has(
        &out,
        "`web` runs -cp .kumo/clojure/app.jar:.kumo/clojure/classes:.kumo/clojure/lib/* kumo.Ring hello.core/app",
    );
    has(&out, "Procfile declares types -> web, worker");

    // The Ring handler: a config var, the request map, a dependency's code.
    let reply = wait_for_answer(&server, "clj", "/", "Hej from Clojure on Kumo (request ");
    has(
        &reply.head.to_lowercase(),
        "content-type: text/plain; charset=utf-8",
    );
    check_echo(&server, "clj");
    check_chat(&server, "clj");
    let sum = server.post("clj", "/sum", None, "[1, 2, 39]");
    assert_eq!(sum.body, "{\"sum\":42,\"count\":3}");

    // A handler that throws: 500, the stack trace in the logs, the dyno serving on.
    let logs = failing_route_logs(&server, "clj");
    has(&logs, "at hello.core$app.invokeStatic");
    // Instances of ~250 MB: a 512 MB dyno keeps one, not WEB_CONCURRENCY's two.
    has(
        &logs,
        "Serving with 1 instance(s), not WEB_CONCURRENCY=2: each starts with",
    );
    assert_eq!(server.get("clj", "/").status, 200);

    // The worker (`lein run`) as a one-off with arguments, and one that throws.
    let run = run_one_off(&server, "clj", &["worker"], &["one", "two"], None);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "worker: args= one,two\n"
    );
    assert_eq!(run.status.code(), Some(0));
    // stdin reaches `read-line`; System/exit's status reaches the caller whole.
    let run = run_one_off(
        &server,
        "clj",
        &["worker"],
        &["stdin"],
        Some("a line from stdin\n"),
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "worker: args= stdin\nworker: read a line from stdin\n"
    );
    let run = run_one_off(&server, "clj", &["worker"], &["exit", "3"], None);
    assert_eq!(
        run.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let run = run_one_off(&server, "clj", &["worker"], &["fail"], None);
    assert_ne!(run.status.code(), Some(0));
    // As clojure.main reports an uncaught exception.
    let stderr = String::from_utf8_lossy(&run.stderr);
    has(
        &stderr,
        "Execution error (IllegalArgumentException) at hello.core/-main",
    );
    has(&stderr, "asked to fail");

    // deps.edn, `clojure -M -m`, and a -main serving with kumo.ring/run-server.
    stdout(&kumo(&server, &["apps:create", "tiny"]));
    let tiny = data.path().join("tiny");
    std::fs::create_dir_all(tiny.join("src/tiny")).unwrap();
    std::fs::write(
        tiny.join("deps.edn"),
        "{:paths [\"src\"] :deps {org.clojure/clojure {:mvn/version \"1.12.3\"}}}\n",
    )
    .unwrap();
    std::fs::write(
        tiny.join("src/tiny/web.clj"),
        "(ns tiny.web (:require [kumo.ring :as ring]))\n\
         (defn handler [req]\n\
           {:status (if (= \"/\" (:uri req)) 200 201) :headers {\"X-Tiny\" [\"a\" \"b\"]}\n\
            :body [\"tiny \" (:uri req) \" \" (:query-string req) \" \" (name (:request-method req))]})\n\
         (defn -main [& _] (ring/run-server #'handler {:port 0}))\n",
    )
    .unwrap();
    std::fs::write(tiny.join("Procfile"), "web: clojure -M -m tiny.web\n").unwrap();
    let (ok, out) = git_push_dir(&server, "tiny", &tiny);
    assert!(ok, "{out}");
    has(&out, "-----> Clojure (deps.edn) app detected");
    has(&out, "clojure.main -m tiny.web");
    wait_for_answer(&server, "tiny", "/", "tiny /  get");
    let reply = server.get("tiny", "/a/b?c=d");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (201, "tiny /a/b c=d get")
    );
    has(&reply.head.to_lowercase(), "x-tiny: a");
    has(&reply.head.to_lowercase(), "x-tiny: b");

    // A dependency only Clojars has: the build names it, the release keeps serving.
    std::fs::write(
        tiny.join("deps.edn"),
        "{:paths [\"src\"] :deps {org.clojure/clojure {:mvn/version \"1.12.3\"} \
          ring/ring-core {:mvn/version \"1.12.2\"}}}\n",
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "tiny", &tiny);
    assert!(!ok, "{out}");
    has(&out, "Maven could not fetch the dependencies");
    has(&out, "ring/ring-core 1.12.2");
    has(&out, "Clojars is not reachable from its builds");
    assert_eq!(server.get("tiny", "/a").status, 201);
}

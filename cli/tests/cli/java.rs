//! The Java buildpack end to end: `kumo deploy examples/java-httpserver` (a
//! plain `*.java` tree on the JDK's own `HttpServer`) compiled with `javac`,
//! run by Kumo's JVM runtime and served through the router; a config var and
//! a `-D` property reaching the app; request and response bodies streaming
//! (each line of a chunked POST answered before the next is sent); a handler that throws (500, the Java stack
//! trace in the logs, the dyno still serving); the worker class as one-offs
//! (`kumo run -- java …`) with arguments, stdin and a failing exit; and a
//! Procfile naming a class that does not exist failing the build while the
//! previous release keeps serving; and `examples/java-maven` (Maven, Gson from
//! Maven Central) run as `java -jar`; and `examples/scala-hello` compiled
//! with scalac (its worker as `java` one-offs with stdin and exit statuses, a
//! handler that throws); those two deployed with `git push`; and Java features
//! the JVM cannot run (sockets, processes, native libraries) failing with the
//! method and the reason.
//!
//! The first build compiles Kumo's JVM runtime (ristretto for wasm32-wasip2,
//! minutes on two cores); it is kept among the server's build tools after that.

use crate::support::{
    Server, check_chat, check_echo, copy_tree, deploy_dir, failing_route_logs, git_push_dir, has,
    kumo, run_one_off, stdout, wait_for_answer,
};
use std::path::Path;
use std::time::Instant;

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/java-httpserver")
}

/// `kumo run -a jvm -- java -cp classes com.example.Worker ARGS`, attached, with `stdin`.
fn worker(server: &Server, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let command = ["java", "-cp", "classes", "com.example.Worker"];
    run_one_off(server, "jvm", &command, args, stdin)
}

#[test]
fn deploy_serves_a_jdk_httpserver_app_with_workers_as_one_offs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "jvm"]));
    stdout(&kumo(&server, &["config:set", "-a", "jvm", "GREETING=Hej"]));

    let started = Instant::now();
    let (ok, out) = deploy_dir(&server, "jvm", &example());
    assert!(ok, "{out}");
    eprintln!("first Java build: {:.1?}", started.elapsed());
    has(&out, "-----> Java app detected");
    has(&out, "Compiling 3 Java source file(s) with javac");
    has(&out, "Linking the Java class library (once)");
    has(
        &out,
        "`web` runs -Dapp.name=java-httpserver -cp classes com.example.App",
    );
    has(&out, "Procfile declares types -> web");
    has(&out, "Released v2");

    // The JDK's HttpServer, its handlers, a config var and a -D property.
    let reply = wait_for_answer(&server, "jvm", "/", "Hej from Java on Kumo (request 1)");
    has(
        &reply.head.to_lowercase(),
        "content-type: text/plain; charset=utf-8",
    );
    let logs = stdout(&kumo(&server, &["logs", "-a", "jvm", "-n", "1500"]));
    has(&logs, "java-httpserver listening on port");
    // The instance stays warm: the next request is counted by the same VM.
    let again = server.get("jvm", "/");
    assert!(
        again.body.starts_with("Hej from Java on Kumo (request "),
        "{}",
        again.body
    );
    check_echo(&server, "jvm");
    check_chat(&server, "jvm");

    // A handler that throws: 500, the stack trace in the logs, the dyno serving on.
    let logs = failing_route_logs(&server, "jvm");
    has(&logs, "at com.example.App.lambda$main$");
    assert_eq!(server.get("jvm", "/").status, 200);

    // The worker class as one-offs: arguments, stdin, and an uncaught exception.
    let run = worker(&server, &["one", "two"], None);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "worker: args=one,two\n"
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let run = worker(&server, &["stdin"], Some("a line from stdin\n"));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "worker: args=stdin\nworker: read a line from stdin\n"
    );
    // System.exit's status reaches the caller whole.
    let run = worker(&server, &["exit", "42"], None);
    assert_eq!(
        run.status.code(),
        Some(42),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "worker: args=exit,42\n"
    );
    let run = worker(&server, &["fail"], None);
    assert_eq!(run.status.code(), Some(1));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    has(
        &output,
        "Exception in thread \"main\" java.lang.IllegalArgumentException: asked to fail",
    );

    // A Procfile naming a class the build does not make fails the build; the
    // previous release keeps serving.
    let broken = data.path().join("broken");
    copy_tree(&example(), &broken);
    std::fs::write(
        broken.join("Procfile"),
        "web: java -cp classes com.example.Nope\n",
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "jvm", &broken);
    assert!(!ok, "{out}");
    has(
        &out,
        "main class `com.example.Nope` is not on the class path (classes): check the package and class name",
    );
    let reply = server.get("jvm", "/");
    assert!(
        reply.body.starts_with("Hej from Java on Kumo"),
        "{}",
        reply.body
    );
}

#[test]
fn a_maven_project_runs_as_java_jar_with_its_dependencies() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "maven"]));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/java-maven");
    let (ok, out) = git_push_dir(&server, "maven", &example);
    assert!(ok, "{out}");
    has(&out, "-----> Java (Maven) app detected");
    has(
        &out,
        "Running mvn -DskipTests package dependency:copy-dependencies",
    );
    // `java -jar` becomes the jar's class path (its manifest's Class-Path) and Main-Class.
    has(
        &out,
        "`web` runs -cp target/app.jar:target/dependency/gson-2.13.1.jar:\
         target/dependency/error_prone_annotations-2.38.0.jar com.example.App",
    );
    let reply = wait_for_answer(&server, "maven", "/json", "\"app\":\"java-maven\"");
    assert_eq!(
        reply.body,
        "{\"app\":\"java-maven\",\"path\":\"/json\",\"greeting\":\"Hello\"}"
    );
    has(&reply.head.to_lowercase(), "content-type: application/json");
}

#[test]
fn a_scala_app_is_compiled_with_scalac_and_served() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "scala"]));
    stdout(&kumo(
        &server,
        &["config:set", "-a", "scala", "GREETING=Hi"],
    ));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scala-hello");
    let (ok, out) = git_push_dir(&server, "scala", &example);
    assert!(ok, "{out}");
    has(&out, "-----> Scala app detected");
    has(&out, "Fetching scalac 2.13.18 from Maven Central (once)");
    has(&out, "Compiling 1 Scala source file(s) with scalac 2.13.18");
    has(
        &out,
        "`web` runs -cp classes:.kumo/scala/scala-library.jar example.Main",
    );
    let reply = wait_for_answer(&server, "scala", "/greet", "Hi from SCALA ON KUMO: /greet");
    assert_eq!(reply.body, "Hi from SCALA ON KUMO: /greet\n");

    // The same source with `kumo deploy`; a handler that throws: 500, the trace.
    let (ok, out) = deploy_dir(&server, "scala", &example);
    assert!(ok, "{out}");
    has(&out, "Procfile declares types -> web, worker");
    let logs = failing_route_logs(&server, "scala");
    has(&logs, "at example.Main$.$anonfun$main$");
    assert_eq!(server.get("scala", "/").status, 200);

    // The worker as one-offs with `java`: the Scala library is on every class
    // path; stdin, System.exit's status and an uncaught exception.
    let one_off = |args: &[&str], stdin: Option<&str>| {
        let command = ["java", "-cp", "classes", "example.Worker"];
        run_one_off(&server, "scala", &command, args, stdin)
    };
    let run = one_off(&["stdin"], Some("a line from stdin\n"));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "worker: args=stdin\nworker: read a line from stdin\n",
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(one_off(&["exit", "42"], None).status.code(), Some(42));
    let run = one_off(&["fail"], None);
    assert_eq!(run.status.code(), Some(1));
    has(
        &String::from_utf8_lossy(&run.stderr),
        "Exception in thread \"main\" java.lang.IllegalArgumentException: asked to fail",
    );

    // sbt's dependencies are not resolved: the build says so, the release stays.
    let broken = data.path().join("broken");
    copy_tree(&example, &broken);
    std::fs::write(
        broken.join("build.sbt"),
        "scalaVersion := \"2.13.18\"\nlibraryDependencies += \"com.lihaoyi\" %% \"upickle\" % \"4.0.0\"\n",
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "scala", &broken);
    assert!(!ok, "{out}");
    has(
        &out,
        "build.sbt declares libraryDependencies, which Kumo's Scala buildpack does not resolve",
    );
    assert_eq!(server.get("scala", "/").body, "Hi from SCALA ON KUMO: /\n");
}

#[test]
fn java_features_the_jvm_cannot_run_fail_naming_the_method_and_why() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "limits"]));
    let app = data.path().join("limits");
    copy_tree(&example(), &app);
    std::fs::write(
        app.join("src/com/example/Limits.java"),
        r#"package com.example;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;

/** Serves `/socket`, `/exec` and `/native`, or runs one of them named as its argument. */
public class Limits {
    public static void main(String[] args) throws Exception {
        if (args.length > 0) {
            attempt(args[0]);
            return;
        }
        HttpServer server = HttpServer.create(
                new InetSocketAddress(Integer.parseInt(System.getenv("PORT"))), 0);
        server.createContext("/", exchange -> {
            attempt(exchange.getRequestURI().getPath().substring(1));
            byte[] ok = "ok\n".getBytes();
            exchange.sendResponseHeaders(200, ok.length);
            try (var out = exchange.getResponseBody()) {
                out.write(ok);
            }
        });
        server.start();
    }

    static void attempt(String what) throws java.io.IOException {
        switch (what) {
            case "socket" -> new java.net.Socket("127.0.0.1", 9).close();
            case "exec" -> new ProcessBuilder("ls").start();
            case "native" -> System.loadLibrary("fast");
            default -> { }
        }
    }
}
"#,
    )
    .unwrap();
    std::fs::write(
        app.join("Procfile"),
        "web: java -cp classes com.example.Limits\n",
    )
    .unwrap();
    let (ok, out) = deploy_dir(&server, "limits", &app);
    assert!(ok, "{out}");
    wait_for_answer(&server, "limits", "/", "ok");

    // A request that opens a socket or starts a process: 500, and the app's log
    // names the method, the reason and the app's frame; the dyno serves on.
    for (path, reason) in [
        ("/socket", "JVM apps on Kumo cannot open network sockets"),
        ("/exec", "a dyno cannot start processes"),
    ] {
        assert_eq!(server.get("limits", path).status, 500, "{path}");
        let logs = stdout(&kumo(&server, &["logs", "-a", "limits", "-n", "1500"]));
        has(&logs, &format!("Exception in handler for GET {path}:"));
        has(&logs, "java.lang.UnsatisfiedLinkError");
        has(&logs, "Kumo: the native method ");
        has(&logs, reason);
        has(&logs, "at com.example.Limits.attempt(Limits.java");
    }
    assert_eq!(server.get("limits", "/").body, "ok\n");

    // A one-off loading a native library: exit 1 with the library and the reason.
    let command = ["java", "-cp", "classes", "com.example.Limits"];
    let run = run_one_off(&server, "limits", &command, &["native"], None);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    has(&stderr, "no fast in java.library.path");
    has(
        &stderr,
        "native libraries cannot be loaded: only Java bytecode runs on Kumo's JVM",
    );
}

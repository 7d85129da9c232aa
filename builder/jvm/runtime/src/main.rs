//! Kumo's JVM runtime: the `ristretto_vm` JVM interpreter as one component that
//! is both a `wasi:cli/run` command (workers, one-offs, the release phase) and a
//! `wasi:http/incoming-handler` (web dynos).
//!
//! Its arguments are a `java` command line as JVM developers write it:
//! `[options] -cp PATH[:PATH…] MainClass [args…]`, with `-D` properties,
//! `JAVA_OPTS` and `JAVA_TOOL_OPTIONS` read first (`-jar` is resolved to a class
//! path and main class by the buildpack). The class library is the jlinked image
//! in `/app/.jdk`; Kumo's own classes (`kumo.Bridge`, the `HttpServerProvider`)
//! are in `/app/.kumo/jvm-classes`, always on the class path.
//!
//! As a command it boots the VM, runs `main` and exits with its status; an
//! uncaught exception is printed as the `java` launcher prints it, and exits 1.
//!
//! As a web dyno the instance boots the VM and runs `main` at its first request:
//! the app creates its `com.sun.net.httpserver.HttpServer` (Kumo's provider
//! answers, through the `com.sun.net.httpserver.HttpServerProvider` property),
//! registers its handlers and returns. Every request is then handed to
//! `kumo.Bridge.serve` on the same, warm VM, with the request head as bytes;
//! the handler reads the request body and sends the response head and body
//! through `kumo.NativeWire`, whose native methods (the `kumo` module the
//! build patches into ristretto's intrinsics) are [`Streams`] here: bytes move
//! between `wasi:http` and the handler as it reads and writes them. Java
//! threads live only as long as one call into the VM, so handlers run inline
//! (the server ignores executors).

use ristretto_vm::{ClassPath, ConfigurationBuilder, Error, VM, Value};
use std::cell::RefCell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

/// Where the buildpack puts the class library and Kumo's classes in the slug.
const JAVA_HOME: &str = "/app/.jdk";
const KUMO_JAR: &str = "/app/.kumo/jvm-classes";
/// Where the Scala buildpack puts the Scala library.
const SCALA_LIBRARY: &str = "/app/.kumo/scala/scala-library.jar";
/// Relative class path entries are relative to the app, as `java` run in `/app` sees them.
const APP_DIR: &str = "/app";

/// What a `java` command line asks for.
#[derive(Default)]
struct Launch {
    class_path: Vec<String>,
    main_class: String,
    args: Vec<String>,
    properties: Vec<(String, String)>,
}

/// Reads `java` options: `JAVA_TOOL_OPTIONS`, then `JAVA_OPTS`, then the command
/// line (a later `-D` of the same name wins, as with `java`).
fn parse(env_opts: &[&str], argv: &[String]) -> Result<Launch, String> {
    let mut launch = Launch::default();
    let mut words: Vec<String> = env_opts
        .iter()
        .flat_map(|opts| opts.split_whitespace().map(str::to_string))
        .collect();
    // argv[0] is the component itself; a leading `java` (the Procfile's program) is skipped too.
    let mut rest = argv.iter().skip(1).peekable();
    if rest.peek().is_some_and(|w| w.as_str() == "java") {
        rest.next();
    }
    let env_count = words.len();
    words.extend(rest.cloned());
    let mut i = 0;
    let mut class_path: Option<String> = None;
    while i < words.len() {
        let word = &words[i];
        let from_env = i < env_count;
        match word.as_str() {
            "-cp" | "-classpath" | "--class-path" => {
                let Some(value) = words.get(i + 1) else {
                    return Err(format!("{word} needs a class path after it"));
                };
                class_path = Some(value.clone());
                i += 2;
                continue;
            }
            "-jar" => {
                return Err(
                    "`-jar` reached the runtime unresolved: Kumo's Java buildpack turns `java -jar APP.jar` \
                     into the jar's class path and main class; redeploy with a Procfile Kumo built"
                        .into(),
                );
            }
            _ => {}
        }
        if let Some(property) = word.strip_prefix("-D") {
            let (name, value) = property.split_once('=').unwrap_or((property, ""));
            launch.properties.retain(|(n, _)| n != name);
            launch
                .properties
                .push((name.to_string(), value.to_string()));
        } else if let Some(value) = word.strip_prefix("--class-path=") {
            class_path = Some(value.to_string());
        } else if word.starts_with('-') {
            // -Xmx, -Xss, -ea, -server, --enable-preview…: the interpreter has no use for them.
        } else if from_env {
            return Err(format!(
                "JAVA_OPTS may hold options only, not `{word}`: name the main class in the Procfile"
            ));
        } else {
            launch.main_class = word.clone();
            launch.args = words[i + 1..].to_vec();
            break;
        }
        i += 1;
    }
    if launch.main_class.is_empty() {
        return Err(
            "no main class: write the command as `java -cp CLASSPATH com.example.Main`".into(),
        );
    }
    let class_path = class_path
        .or_else(|| std::env::var("CLASSPATH").ok())
        .unwrap_or_else(|| ".".into());
    launch.class_path = expand_class_path(&class_path)?;
    Ok(launch)
}

/// Splits a class path on `:`, makes its entries absolute under `/app`, and
/// expands `dir/*` to the jars in `dir`, as `java` does.
fn expand_class_path(class_path: &str) -> Result<Vec<String>, String> {
    let mut entries = Vec::new();
    for entry in class_path.split(':').filter(|e| !e.is_empty()) {
        let path = Path::new(APP_DIR).join(entry);
        if entry == "*" || entry.ends_with("/*") {
            let dir = path.parent().unwrap_or(Path::new(APP_DIR));
            let listed = std::fs::read_dir(dir)
                .map_err(|e| format!("class path entry `{entry}`: {}: {e}", dir.display()))?;
            let mut jars: Vec<PathBuf> = listed
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jar")))
                .collect();
            jars.sort();
            entries.extend(jars.into_iter().map(|p| p.display().to_string()));
        } else {
            entries.push(path.display().to_string());
        }
    }
    // A Scala app's commands all get the Scala library, as the `scala` runner
    // gives it: `java -cp classes Main` works in a one-off as in the Procfile.
    if Path::new(SCALA_LIBRARY).is_file() && !entries.iter().any(|e| e == SCALA_LIBRARY) {
        entries.push(SCALA_LIBRARY.to_string());
    }
    entries.push(KUMO_JAR.to_string());
    Ok(entries)
}

/// Whether the VM's output is held back (while the snapshot is taken: a
/// stdout or stderr handle opened then would not exist in a dyno).
static HOLDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The VM's stdout or stderr: the process's own, except while [`HOLDING`],
/// when what the JVM prints (warnings while warming up) is dropped.
struct Output {
    stderr: bool,
}

impl std::io::Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if HOLDING.load(std::sync::atomic::Ordering::Relaxed) {
            Ok(bytes.len())
        } else if self.stderr {
            std::io::stderr().write(bytes)
        } else {
            std::io::stdout().write(bytes)
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if HOLDING.load(std::sync::atomic::Ordering::Relaxed) {
            Ok(())
        } else if self.stderr {
            std::io::stderr().flush()
        } else {
            std::io::stdout().flush()
        }
    }
}

/// Boots a VM on `class_path` with `properties` set as `-D` sets them.
async fn boot(class_path: &[String], properties: &[(String, String)]) -> Result<Arc<VM>, String> {
    let mut builder = ConfigurationBuilder::new()
        .stdout(Arc::new(tokio::sync::Mutex::new(Output { stderr: false })))
        .stderr(Arc::new(tokio::sync::Mutex::new(Output { stderr: true })))
        .class_path(ClassPath::from(class_path))
        .java_home(PathBuf::from(JAVA_HOME))
        .add_system_property("os.name", "Linux")
        .add_system_property("user.dir", APP_DIR)
        .add_system_property("user.home", APP_DIR)
        .add_system_property(
            "com.sun.net.httpserver.HttpServerProvider",
            "kumo.KumoHttpServerProvider",
        );
    for (name, value) in properties {
        builder = builder.add_system_property(name, value);
    }
    let configuration = builder
        .build()
        .map_err(|e| format!("configuring the JVM: {e}"))?;
    VM::new(configuration)
        .await
        .map_err(|e| format!("starting the JVM: {e}"))
}

/// Words for `kumo.Launch`, `\0`-separated.
fn words<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    words
        .into_iter()
        .collect::<Vec<_>>()
        .join("\0")
        .into_bytes()
}

/// A booted VM and the runtime that drives it.
struct Warm {
    runtime: tokio::runtime::Runtime,
    vm: Arc<VM>,
}

/// The VM booted while the build pre-initialised this component (a Wizer
/// snapshot), with the class path it was booted on.
struct Booted {
    class_path: Vec<String>,
    warm: Warm,
}

thread_local! {
    static BOOTED: RefCell<Option<Booted>> = const { RefCell::new(None) };
}

/// A VM for `launch`: the pre-initialised one when it was booted on the same
/// class path (the command's `-D` properties are then set on it), else a new one.
fn start(launch: &Launch) -> Result<Warm, String> {
    let booted = BOOTED.with(|b| b.borrow_mut().take());
    if let Some(booted) = booted {
        if booted.class_path == launch.class_path {
            let warm = booted.warm;
            let pairs = launch
                .properties
                .iter()
                .flat_map(|(n, v)| [n.as_str(), v.as_str()]);
            let set = warm.runtime.block_on(warm.vm.invoke(
                "kumo.Launch",
                "properties([B)V",
                &[words(pairs)],
            ));
            return match set {
                Ok(_) => Ok(warm),
                Err(e) => Err(warm.runtime.block_on(describe(&warm.vm, e))),
            };
        }
    }
    let runtime = runtime();
    let vm = runtime.block_on(boot(&launch.class_path, &launch.properties))?;
    Ok(Warm { runtime, vm })
}

/// Runs the launch's `main` on `vm`, as `java` does; `Err` holds the
/// exception as the launcher prints it.
async fn run_main(vm: &VM, launch: &Launch) -> Result<(), String> {
    let command =
        std::iter::once(launch.main_class.as_str()).chain(launch.args.iter().map(String::as_str));
    match vm
        .invoke("kumo.Launch", "main([B)V", &[words(command)])
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(describe(vm, e).await),
    }
}

/// An error from the VM as the `java` launcher would print it: a Java
/// exception with its stack trace (formatted by `kumo.Bridge.describe`).
async fn describe(vm: &VM, error: Error) -> String {
    match error {
        Error::Throwable(throwable) => {
            let text = vm
                .invoke(
                    "kumo.Bridge",
                    "describe(Ljava/lang/Throwable;)[B",
                    &[throwable],
                )
                .await;
            match text {
                Ok(Some(value)) => value
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|e| format!("an exception Kumo could not describe: {e}")),
                _ => "an exception Kumo could not describe".into(),
            }
        }
        other => other.to_string(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}

/// The `java` command line this instance was started with, and the options
/// `JAVA_TOOL_OPTIONS` and `JAVA_OPTS` add to it.
fn launch() -> Result<Launch, String> {
    let argv: Vec<String> = std::env::args().collect();
    let opts: Vec<String> = ["JAVA_TOOL_OPTIONS", "JAVA_OPTS"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .collect();
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    parse(&opts, &argv)
}

fn main() {
    let launch = match launch() {
        Ok(launch) => launch,
        Err(e) => {
            eprintln!("Error: {e}");
            exit(2);
        }
    };
    let status = match start(&launch) {
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
        Ok(warm) => match warm.runtime.block_on(run_main(&warm.vm, &launch)) {
            Ok(()) => 0,
            Err(text) => {
                eprintln!(
                    "Exception in thread \"main\" {}",
                    text.trim_end_matches('\n')
                );
                1
            }
        },
    };
    let _ = std::io::stdout().flush();
    exit(status);
}

/// Ends the command with `status`, whole: WASI 0.2's `exit` (what
/// `std::process::exit` calls) carries only success or failure, its
/// `exit-with-code` the status. `System.exit` goes the same way (the
/// intrinsics patch's `Shutdown.halt0`).
fn exit(status: u8) -> ! {
    wasip2::cli::exit::exit_with_code(status);
    std::process::exit(i32::from(status))
}

thread_local! {
    static WARM: RefCell<Option<Result<Warm, String>>> = const { RefCell::new(None) };
}

/// Starts the VM and runs the app's `main` (once per instance); the app must
/// have started an `HttpServer` by then.
fn warm_up() -> Result<Warm, String> {
    let launch = launch()?;
    let warm = start(&launch)?;
    warm.runtime.block_on(async {
        if let Err(text) = run_main(&warm.vm, &launch).await {
            return Err(format!(
                "{}.main failed: {}",
                launch.main_class,
                text.trim_end_matches('\n')
            ));
        }
        let started = warm.vm.invoke("kumo.Bridge", "started()Z", &[] as &[Value]).await;
        match started {
            Ok(Some(Value::Int(1))) => Ok(()),
            Ok(_) => Err(format!(
                "{}.main returned without starting an HttpServer: a web process creates one with \
                 `HttpServer.create(new InetSocketAddress(Integer.parseInt(System.getenv(\"PORT\"))), 0)`, \
                 adds its contexts and calls start()",
                launch.main_class
            )),
            Err(e) => Err(describe(&warm.vm, e).await),
        }
    })?;
    Ok(warm)
}

/// What the build asks the pre-initialisation to boot: `\0`-separated words,
/// the classes to initialise (space-separated), then a command's arguments.
const PREINIT: &str = "/app/.kumo/jvm-preinit";

unsafe extern "C" {
    /// wasi-libc: forget the preopened folders, found again at their next use.
    fn __wasilibc_reset_preopens();
    /// wasi-libc: forget the environment, read again at its next use.
    fn __wasilibc_deinitialize_environ();
}

/// Run once by Wizer at build time (`wizer-initialize`): boots a VM on the
/// class path of the command in [`PREINIT`] and initialises the classes it
/// names (a language runtime such as Clojure's), so every instance made from
/// the snapshot starts with that VM booted. The app's own classes are not
/// touched: their static initialisers may read config vars, which the build
/// does not have. Nothing is written to stdout or stderr, and wasi-libc's
/// preopens and environment are forgotten, so no host handle or build-time
/// value outlives the snapshot.
fn preinitialize() {
    let text =
        std::fs::read_to_string(PREINIT).unwrap_or_else(|e| panic!("reading {PREINIT}: {e}"));
    let mut words = text.split('\0');
    let classes = words.next().unwrap_or("").to_string();
    let argv: Vec<String> = std::iter::once("java.wasm".to_string())
        .chain(words.map(str::to_string))
        .collect();
    let launch = parse(&[], &argv).unwrap_or_else(|e| panic!("{PREINIT}: {e}"));
    HOLDING.store(true, std::sync::atomic::Ordering::Relaxed);
    let runtime = runtime();
    let (vm, note) = runtime
        .block_on(async {
            let vm = boot(&launch.class_path, &[]).await?;
            let classes = words_of(&classes);
            match vm.invoke("kumo.Launch", "warm([B)[B", &[classes]).await {
                Ok(note) => {
                    let note = note
                        .and_then(|v| v.as_bytes().ok().map(|b| b.to_vec()))
                        .unwrap_or_default();
                    Ok((vm, String::from_utf8_lossy(&note).into_owned()))
                }
                Err(e) => Err(describe(&vm, e).await),
            }
        })
        .unwrap_or_else(|e| panic!("pre-initialising the JVM: {e}"));
    // A file the JVM still holds open would name a descriptor no dyno has.
    let open = runtime.block_on(async {
        <VM as ristretto_types::VM>::file_handles(&vm)
            .read()
            .await
            .len()
    });
    assert!(
        open == 0,
        "the JVM keeps {open} file(s) open after initialising {classes}, so no snapshot is taken {note}"
    );
    HOLDING.store(false, std::sync::atomic::Ordering::Relaxed);
    BOOTED.with(|b| {
        *b.borrow_mut() = Some(Booted {
            class_path: launch.class_path,
            warm: Warm { runtime, vm },
        })
    });
    // SAFETY: both only reset wasi-libc's lazily filled tables; nothing holds
    // a reference into them here.
    unsafe {
        __wasilibc_reset_preopens();
        __wasilibc_deinitialize_environ();
    }
}

fn words_of(spaced: &str) -> Vec<u8> {
    words(spaced.split_whitespace())
}

mod preinit {
    wit_bindgen::generate!({
        inline: "package kumo:jvm; world preinit { export wizer-initialize: func(); }",
    });

    struct Preinit;

    export!(Preinit);

    impl Guest for Preinit {
        fn wizer_initialize() {
            super::preinitialize();
        }
    }
}

/// The request head as `kumo.Bridge.handle` reads it: method, target, client
/// address, then one `Name: value` line per header.
fn request_head(request: &IncomingRequest) -> Vec<u8> {
    use wasip2::http::types::Method;
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    };
    let headers = request.headers().entries();
    let client = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| {
            String::from_utf8_lossy(v)
                .rsplit(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    let mut head = format!(
        "{method}\n{}\n{client}\n",
        request.path_with_query().unwrap_or_else(|| "/".into())
    )
    .into_bytes();
    for (name, value) in headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(&value);
        head.push(b'\n');
    }
    head
}

/// The request being served, as `kumo.NativeWire` streams it: the request
/// body is read and the response sent while the app's handler runs.
struct Exchange {
    /// The request body's stream (dropped before its body).
    input: Option<InputStream>,
    request_body: Option<IncomingBody>,
    /// Until the handler sends its head.
    out: Option<ResponseOutparam>,
    /// After it: the response body's stream (dropped before its body).
    output: Option<OutputStream>,
    response_body: Option<OutgoingBody>,
}

thread_local! {
    static EXCHANGE: RefCell<Option<Exchange>> = const { RefCell::new(None) };
}

/// What a write to a client that went away says, as the JDK's server does.
const GONE: &str = "Broken pipe (the client closed the connection)";

/// The wire `kumo.NativeWire`'s native methods use: the [`EXCHANGE`] in progress.
struct Streams;

impl ristretto_intrinsics::kumo::Wire for Streams {
    fn read(&self, max: usize) -> Result<Vec<u8>, String> {
        with_exchange(|exchange| {
            let Some(input) = &exchange.input else {
                return Ok(Vec::new());
            };
            loop {
                match input.blocking_read(max as u64) {
                    Ok(bytes) if bytes.is_empty() => continue,
                    Ok(bytes) => return Ok(bytes),
                    Err(StreamError::Closed) => return Ok(Vec::new()),
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(format!("reading the request body: {}", e.to_debug_string()));
                    }
                }
            }
        })
    }

    fn head(&self, head: &[u8], length: i64) -> Result<(), String> {
        let (status, headers) = parse_head(head)?;
        with_exchange(|exchange| {
            if exchange.out.is_none() {
                return Err("headers already sent".into());
            }
            // Refused (a status wasi:http does not take): the outparam stays for the 500.
            let (response, body) = response(status, &headers, length)?;
            let out = exchange.out.take().ok_or("headers already sent")?;
            ResponseOutparam::set(out, Ok(response));
            exchange.output = Some(
                body.write()
                    .map_err(|()| "the response body has no stream")?,
            );
            exchange.response_body = Some(body);
            Ok(())
        })
    }

    fn write(&self, bytes: &[u8]) -> Result<(), String> {
        with_exchange(|exchange| {
            let output = exchange
                .output
                .as_ref()
                .ok_or("response headers not sent yet")?;
            for chunk in bytes.chunks(4096) {
                output.blocking_write_and_flush(chunk).map_err(|_| GONE)?;
            }
            Ok(())
        })
    }
}

fn with_exchange<T>(f: impl FnOnce(&mut Exchange) -> Result<T, String>) -> Result<T, String> {
    EXCHANGE.with(|exchange| match exchange.borrow_mut().as_mut() {
        Some(exchange) => f(exchange),
        None => Err("no request is being served".into()),
    })
}

/// A response head as `kumo.NativeWire` sends it: the status line, then
/// `Name: value` lines (bytes as the app set them).
fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, Vec<u8>)>), String> {
    let mut lines = head.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let status = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.trim().parse::<u16>().ok())
        .ok_or("the response head has no status")?;
    let headers = lines
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
            let value = line[colon + 1..].trim_ascii().to_vec();
            Some((name, value))
        })
        .collect();
    Ok((status, headers))
}

/// The `wasi:http` response for a head: the app's headers, framed as
/// `sendResponseHeaders(status, length)` asked (`> 0` that many bytes, `0` any
/// number, `-1` none). The app's own `Content-Length` and `Transfer-Encoding`
/// give way to that, as on the JDK's server.
fn response(
    status: u16,
    headers: &[(String, Vec<u8>)],
    length: i64,
) -> Result<(OutgoingResponse, OutgoingBody), String> {
    let fields = Fields::new();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        // A header the app set that wasi:http refuses (a hop-by-hop one) is dropped.
        let _ = fields.append(name, value);
    }
    let bodiless = status == 204 || status == 304 || (100..200).contains(&status);
    let declared = match length {
        n if n > 0 => Some(n.to_string()),
        -1 if !bodiless => Some("0".to_string()),
        _ => None,
    };
    if let Some(declared) = declared {
        let _ = fields.set("content-length", &[declared.into_bytes()]);
    }
    let response = OutgoingResponse::new(fields);
    response
        .set_status_code(status)
        .map_err(|()| format!("{status} is not an HTTP status code"))?;
    let body = response.body().map_err(|()| "the response has no body")?;
    Ok((response, body))
}

impl Exchange {
    fn new(request: IncomingRequest, out: ResponseOutparam) -> Exchange {
        let request_body = request.consume().ok();
        let input = request_body.as_ref().and_then(|b| b.stream().ok());
        Exchange {
            input,
            request_body,
            out: Some(out),
            output: None,
            response_body: None,
        }
    }

    /// Ends the response: finished, or dropped unfinished when `cut` (the
    /// client then sees it cut short). A handler that sent no head gets a 500.
    fn end(mut self, cut: bool) {
        drop(self.input.take());
        drop(self.request_body.take());
        if let Some(out) = self.out.take() {
            return plain(out, 500, "Internal Server Error\n");
        }
        drop(self.output.take());
        if let Some(body) = self.response_body.take() {
            if !cut {
                let _ = OutgoingBody::finish(body, None);
            }
        }
    }
}

fn plain(out: ResponseOutparam, status: u16, text: &str) {
    let headers = [(
        "content-type".to_string(),
        b"text/plain; charset=utf-8".to_vec(),
    )];
    let Ok((response, body)) = response(status, &headers, text.len() as i64) else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = body.write() {
        let _ = stream.blocking_write_and_flush(text.as_bytes());
    }
    let _ = OutgoingBody::finish(body, None);
}

struct Web;

wasip2::http::proxy::export!(Web);

impl Guest for Web {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let head = request_head(&request);
        EXCHANGE.with(|e| *e.borrow_mut() = Some(Exchange::new(request, out)));
        ristretto_intrinsics::kumo::install(&Streams);
        let served = WARM.with(|warm| {
            let mut warm = warm.borrow_mut();
            let warm = warm.get_or_insert_with(warm_up);
            let warm = match warm {
                Ok(warm) => warm,
                Err(e) => return Err(e.clone()),
            };
            warm.runtime.block_on(async {
                let served = warm.vm.invoke("kumo.Bridge", "serve([B)I", &[head]).await;
                match served {
                    Ok(Some(Value::Int(cut))) => Ok(cut != 0),
                    Ok(_) => Err("kumo.Bridge.serve returned no status".into()),
                    Err(e) => Err(describe(&warm.vm, e).await),
                }
            })
        });
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let exchange = EXCHANGE
            .with(|e| e.borrow_mut().take())
            .expect("the exchange this request installed");
        match served {
            Ok(cut) => exchange.end(cut),
            Err(e) => {
                eprintln!("Error: {e}");
                exchange.end(true);
            }
        }
    }
}

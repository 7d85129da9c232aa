//! Procfiles as each language's developers write them for Heroku: a Go module
//! with a dependency from the Go module proxy, run as `web: bin/gocgi` (where
//! Heroku's Go buildpack installs it) and as `web: gocgi`; a one-file C app
//! run as `web: hello`; and a program the build did not make, refused with the
//! names it did make while the release keeps serving.

use crate::support::{Server, deploy_dir, git_push_dir, has, kumo, stdout, wait_for_answer};

const GO_MOD: &str =
    "module example.com/gocgi\n\ngo 1.21\n\nrequire github.com/google/uuid v1.6.0\n";
const GO_SUM: &str = "github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\n\
                      github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n";
const MAIN_GO: &str = r#"package main

import (
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"

	"github.com/google/uuid"
)

func main() {
	cgi.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://kumo.localhost"+r.URL.Path))
		fmt.Fprintf(w, "%s from gocgi: %s\n", os.Getenv("GREETING"), id)
	}))
}
"#;

#[test]
fn procfiles_name_programs_as_heroku_users_write_them() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");

    // Go: modules from the proxy, `web: bin/gocgi`, pushed with git.
    stdout(&kumo(&server, &["apps:create", "gocgi"]));
    stdout(&kumo(
        &server,
        &["config:set", "-a", "gocgi", "GREETING=Hej"],
    ));
    let go = data.path().join("gocgi");
    std::fs::create_dir_all(&go).unwrap();
    std::fs::write(go.join("go.mod"), GO_MOD).unwrap();
    std::fs::write(go.join("go.sum"), GO_SUM).unwrap();
    std::fs::write(go.join("main.go"), MAIN_GO).unwrap();
    std::fs::write(go.join("Procfile"), "web: bin/gocgi\n").unwrap();
    let (ok, out) = git_push_dir(&server, "gocgi", &go);
    assert!(ok, "{out}");
    has(&out, "-----> Go app detected");
    has(&out, "Downloading modules from https://proxy.golang.org");
    has(&out, "Building . into gocgi.wasm");
    has(&out, "`web` runs gocgi.wasm (the program `bin/gocgi`)");
    // uuid.NewSHA1(NameSpaceURL, "https://kumo.localhost/hi"), as Go computes it natively.
    wait_for_answer(
        &server,
        "gocgi",
        "/hi",
        "Hej from gocgi: 152650f6-c3e1-523e-b52b-996c391deb44",
    );
    // The module name alone, from the app's module cache this time.
    std::fs::write(go.join("Procfile"), "web: gocgi\n").unwrap();
    let (ok, out) = deploy_dir(&server, "gocgi", &go);
    assert!(ok, "{out}");
    has(&out, "`web` runs gocgi.wasm (the program `gocgi`)");
    has(&out, "Released v3");
    assert_eq!(server.get("gocgi", "/hi").status, 200);

    // A program the build did not make: the build names what it made.
    std::fs::write(go.join("Procfile"), "web: bin/server\n").unwrap();
    let (ok, out) = deploy_dir(&server, "gocgi", &go);
    assert!(!ok, "{out}");
    has(
        &out,
        "Procfile line 1: `web: bin/server` runs `bin/server`, which the build did not produce: \
         name one of the app's programs (the build made: gocgi (gocgi.wasm))",
    );
    assert_eq!(server.get("gocgi", "/hi").status, 200);

    // C: one source file, run by its name.
    stdout(&kumo(&server, &["apps:create", "hello-c"]));
    let c = data.path().join("hello-c");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(
        c.join("hello.c"),
        "#include <stdio.h>\n#include <stdlib.h>\n\
         int main(void) {\n  printf(\"Content-Type: text/plain\\r\\n\\r\\nhello from C at %s\\n\", getenv(\"PATH_INFO\"));\n  return 0;\n}\n",
    )
    .unwrap();
    std::fs::write(c.join("Procfile"), "web: hello\n").unwrap();
    let (ok, out) = deploy_dir(&server, "hello-c", &c);
    assert!(ok, "{out}");
    has(&out, "Compiling hello.c into app.wasm");
    has(&out, "`web` runs app.wasm (the program `hello`)");
    wait_for_answer(&server, "hello-c", "/there", "hello from C at /there");
}

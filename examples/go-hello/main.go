// A Go web app for Kumo, served as CGI: each request runs this program
// (built for GOOS=wasip1 GOARCH=wasm) with the request in its environment
// and body on stdin, and net/http/cgi turns that into an http.Request.
package main

import (
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
)

func main() {
	err := cgi.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		greeting := os.Getenv("GREETING")
		if greeting == "" {
			greeting = "Hello"
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s from Go on Kumo: %s %s\n", greeting, r.Method, r.URL.Path)
		fmt.Fprintf(w, "Served by %s of release %s.\n", os.Getenv("DYNO"), os.Getenv("KUMO_RELEASE_VERSION"))
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// A Go worker for Kumo: `worker: worker.wasm` in the Procfile runs it as a
// worker dyno (`kumo ps:scale worker=1`). It does a round of work every few
// seconds and writes a log line for each, which `kumo logs` shows.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "Hello"
	}
	for round := 1; ; round++ {
		fmt.Printf("%s from the Go worker %s: round %d\n", greeting, os.Getenv("DYNO"), round)
		time.Sleep(5 * time.Second)
	}
}

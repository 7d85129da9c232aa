// The JavaScript hello app of Kumo's benchmarks (scripts/bench languages):
// no dependencies, a default export whose fetch answers every request, as the
// Rust (examples/rust-hello) and Python (benches/apps/python-hello) ones do.
export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path !== "/") {
      return new Response("Not found.\n", { status: 404 });
    }
    return new Response(
      `Hello from Kumo! Served by ${process.env.DYNO} of release ${process.env.KUMO_RELEASE_VERSION}.\n`,
      { headers: { "content-type": "text/plain" } },
    );
  },
};

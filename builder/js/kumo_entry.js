// Kumo's entry for JavaScript web components: makes `process.env` read the
// dyno's config vars (through wasi:cli/environment, at each access, so a new
// release's values are seen), imports the app, and serves its default
// export's `fetch(request, env, ctx)` if it has one (the shape Hono and other
// fetch-style apps export). An app may instead call
// `addEventListener("fetch", …)` itself.
import { getEnvironment } from "wasi:cli/environment@0.2.10";

globalThis.process = globalThis.process || {};
Object.defineProperty(globalThis.process, "env", {
  get: () => Object.fromEntries(getEnvironment()),
  configurable: true,
});

import * as app from "__KUMO_APP__";

const handler = app.default;
if (handler && typeof handler.fetch === "function") {
  // Awaited inside a native promise, so whatever the app returns (a Response,
  // a promise, a thenable) reaches respondWith once; an error becomes a 500
  // with its stack in the logs.
  addEventListener("fetch", (event) =>
    event.respondWith(
      (async () => {
        try {
          return await handler.fetch(event.request, process.env, {});
        } catch (error) {
          console.error(error && error.stack ? error.stack : String(error));
          return new Response("Internal Server Error\n", { status: 500 });
        }
      })(),
    ),
  );
}

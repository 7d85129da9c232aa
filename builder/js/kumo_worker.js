// Kumo's runner for JavaScript worker processes (`worker: node worker.js`).
//
// The JavaScript buildpack bundles the worker script with esbuild and puts the
// bundle inside `main` below: a component runs the top level
// of its modules while it is built, so the script's own top level must wait
// for `run`. As Node does, the process lives while the script has timers or
// fetches pending, `process.argv` is `node <script> ARGS…` (the dyno's
// arguments), `process.env` holds the config vars, and `process.exit(code)`,
// a thrown error or an error in a timer ends it, failing the run unless the
// code is 0.
import { getEnvironment, getArguments } from "wasi:cli/environment@0.2.10";
__KUMO_IMPORTS__

class KumoExit extends Error {
  constructor(code) {
    super(`process.exit(${code})`);
    this.code = code;
  }
}

globalThis.process = globalThis.process || {};
Object.defineProperty(globalThis.process, "env", {
  get: () => Object.fromEntries(getEnvironment()),
  configurable: true,
});
Object.defineProperty(globalThis.process, "argv", {
  get: () => ["node", __KUMO_SCRIPT__, ...getArguments().slice(1)],
  configurable: true,
});
globalThis.process.exitCode = undefined;
globalThis.process.exit = (code) => {
  throw new KumoExit(code ?? globalThis.process.exitCode ?? 0);
};

// What keeps the process alive: timers and fetches not yet done.
let pending = 0;
let wake = null;
let ended = null;
const settle = () => {
  pending -= 1;
  if (pending === 0 && wake) wake();
};
const end = (error) => {
  if (!ended) ended = { error };
  if (wake) wake();
};
const guarded = (fn, args) => {
  try {
    if (typeof fn === "function") fn(...args);
  } catch (error) {
    end(error);
  }
};
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetInterval = globalThis.setInterval;
const realClearInterval = globalThis.clearInterval;
const realFetch = globalThis.fetch;
const live = new Set();
globalThis.setTimeout = (fn, ms, ...args) => {
  pending += 1;
  const id = realSetTimeout(() => {
    live.delete(id);
    guarded(fn, args);
    settle();
  }, ms);
  live.add(id);
  return id;
};
// A timer cleared before it is done no longer keeps the process alive.
const clearer = (realClear) => (id) => {
  if (live.delete(id)) {
    realClear(id);
    settle();
  }
};
globalThis.clearTimeout = clearer(realClearTimeout);
globalThis.setInterval = (fn, ms, ...args) => {
  pending += 1;
  const id = realSetInterval(() => guarded(fn, args), ms);
  live.add(id);
  return id;
};
globalThis.clearInterval = clearer(realClearInterval);
if (realFetch) {
  globalThis.fetch = (...args) => {
    pending += 1;
    const request = realFetch(...args);
    request.then(settle, settle);
    return request;
  };
}

async function main() {
__KUMO_BODY__
}

export const run = {
  async run() {
    try {
      await main();
      while (pending > 0 && !ended) {
        await new Promise((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
      if (ended) throw ended.error;
    } catch (error) {
      if (!(error instanceof KumoExit)) {
        // SpiderMonkey's stack does not repeat the message, as V8's does.
        console.error(error && error.stack ? `${error}\n${error.stack}` : String(error));
        throw new Error("the worker failed");
      }
      if (Number(error.code) !== 0) throw new Error(`the worker exited with ${error.code}`);
      return;
    }
    const code = Number(globalThis.process.exitCode ?? 0);
    if (code !== 0) throw new Error(`the worker exited with ${code}`);
  },
};

// Drives Kumo's dashboard in headless Chromium as a user would: logs in with
// an API key, opens an app, reads its charts, scales its web dynos, sets a
// config var, sees the new release, rolls back, watches a request's router
// line arrive in the live log, and takes a screenshot.
//
// Run by cli/tests/cli/dashboard.rs with: KUMO_API, KUMO_TOKEN, KUMO_APP,
// KUMO_LINK (what `kumo dashboard -a APP` printed),
// KUMO_ROUTER (http://127.0.0.1:PORT), KUMO_APP_HOST, KUMO_SCREENSHOT,
// CHROMIUM (the browser) and PLAYWRIGHT_PREFIX (where playwright-core is).
// Prints one line per step; exits non-zero naming the step that failed.

import { createRequire } from "node:module";
import http from "node:http";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const require = createRequire(`${env("PLAYWRIGHT_PREFIX")}/node_modules/`);
const { chromium } = require("playwright-core");

const api = env("KUMO_API");
const app = env("KUMO_APP");
const STEP_MS = 30000;

/** A GET through Kumo's router, as a visitor of the app. */
function visit(path) {
  const router = new URL(env("KUMO_ROUTER"));
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: router.hostname, port: router.port, path, headers: { Host: env("KUMO_APP_HOST") } },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode));
      },
    );
    request.on("error", reject);
    request.setTimeout(10000, () => request.destroy(new Error(`GET ${path} timed out`)));
  });
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const problems = [];
let step = "start";
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
page.setDefaultTimeout(STEP_MS);
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
// Any error but the refusal of the wrong key the login step tries first.
page.on("console", (m) => {
  if (m.type() === "error" && !(step === "login" && m.text().includes("401"))) {
    problems.push(`console error in step ${step}: ${m.text()} (${m.location().url})`);
  }
});
page.on("dialog", (dialog) => dialog.accept());

async function run(name, action) {
  step = name;
  await action();
  console.log(`ok ${name}`);
}

try {
  await run("link", async () => {
    // `kumo dashboard -a APP`'s link logs in and opens the app, and the key
    // leaves the address bar.
    const context = await browser.newContext();
    const tab = await context.newPage();
    await tab.goto(env("KUMO_LINK"));
    await tab.waitForSelector(`a.tab.active >> text=Overview`);
    await tab.waitForSelector(`h1 >> text=${app}`);
    if (tab.url().includes("token")) throw new Error(`the key stayed in the URL: ${tab.url()}`);
    await context.close();
  });

  await run("login", async () => {
    await page.goto(`${api}/dashboard`);
    await page.fill("input[name=token]", "not-a-key");
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#login .error >> text=That API key was refused.");
    await page.fill("input[name=token]", env("KUMO_TOKEN"));
    await page.click("#login button[type=submit]");
    await page.waitForSelector(`tr[data-app="${app}"] a`);
  });

  await run("charts", async () => {
    await page.click(`tr[data-app="${app}"] a`);
    for (const chart of ["response-time", "throughput", "memory", "errors"]) {
      await page.waitForSelector(`#chart-${chart} canvas`);
    }
    // The requests the test sent before are counted in the totals.
    await page.waitForFunction(() => {
      const totals = document.querySelector("dl.totals")?.innerText ?? "";
      return /Requests\s+[1-9]/.test(totals);
    });
  });

  await run("scale", async () => {
    await page.click("a.tab >> text=Resources");
    await page.waitForSelector('tr[data-dyno="web.1"]');
    await page.fill("input[name=quantity-web]", "2");
    await page.click("button[name=scale-web]");
    await page.waitForSelector('tr[data-dyno="web.2"][data-state="up"]');
    console.log(`dynos: ${(await page.locator("#dynos tbody tr").allInnerTexts()).join(" | ")}`);
  });

  await run("config", async () => {
    await page.click("a.tab >> text=Settings");
    await page.fill("input[name=new-key]", "GREETING");
    await page.fill("input[name=new-value]", "hello from the dashboard");
    await page.click("button[name=add-var]");
    await page.waitForSelector('tr[data-key="GREETING"]');
  });

  let version = 0;
  await run("release", async () => {
    await page.click("a.tab >> text=Activity");
    const row = page.locator("#releases tr.current", { hasText: "Set GREETING config vars" });
    await row.waitFor();
    version = Number(await row.getAttribute("data-version"));
    console.log(`release: v${version}`);
  });

  await run("rollback", async () => {
    await page.click(`button[name=rollback-v${version - 1}]`);
    await page
      .locator("#releases tr.current", { hasText: `Rollback to v${version - 1}` })
      .waitFor();
  });

  await run("logs", async () => {
    await page.click("a.tab >> text=Logs");
    await page.waitForSelector("h2 >> text=live");
    // Lines that arrive after the page opened the stream.
    const deadline = Date.now() + STEP_MS;
    for (let i = 0; ; i++) {
      const status = await visit(`/from-the-dashboard-test-${i}`);
      const seen = await page
        .locator("#log .line", { hasText: `path="/from-the-dashboard-test-${i}"` })
        .count();
      if (seen > 0) {
        console.log(`log line seen after ${i + 1} request(s), status ${status}`);
        break;
      }
      if (Date.now() > deadline) throw new Error("no router line reached the live log");
      await page.waitForTimeout(500);
    }
  });

  await run("screenshot", async () => {
    await page.click("a.tab >> text=Overview");
    await page.waitForSelector("#chart-throughput canvas");
    await page.waitForFunction(() => /Requests\s+[1-9]/.test(document.querySelector("dl.totals")?.innerText ?? ""));
    await page.screenshot({ path: env("KUMO_SCREENSHOT"), fullPage: true });
  });

  if (problems.length > 0) throw new Error(problems.join("\n"));
  await browser.close();
} catch (e) {
  console.error(`step ${step} failed: ${e.message}`);
  for (const problem of problems) console.error(problem);
  try {
    await page.screenshot({ path: `${env("KUMO_SCREENSHOT")}.failed.png`, fullPage: true });
    console.error(`the page then: ${env("KUMO_SCREENSHOT")}.failed.png`);
    console.error((await page.innerText("body")).slice(0, 3000));
  } catch {}
  await browser.close();
  process.exit(1);
}

// One app's pages: overview (metrics), resources (formation, dynos, add-ons),
// activity (releases, rollback), settings (config vars, domains) and logs.
// Each page draws itself, refreshes while it is open, and returns a function
// that stops it.

import { call, get, seg, followLogs } from "./api.js";
import { h, fill, table, ago, notice } from "./dom.js";
import * as charts from "./charts.js";

export const TABS = [
  ["overview", "Overview"],
  ["resources", "Resources"],
  ["activity", "Activity"],
  ["settings", "Settings"],
  ["logs", "Logs"],
];

/** Draws `tab` of `app` into `el`; returns the function that stops it. */
export function show(el, app, tab) {
  const page = PAGES[tab] ?? PAGES.overview;
  return page(el, app);
}

/** Runs `draw` now and every `ms` until stopped; a failure shows once. */
function every(ms, draw) {
  let stopped = false;
  let timer;
  const run = async () => {
    try {
      await draw();
    } catch (e) {
      if (!stopped) notice(e.message);
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Runs an action from a button: disables it meanwhile, reports failure. */
async function act(button, action, done) {
  button.disabled = true;
  try {
    await action();
    if (done) notice(done, "ok");
  } catch (e) {
    notice(e.message);
  } finally {
    button.disabled = false;
  }
}

const PAGES = {
  overview(el, app) {
    const totals = h("dl", { class: "totals" });
    const box = h("div", { class: "charts" });
    fill(el, h("h2", {}, `Metrics, last ${charts.WINDOW_MINUTES} minutes`), totals, box);
    const drawn = charts.mount(box);
    const stop = every(10000, async () => {
      const metrics = await get(`/apps/${seg(app)}/metrics?minutes=${charts.WINDOW_MINUTES}`);
      drawn.update(metrics);
      fill(totals, charts.summary(metrics).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    });
    return () => {
      stop();
      drawn.destroy();
    };
  },

  resources(el, app) {
    const formation = h("section", { id: "formation" });
    const dynos = h("section", { id: "dynos" });
    const addons = h("section", { id: "addons" });
    fill(el, formation, dynos, addons);
    let editing = false;
    const drawFormation = async () => {
      if (editing) return;
      const list = await get(`/apps/${seg(app)}/formation`);
      fill(
        formation,
        h("h2", {}, "Formation"),
        table(
          ["Process type", "Command", "Size", "Dynos", ""],
          list.map((f) => {
            const quantity = h("input", {
              type: "number",
              min: 0,
              value: f.quantity,
              name: `quantity-${f.type}`,
              "aria-label": `${f.type} dynos`,
              onfocus: () => (editing = true),
              onblur: () => (editing = false),
            });
            const save = h("button", { type: "button", name: `scale-${f.type}` }, "Scale");
            save.addEventListener("click", () =>
              act(
                save,
                async () => {
                  await call("PATCH", `/apps/${seg(app)}/formation/${seg(f.type)}`, {
                    quantity: Number(quantity.value),
                  });
                  editing = false;
                  await refresh();
                },
                `Scaled ${f.type} to ${quantity.value}`,
              ),
            );
            return { attrs: { "data-type": f.type }, cells: [h("td", {}, f.type), h("td", {}, h("code", {}, f.command)), h("td", {}, f.size), h("td", {}, quantity), h("td", {}, save)] };
          }),
        ),
      );
    };
    const drawDynos = async () => {
      const list = await get(`/apps/${seg(app)}/dynos`);
      const restartAll = h("button", { type: "button", name: "restart-all" }, "Restart all dynos");
      restartAll.addEventListener("click", () =>
        act(restartAll, () => call("DELETE", `/apps/${seg(app)}/dynos`), "Restarting all dynos"),
      );
      fill(
        dynos,
        h("h2", {}, "Dynos ", restartAll),
        table(
          ["Dyno", "State", "Size", "Release", "Since"],
          list.map((d) => ({
            attrs: { "data-dyno": d.name, "data-state": d.state },
            cells: [
              h("td", {}, d.name),
              h("td", { class: `state ${d.state}` }, d.state),
              h("td", {}, d.size),
              h("td", {}, d.release?.version ? `v${d.release.version}` : ""),
              h("td", { title: d.updated_at }, ago(d.updated_at)),
            ],
          })),
        ),
      );
    };
    const drawAddons = async () => {
      const list = await get(`/apps/${seg(app)}/addons`);
      fill(
        addons,
        h("h2", {}, "Add-ons"),
        table(
          ["Add-on", "Plan", "State"],
          list.map((a) => [a.name, a.plan?.name ?? "", a.state ?? ""].map((c) => h("td", {}, c))),
        ),
      );
    };
    const refresh = () => Promise.all([drawFormation(), drawDynos()]);
    const stopAddons = every(15000, drawAddons);
    const stop = every(3000, refresh);
    return () => {
      stop();
      stopAddons();
    };
  },

  activity(el, app) {
    const releases = h("section", { id: "releases" });
    fill(el, releases);
    return every(3000, async () => {
      const list = await get(`/apps/${seg(app)}/releases`, {
        headers: { Range: "version ..; order=desc, max=25" },
      });
      fill(
        releases,
        h("h2", {}, "Releases"),
        table(
          ["Version", "Description", "By", "When", ""],
          list.map((r) => {
            let rollback = "";
            if (!r.current && r.slug && r.status === "succeeded") {
              rollback = h("button", { type: "button", name: `rollback-v${r.version}` }, `Roll back to v${r.version}`);
              rollback.addEventListener("click", () => {
                if (!confirm(`Roll back ${app} to v${r.version}? A new release will use its slug and config vars.`)) return;
                act(rollback, () => call("POST", `/apps/${seg(app)}/releases`, { release: r.id }), `Rolled back to v${r.version}`);
              });
            }
            return {
              attrs: { "data-version": r.version, class: r.current ? "current" : "" },
              cells: [
                h("td", {}, `v${r.version}`),
                h("td", { class: "description" }, r.description),
                h("td", {}, r.user?.email ?? ""),
                h("td", { title: r.created_at }, ago(r.created_at)),
                h("td", {}, r.current ? h("strong", {}, "current") : rollback),
              ],
            };
          }),
        ),
      );
    });
  },

  settings(el, app) {
    const vars = h("section", { id: "config-vars" });
    const domains = h("section", { id: "domains" });
    fill(el, vars, domains);
    const patch = (body) => call("PATCH", `/apps/${seg(app)}/config-vars`, body);
    const drawVars = async () => {
      const config = await get(`/apps/${seg(app)}/config-vars`);
      const key = h("input", { name: "new-key", placeholder: "KEY", "aria-label": "new config var key" });
      const value = h("input", { name: "new-value", placeholder: "VALUE", "aria-label": "new config var value" });
      const add = h("button", { type: "submit", name: "add-var" }, "Add");
      const form = h("form", { class: "add-var" }, key, value, add);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const name = key.value.trim();
        if (!name) return notice("give the config var a KEY");
        act(add, async () => {
          await patch({ [name]: value.value });
          await drawVars();
        }, `Set ${name}`);
      });
      fill(
        vars,
        h("h2", {}, "Config vars"),
        table(
          ["Key", "Value", ""],
          Object.entries(config ?? {}).map(([k, v]) => {
            const input = h("input", { value: v, name: `value-${k}`, "aria-label": `${k} value` });
            const save = h("button", { type: "button", name: `save-${k}` }, "Save");
            const remove = h("button", { type: "button", name: `remove-${k}`, class: "danger" }, "Remove");
            save.addEventListener("click", () => act(save, () => patch({ [k]: input.value }), `Set ${k}`));
            remove.addEventListener("click", () =>
              act(remove, async () => {
                await patch({ [k]: null });
                await drawVars();
              }, `Removed ${k}`),
            );
            return { attrs: { "data-key": k }, cells: [h("td", {}, h("code", {}, k)), h("td", {}, input), h("td", {}, save, remove)] };
          }),
        ),
        form,
      );
    };
    const drawDomains = async () => {
      const list = await get(`/apps/${seg(app)}/domains`);
      fill(
        domains,
        h("h2", {}, "Domains"),
        table(
          ["Domain", "Kind", "DNS target", "Status"],
          list.map((d) => [d.hostname, d.kind, d.cname ?? "", d.acm_status ?? d.status ?? ""].map((c) => h("td", {}, c))),
        ),
      );
    };
    drawVars().catch((e) => notice(e.message));
    return every(15000, drawDomains);
  },

  logs(el, app) {
    const out = h("pre", { id: "log", "aria-live": "polite" });
    const state = h("span", { class: "muted" }, "connecting…");
    fill(el, h("h2", {}, "Logs ", state), out);
    const abort = new AbortController();
    const MAX_LINES = 1000;
    (async () => {
      // A stream that ends (a tail is cut after a while) is opened again.
      while (!abort.signal.aborted) {
        try {
          state.textContent = "live";
          await followLogs(
            app,
            (line) => {
              out.append(h("div", { class: line.includes(" router ") || line.includes("heroku[router]") ? "line router" : "line" }, line));
              while (out.childElementCount > MAX_LINES) out.firstElementChild.remove();
              out.scrollTop = out.scrollHeight;
            },
            abort.signal,
          );
        } catch (e) {
          if (abort.signal.aborted) return;
          state.textContent = `reconnecting (${e.message})`;
          await new Promise((r) => setTimeout(r, 2000));
        }
        fill(out);
      }
    })();
    return () => abort.abort();
  },
};

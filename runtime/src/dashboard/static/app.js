// The dashboard's shell: log in, the apps list, and the hash routes
// `#/apps` and `#/apps/NAME/TAB`, each drawn by views.js.

import { ApiError, call, get, seg, setToken, token } from "./api.js";
import { h, fill, table, ago, notice } from "./dom.js";
import * as views from "./views.js";

const main = document.getElementById("main");
let stopPage = () => {};

/** `kumo dashboard` opens `/dashboard/#token=…`: keep it, and drop it from the URL. */
function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const given = params.get("token");
  if (given) {
    setToken(given);
    const app = params.get("app");
    history.replaceState(null, "", app ? `#/apps/${seg(app)}/overview` : "#/apps");
  }
}

function showLogin(message) {
  setHeader(null);
  const input = h("input", {
    type: "password",
    name: "token",
    autocomplete: "current-password",
    placeholder: "API key",
    "aria-label": "API key",
    required: true,
  });
  const submit = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    { id: "login" },
    h("h1", {}, "Log in to Kumo"),
    h("p", {}, "Paste your API key: the one `kumo auth:token` prints, or `kumo accounts:create` gave you."),
    input,
    submit,
    message ? h("p", { class: "error" }, message) : null,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const account = await call("GET", "/account", undefined, { with: input.value.trim() });
      setToken(input.value.trim());
      setHeader(account);
      if (!location.hash.startsWith("#/apps")) location.hash = "#/apps";
      else route();
    } catch (e) {
      showLogin(e instanceof ApiError && e.status === 401 ? "That API key was refused." : e.message);
    }
  });
  fill(main, form);
  input.focus();
}

function setHeader(account) {
  fill(document.getElementById("who"), account ? account.email : "");
  document.getElementById("logout").hidden = !account;
}

function crumbs(app, tab) {
  const nav = document.getElementById("crumbs");
  if (!app) return fill(nav, h("a", { href: "#/apps" }, "Apps"));
  fill(
    nav,
    h("a", { href: "#/apps" }, "Apps"),
    " / ",
    h("a", { href: `#/apps/${seg(app)}/overview` }, app),
    h(
      "span",
      { class: "tabs", role: "tablist" },
      views.TABS.map(([id, label]) =>
        h("a", { href: `#/apps/${seg(app)}/${id}`, role: "tab", "aria-selected": id === tab ? "true" : "false", class: id === tab ? "tab active" : "tab" }, label),
      ),
    ),
  );
}

async function showApps() {
  crumbs(null);
  const apps = await get("/apps");
  fill(
    main,
    h("h1", {}, "Apps"),
    table(
      ["App", "Web URL", "Stack", "Released"],
      apps
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((app) => ({
          attrs: { "data-app": app.name },
          cells: [
            h("td", {}, h("a", { href: `#/apps/${seg(app.name)}/overview` }, app.name)),
            h("td", {}, app.web_url ? h("a", { href: app.web_url, target: "_blank", rel: "noopener" }, app.web_url) : ""),
            h("td", {}, app.stack?.name ?? ""),
            h("td", { title: app.released_at ?? "" }, ago(app.released_at)),
          ],
        })),
    ),
  );
}

async function route() {
  stopPage();
  stopPage = () => {};
  if (!token()) return showLogin();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "apps" && parts[1]) {
      const [, app, tab = "overview"] = parts;
      crumbs(app, tab);
      const page = h("div", { class: "page", "data-tab": tab });
      fill(main, h("h1", {}, app), page);
      stopPage = views.show(page, app, tab);
    } else {
      await showApps();
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      setToken(null);
      return showLogin("Your API key was refused; log in again.");
    }
    notice(e.message);
  }
}

document.getElementById("logout").addEventListener("click", () => {
  setToken(null);
  stopPage();
  showLogin();
});
window.addEventListener("hashchange", route);

takeTokenFromFragment();
if (token()) {
  get("/account")
    .then(setHeader)
    .catch(() => {});
}
route();

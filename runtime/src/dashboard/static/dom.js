// Building the page from data without ever parsing data as HTML: every
// value becomes a text node or an attribute.

/** An element with attributes (`on…` functions become listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table with a header row; `rows` are arrays of cells (text or nodes). */
export function table(headers, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", {}, name)))),
    h(
      "tbody",
      {},
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "none"))
        : rows.map((row) => h("tr", row.attrs ?? {}, row.cells ?? row)),
    ),
  );
}

/** "3 minutes ago" for an ISO time. */
export function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  const units = [
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [size, name] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return `${n} ${name}${n === 1 ? "" : "s"} ago`;
    }
  }
  return `${seconds} second${seconds === 1 ? "" : "s"} ago`;
}

/** A one-line notice at the top of `main`: what failed and why. */
export function notice(text, kind = "error") {
  const bar = document.getElementById("notice") ?? h("div", { id: "notice", role: "status" });
  bar.className = kind;
  fill(bar, text);
  document.getElementById("main").prepend(bar);
  if (kind !== "error") setTimeout(() => bar.remove(), 4000);
}

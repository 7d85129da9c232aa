// The Platform API, as every Kumo client speaks it: version 3 JSON, a bearer
// token, `{id, message}` errors. The token lives in this tab's sessionStorage.

const KEY = "kumo.token";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

/** An API error: the server's message, its id and the HTTP status. */
export class ApiError extends Error {
  constructor(status, id, message) {
    super(message);
    this.status = status;
    this.id = id;
  }
}

/** Calls the API; resolves to the parsed JSON (or null for an empty body). */
export async function call(method, path, body, { headers = {}, with: withToken } = {}) {
  const response = await fetch(path, {
    method,
    headers: {
      Accept: "application/vnd.heroku+json; version=3",
      Authorization: `Bearer ${withToken ?? token()}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      json?.id ?? "error",
      json?.message ?? `${method} ${path} answered ${response.status}`,
    );
  }
  return json;
}

export const get = (path, options) => call("GET", path, undefined, options);

/** A path segment, escaped. */
export const seg = (name) => encodeURIComponent(name);

/**
 * Follows a log session: calls `onLine` for each line until `signal` aborts.
 * The session URL's path is opened on this origin (the server that made it).
 */
export async function followLogs(app, onLine, signal) {
  const session = await call("POST", `/apps/${seg(app)}/log-sessions`, { tail: true, lines: 100 });
  const url = new URL(session.logplex_url, location.href);
  const response = await fetch(url.pathname + url.search, { signal });
  if (!response.ok || !response.body) {
    throw new ApiError(response.status, "logs", `the log stream answered ${response.status}`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) if (line) onLine(line);
  }
}

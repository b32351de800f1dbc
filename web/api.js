// Every request the page makes: same-origin JSON, the session cookie (when a password is
// set), `If-Match` with the revision a change is based on. A failure is an `ApiError` with
// the API's code, message and field; no answer at all is `offline`.

export class ApiError extends Error {
  constructor(status, code, message, field = null, revision = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    // For 412: the revision now current (its ETag).
    this.revision = revision;
  }
}

const listeners = { offline: [], login: [] };
// `offline(true|false)` when the daemon stops or starts answering; `login()` on a 401.
export function on(event, listener) { listeners[event].push(listener); }
function emit(event, value) { for (const l of listeners[event]) l(value); }

// The revision in an ETag (`"12"`).
export const revisionOf = (response) => {
  const tag = response.headers.get("ETag");
  return tag ? Number(tag.replace(/\D/g, "")) : null;
};

// `call("PATCH", "/api/config", {body, revision})` → {data, revision, status}.
export async function call(method, path, { body, revision, timeoutMs = 15000 } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (revision != null) headers["If-Match"] = `"${revision}"`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin", cache: "no-store", signal: abort.signal,
    });
  } catch {
    emit("offline", true);
    throw new ApiError(0, "offline", "");
  } finally {
    clearTimeout(timer);
  }
  emit("offline", false);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const e = data?.error || {};
    if (response.status === 401 && e.code === "login_required") emit("login");
    const error = new ApiError(response.status, e.code || `http_${response.status}`, e.message || response.statusText, e.field || null, revisionOf(response));
    error.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw error;
  }
  return { data, revision: revisionOf(response), status: response.status };
}

export const get = (path) => call("GET", path);

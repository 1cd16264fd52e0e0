// The daemon's API as the page calls it: same origin, the session cookie sent by the browser, and the session's CSRF
// token on every state-changing call. Errors come back as ApiError with the API's message and the field it names.
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

export function setCsrf(token) { csrfToken = token; }

export async function request(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-Sharpvisor-Csrf"] = csrfToken;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, `the daemon did not answer (${e.message}); is it running?`);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* a proxy's HTML page, say: reported below */ }
  if (!response.ok) {
    if (response.status === 401 && onSignedOut && !path.startsWith("/ui/")) onSignedOut();
    throw new ApiError(response.status, json?.error || `${method} ${path}: HTTP ${response.status}`, json?.field);
  }
  return json;
}

let onSignedOut = null;
export function whenSignedOut(callback) { onSignedOut = callback; }

export const get = (path) => request("GET", path).then((r) => r?.metadata);

/** Sends an action answered with an operation (202) and waits for it; a failed operation throws its error. */
export async function runOperation(method, path, body) {
  const reply = await request(method, path, body);
  if (reply?.type !== "async") return reply?.metadata;
  for (;;) {
    const operation = await get(`${reply.operation}?wait=30`);
    if (operation.status === "success") return operation;
    if (operation.status !== "running") throw new ApiError(500, operation.error || `the operation ${operation.status}`);
  }
}

export function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
}

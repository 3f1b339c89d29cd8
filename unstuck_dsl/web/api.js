// The one door to the server: every read and write goes through /api, so a page shows the
// API's numbers. Writes carry the token the server printed in its start-up URL (#token=...),
// kept in sessionStorage for this tab only.

const TOKEN_KEY = "unstuck.token";

// The start-up URL's fragment `#token=...` is read once, stored, and removed from the address bar
// (so it is not left in history or shared by copying the URL).
export function takeTokenFromUrl() {
  const match = location.hash.match(/(?:^#|[&/])token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search + "#/leads");
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = {Accept: "application/json"};
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (token()) headers.Authorization = `Bearer ${token()}`;
  }
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = {error: text};
  }
  if (!response.ok) throw new ApiError(response.status, errorText(response.status, data));
  return data;
}

// The server's refusal in one line: its message, and the field and record it names.
function errorText(status, data) {
  const where = [data && data.field ? `field ${data.field}` : null, data && data.record ? `record ${data.record}` : null]
    .filter(Boolean).join(", ");
  const message = data && typeof data.error === "string" ? data.error : "";
  return `${status}${message ? ": " + message : ""}${where ? ` (${where})` : ""}`;
}

export const get = (path, params) => call("GET", path + query(params));
export const post = (path, body) => call("POST", path, body ?? {});

export function query(params) {
  const pairs = Object.entries(params || {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}

// A collection in a reply (`items` for the list pages), or none.
export function rowsOf(data, name = "items") {
  return data && Array.isArray(data[name]) ? data[name] : [];
}

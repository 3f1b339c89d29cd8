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

function errorText(status, data) {
  const detail = data && (data.error || data.detail || data.message);
  const text = typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : "";
  return `${status}${text ? ": " + text : ""}`;
}

export const get = (path, params) => call("GET", path + query(params));
export const post = (path, body) => call("POST", path, body ?? {});

export function query(params) {
  const pairs = Object.entries(params || {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}

// The collection under whichever name the endpoint gives it.
export function rowsOf(data, ...names) {
  if (Array.isArray(data)) return data;
  for (const name of [...names, "items", "rows", "records", "results", "data"]) {
    if (data && Array.isArray(data[name])) return data[name];
  }
  return [];
}

// The workspace's pages: a router over the address's fragment (#/leads, #/lead/ID, ...), the
// status line, the token note and the message line. Each page module renders into <main>.

import {get, rowsOf, takeTokenFromUrl, token} from "./api.js";
import {clear, h, say} from "./dom.js";
import * as records from "./records.js";
import * as detail from "./detail.js";
import * as tree from "./tree.js";
import * as audiences from "./audiences.js";
import * as insights from "./insights.js";
import * as rules from "./rules.js";

// What every page needs to name things: the ICPs (live and draft, with display names and their
// Personas) and the declared audiences, from the server's description of the published rules.
let metaPromise = null;

export function meta() {
  metaPromise = metaPromise || loadMeta();
  return metaPromise;
}

async function loadMeta() {
  const described = await get("/api/rules");
  const icps = rowsOf(described, "icps").map((i) => ({...i, personas: rowsOf(i, "personas")}));
  const audiences = rowsOf(described, "audiences");
  const names = new Map(icps.map((i) => [i.code, i.name]));
  const audienceNames = new Map(audiences.map((a) => [a.code, a.name]));
  return {rules: described, icps, audiences, stages: described.stages || [],
    icpName: (code) => names.get(code) || code, audienceName: (code) => audienceNames.get(code) || code};
}

async function showStatus() {
  const status = await get("/api/status");
  const version = status.version;
  const number = version && typeof version === "object" ? version.number : version;
  const parts = [number ? `ruleset v${number}` : "nothing published", status.as_of ? `as of ${status.as_of}` : null,
    status.leads !== undefined ? `${Number(status.leads).toLocaleString("en-US")} leads` : null,
    status.accounts !== undefined ? `${Number(status.accounts).toLocaleString("en-US")} accounts` : null];
  document.getElementById("status").textContent = parts.filter(Boolean).join(" · ");
  // The workspace's own warnings (a stale date) have their line, apart from what the user just did.
  const warnings = document.getElementById("warnings");
  warnings.textContent = (status.warnings || []).join(" ");
  warnings.hidden = !warnings.textContent;
}

function tokenNote() {
  const note = document.getElementById("token-note");
  note.hidden = Boolean(token());
  note.textContent = token() ? "" : "Read-only: re-qualify and publish need the token. Open the URL the server printed at start (it ends in #token=…).";
}

function route() {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  const [page, ...rest] = path.split("/");
  const view = Object.fromEntries(new URLSearchParams(search || ""));
  return {page: page || "leads", id: rest.length ? decodeURIComponent(rest.join("/")) : null, view};
}

async function show() {
  const {page, id, view} = route();
  const root = document.getElementById("view");
  document.getElementById("message").hidden = true;
  detail.closeDrawer();
  for (const link of document.querySelectorAll("nav a")) {
    const current = link.dataset.page === page || (link.dataset.page === `${page}s` && id);
    if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  clear(root, h("p", {class: "muted"}, "Loading…"));
  try {
    const m = await meta();
    if (page === "leads" || page === "accounts") await records.render(root, page, view, m);
    else if (page === "lead" || page === "account") await detail.render(root, `${page}s`, id);
    else if (page === "tree") await tree.render(root, m);
    else if (page === "audiences") await audiences.render(root, m, id);
    else if (page === "insights") await insights.render(root, view);
    else if (page === "rules") await rules.render(root, m);
    else clear(root, h("h1", {}, "Not found"), h("p", {}, `There is no page "${page}".`));
    root.dataset.ready = page;
  } catch (error) {
    clear(root, h("h1", {}, "Could not load this page"));
    say(error);
    root.dataset.ready = "error";
  }
}

export function refreshMeta() {
  metaPromise = null;
  showStatus().catch(say);
}

function start() {
  takeTokenFromUrl();
  tokenNote();
  document.getElementById("drawer-close").addEventListener("click", detail.closeDrawer);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") detail.closeDrawer();
  });
  window.addEventListener("hashchange", show);
  showStatus().catch(say);
  show();
}

start();

// Records: the Leads and Accounts lists. Sorting, filtering, search and cursor paging are the
// server's (the query runs in DuckDB); the page keeps the view in the address (#/leads?sort=...)
// and the cursors it has passed, to page back.

import {ApiError, get, post, rowsOf, token} from "./api.js";
import {bandChip, clear, csv, download, h, say, show, stageLabel} from "./dom.js";

export const KINDS = {
  leads: {kind: "lead", key: "lead_id", label: "Leads", detail: "lead"},
  accounts: {kind: "account", key: "account_id", label: "Accounts", detail: "account"},
};

const SORTS = {leads: ["icp_score", "persona_score"], accounts: ["icp_score"]};
const SCORES = ["icp_score", "persona_score"];
const BANDS = ["weak", "partial", "solid", "strong"];
const FILTERS = ["icp", "persona", "icp_band", "persona_band", "stage", "audience"];
const PAGE_SIZE = 50;

// The columns a list shows, in order, when the rows carry them (accounts have no Persona).
const COLUMNS = ["account_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score", "persona_band"];
const LABELS = {account_id: "Account", icp_code: "ICP", icp_score: "ICP score", icp_band: "ICP band",
  persona_code: "Persona", persona_score: "Persona score", persona_band: "Persona band"};

// The view's API query: filters and sort from the address (`sort=-icp_score`: highest first);
// `limit` and `cursor` are added per page.
export function listQuery(view) {
  const params = {};
  for (const name of FILTERS) if (view[name]) params[name] = view[name];
  if (view.sort) params.sort = view.sort;
  return params;
}

export async function fetchPage(page, view, cursor, limit = PAGE_SIZE) {
  const data = await get(`/api/${page}`, {...listQuery(view), limit, cursor});
  return {rows: rowsOf(data), next: data.next ?? null};
}

export async function render(root, page, view, meta) {
  const spec = KINDS[page];
  const state = {cursors: [], cursor: null, selected: new Set()};
  const heading = h("h1", {}, spec.label);
  const form = filterForm(page, view, meta);
  const search = searchBox(page, spec);
  const info = h("p", {class: "muted", id: "list-info"});
  const holder = h("div", {class: "table-wrap"});
  const prev = h("button", {type: "button", id: "prev-page", disabled: true}, "← Previous");
  const next = h("button", {type: "button", id: "next-page", disabled: true}, "Next →");
  const exportButton = h("button", {type: "button", id: "download-csv"}, "Download this view as CSV");
  const bulk = h("button", {type: "button", id: "bulk-requalify", disabled: true}, "Re-qualify selected");
  clear(root, heading, search, form, h("div", {class: "actions"}, bulk, exportButton), info, holder,
    h("nav", {class: "pager", "aria-label": "Pages of records"}, prev, next));

  const load = async () => {
    info.textContent = "Loading…";
    const result = await fetchPage(page, view, state.cursor);
    state.next = result.next;
    clear(holder, listTable(page, spec, result.rows, view, state, bulk));
    const first = state.cursors.length * PAGE_SIZE + 1;
    info.textContent = result.rows.length ? `Rows ${first}–${first + result.rows.length - 1}` : `No ${page} match this view.`;
    prev.disabled = state.cursors.length === 0;
    next.disabled = !result.next;
  };
  next.addEventListener("click", () => {
    state.cursors.push(state.cursor);
    state.cursor = state.next;
    load().catch(say);
  });
  prev.addEventListener("click", () => {
    state.cursor = state.cursors.pop() ?? null;
    load().catch(say);
  });
  exportButton.addEventListener("click", () => downloadView(page, view).catch(say));
  bulk.addEventListener("click", () => requalify(spec, [...state.selected]).then(load).catch(say));
  await load();
}

function filterForm(page, view, meta) {
  const field = (label, control) => h("label", {}, label, control);
  const choice = (name, values, labels = (v) => v) => h("select", {name, id: `filter-${name}`},
    h("option", {value: ""}, "any"), values.map((v) => h("option", {value: v, selected: view[name] === v}, labels(v))));
  const personas = new Map(meta.icps.flatMap((i) => i.personas.map((p) => [p.code, p.name])));
  const live = meta.icps.filter((i) => i.status === "live");
  const sorts = SORTS[page].flatMap((c) => [`-${c}`, c]);
  const sortLabel = (s) => `${LABELS[s.replace("-", "")]}, ${s.startsWith("-") ? "highest" : "lowest"} first`;
  const form = h("form", {class: "filters", "aria-label": "Filter the list"},
    field("ICP ", choice("icp", live.map((i) => i.code), (c) => `${meta.icpName(c)} (${c})`)),
    page === "leads" ? field("Persona ", choice("persona", [...personas.keys(), "no_persona_fit"],
      (c) => (personas.has(c) ? `${personas.get(c)} (${c})` : "No persona fit"))) : null,
    field("ICP band ", choice("icp_band", BANDS)),
    page === "leads" ? field("Persona band ", choice("persona_band", BANDS)) : null,
    page === "leads" && meta.stages.length ? field("Stage ", choice("stage", meta.stages, stageLabel)) : null,
    field("Audience ", choice("audience", meta.audiences.map((a) => a.code), (c) => meta.audienceName(c))),
    field("Sort by ", h("select", {name: "sort", id: "filter-sort"}, h("option", {value: ""}, "best ICP score first"),
      sorts.map((c) => h("option", {value: c, selected: view.sort === c}, sortLabel(c))))),
    h("button", {type: "submit"}, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams([...new FormData(form).entries()].filter(([, v]) => v !== ""));
    location.hash = `#/${page}${params.toString() ? "?" + params : ""}`;
  });
  return form;
}

// Search by id (prefix) or title (leads) / name (accounts): matches listed as links to the record.
function searchBox(page, spec) {
  const input = h("input", {type: "search", id: "search", name: "q", "aria-label": `Search ${page} by id or title`,
    placeholder: "Search by id or title"});
  const results = h("ul", {class: "search-results", id: "search-results", "aria-live": "polite"});
  const form = h("form", {role: "search", class: "search"}, input, h("button", {type: "submit"}, "Search"), results);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await get("/api/search", {kind: spec.kind, q: input.value.trim()});
      const items = rowsOf(data);
      clear(results, items.length ? items.map((r) => h("li", {}, h("a", {href: `#/${spec.detail}/${encodeURIComponent(r[spec.key])}`},
        String(r[spec.key])), r.title || r.name ? ` · ${r.title || r.name}` : "")) : h("li", {class: "muted"}, "No match."));
    } catch (error) {
      say(error);
    }
  });
  return form;
}

function sortLink(page, view, column) {
  const current = view.sort || "-icp_score";
  const next = current === `-${column}` ? column : `-${column}`;
  const params = new URLSearchParams(Object.entries({...view, sort: next}).filter(([, v]) => v));
  const state = current === `-${column}` ? "descending" : current === column ? "ascending" : null;
  return h("a", {href: `#/${page}?${params}`, class: "sort", "data-sort": column, "aria-sort": state},
    LABELS[column] + (state === "descending" ? " ↓" : state === "ascending" ? " ↑" : ""));
}

function listTable(page, spec, rows, view, state, bulk) {
  const present = COLUMNS.filter((c) => c !== spec.key && rows.some((r) => c in r));
  const all = h("input", {type: "checkbox", "aria-label": "Select every row on this page"});
  const boxes = [];
  const refresh = () => {
    bulk.disabled = state.selected.size === 0 || !token();
    bulk.textContent = `Re-qualify selected (${state.selected.size})`;
  };
  all.addEventListener("change", () => boxes.forEach((b) => {
    b.checked = all.checked;
    b.dispatchEvent(new Event("change"));
  }));
  const head = h("tr", {}, h("th", {scope: "col"}, all), h("th", {scope: "col"}, spec.key === "lead_id" ? "Lead" : "Account"),
    present.map((c) => h("th", {scope: "col", class: SCORES.includes(c) ? "num" : null},
      SORTS[page].includes(c) ? sortLink(page, view, c) : LABELS[c])));
  const body = rows.map((row) => {
    const id = String(row[spec.key]);
    const box = h("input", {type: "checkbox", "aria-label": `Select ${id}`, "data-id": id, checked: state.selected.has(id)});
    box.addEventListener("change", () => {
      if (box.checked) state.selected.add(id); else state.selected.delete(id);
      refresh();
    });
    boxes.push(box);
    return h("tr", {"data-id": id}, h("td", {}, box),
      h("th", {scope: "row"}, h("a", {href: `#/${spec.detail}/${encodeURIComponent(id)}`}, id)),
      present.map((c) => h("td", {class: SCORES.includes(c) ? "num" : null, "data-col": c}, cell(c, row[c]))));
  });
  refresh();
  return h("table", {class: "records", id: "records"}, h("thead", {}, head), h("tbody", {}, body));
}

function cell(column, value) {
  return column.endsWith("_band") ? bandChip(value) : show(value);
}

// Every page of the view, fetched as the list does and written as CSV in the browser.
async function downloadView(page, view) {
  const rows = [];
  let cursor = null;
  do {
    const result = await fetchPage(page, view, cursor, 1000);
    rows.push(...result.rows);
    cursor = result.next;
    say(`Fetched ${rows.length.toLocaleString("en-US")} ${page}…`, "info");
  } while (cursor);
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  download(`${page}.csv`, csv(columns, rows));
  say(`Downloaded ${rows.length.toLocaleString("en-US")} ${page} as ${page}.csv`, "info");
}

export async function requalify(spec, ids) {
  if (!token()) throw new ApiError(401, "re-qualifying needs the token: open the URL the server printed at start");
  const report = await post("/api/requalify", {[`${spec.kind}s`]: ids});
  say(`Re-qualified ${ids.length} ${spec.kind}${ids.length === 1 ? "" : "s"}: ${summary(report)}`, "info");
  return report;
}

export function summary(report) {
  if (!report || typeof report !== "object") return show(report);
  if (typeof report.summary === "string") return report.summary;
  if (typeof report.message === "string") return report.message;
  const parts = Object.entries(report).filter(([, v]) => typeof v === "number").map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`);
  return parts.join(", ") || "done";
}

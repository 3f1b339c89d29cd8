// Audiences: every declared audience with its member count; expanding one shows its composition
// (member count and score histograms per ICP / Persona, as `unstuck audience --composition`)
// and its members, which download as CSV.

import {get} from "./api.js";
import {clear, csv, download, h, histogram, say, scoreBins, table} from "./dom.js";

const MEMBER_COLUMNS = ["lead_id", "account_id", "icp_code", "icp_score", "persona_code", "persona_score", "stage"];

// Every member, page by page as the list endpoints give them, and the audience's own count.
export async function members(code) {
  const rows = [];
  let cursor = null;
  let data = null;
  do {
    data = await get(`/api/audiences/${encodeURIComponent(code)}`, {limit: 1000, cursor});
    rows.push(...data.page.items);
    cursor = data.page.next;
  } while (cursor);
  return {data, rows};
}

// Per (ICP, Persona) group, largest first (then by code): its members and histograms.
export function composition(rows) {
  const withPersona = rows.some((r) => "persona_code" in r);
  const groups = new Map();
  for (const row of rows) {
    const key = JSON.stringify([row.icp_code ?? null, withPersona ? row.persona_code ?? null : null]);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  return [...groups.entries()].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1)).map(([key, group]) => {
    const [icp, persona] = JSON.parse(key);
    return {icp, persona, withPersona, count: group.length,
      histograms: ["icp_score", "persona_score"].filter((f) => group.some((r) => r[f] !== null && r[f] !== undefined))
        .map((field) => ({field, bins: scoreBins(group.map((r) => r[field]))}))};
  });
}

function compositionBlock(rows) {
  return composition(rows).map((g) => h("div", {class: "composition", "data-icp": g.icp ?? "", "data-persona": g.persona ?? ""},
    h("h4", {}, `ICP ${g.icp ?? "none"}`, g.withPersona ? ` / Persona ${g.persona ?? "none"}` : "", `: ${g.count} members`),
    h("div", {class: "hists"}, g.histograms.map((hist) => h("figure", {"data-field": hist.field},
      histogram(hist.bins.map((b) => ({label: b.label, count: b.count})), {title: `${hist.field} of ICP ${g.icp} / ${g.persona ?? ""}`}),
      h("figcaption", {}, hist.field))))));
}

async function expand(name, holder) {
  clear(holder, h("p", {class: "muted"}, "Loading…"));
  const {data, rows} = await members(name);
  const columns = MEMBER_COLUMNS.filter((c) => rows.some((r) => c in r));
  const button = h("button", {type: "button", class: "download-members"}, "Download members as CSV");
  button.addEventListener("click", () => download(`${name}.csv`, csv([...new Set(rows.flatMap((r) => Object.keys(r)))], rows)));
  clear(holder, 
    h("p", {class: "member-count", "data-count": data.members}, `${data.members.toLocaleString("en-US")} members`), button,
    h("h3", {}, "Composition"), compositionBlock(rows),
    h("h3", {}, "Members"), table(columns.map((c) => ({key: c, label: c.replaceAll("_", " "), num: c.endsWith("score"),
      cell: c === "lead_id" ? (r) => h("a", {href: `#/lead/${encodeURIComponent(r.lead_id)}`}, String(r.lead_id))
        : c === "account_id" && !columns.includes("lead_id") ? (r) => h("a", {href: `#/account/${encodeURIComponent(r.account_id)}`}, String(r.account_id)) : null})),
    rows.slice(0, 200), {class: "members"}),
    rows.length > 200 ? h("p", {class: "muted"}, `The first 200 of ${rows.length} members; the CSV has them all.`) : null);
}

export async function render(root, meta, open) {
  const list = h("div", {id: "audiences"}, meta.audiences.map((a) => {
    const holder = h("div", {class: "audience-body"});
    const count = h("span", {class: "count"}, "… members");
    get(`/api/audiences/${encodeURIComponent(a.code)}`, {limit: 1}).then((data) => {
      count.dataset.count = data.members;
      count.textContent = `${data.members.toLocaleString("en-US")} members`;
    }).catch(say);
    const details = h("details", {class: "audience", "data-name": a.code, open: a.code === open},
      h("summary", {}, h("strong", {}, a.name), " ", h("code", {}, a.code), " · ",
        count),
      holder);
    details.addEventListener("toggle", () => {
      if (details.open && !holder.dataset.loaded) {
        holder.dataset.loaded = "1";
        expand(a.code, holder).catch(say);
      }
    });
    if (a.code === open) {
      holder.dataset.loaded = "1";
      expand(a.code, holder).catch(say);
    }
    return details;
  }));
  clear(root, h("h1", {}, "Audiences"),
    meta.audiences.length ? list : h("p", {class: "muted"}, "The published rules declare no audiences."));
}

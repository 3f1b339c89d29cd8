// The Qualification tree: ICPs (live and draft) → their Personas → No persona fit, each with its
// record count and its score distribution by band. Counts are the list endpoint's totals for the
// same filters the Leads page uses, so the tree and the lists cannot disagree.

import {get} from "./api.js";
import {bandChip, clear, h} from "./dom.js";

const BANDS = ["weak", "partial", "solid", "strong"];

async function total(page, params) {
  const data = await get(`/api/${page}`, {...params, limit: 1});
  return data.total ?? null;
}

// Records per band for one node: [{band, count}], and their sum.
async function distribution(page, params) {
  const counts = await Promise.all(BANDS.map((band) => total(page, {...params, band})));
  return {count: await total(page, params), bands: BANDS.map((band, i) => ({band, count: counts[i]}))};
}

function bandBar(dist, label) {
  // Segment widths through the CSSOM (a style attribute would need 'unsafe-inline' in the CSP).
  const segments = dist.bands.map((b) => {
    const seg = h("span", {class: `seg band-${b.band}`, title: `${b.band}: ${b.count}`}, b.count ? String(b.count) : "");
    seg.style.flexGrow = String(b.count || 0);
    return seg;
  });
  return h("span", {class: "band-bar", role: "img", "aria-label": `${label}: ` + dist.bands.map((b) => `${b.band} ${b.count}`).join(", ")}, segments);
}

function node(title, code, kind, dist, children = []) {
  return h("li", {class: `tree-node ${kind}`, "data-code": code},
    h("div", {class: "tree-row"}, h("span", {class: "tree-title"}, title), code ? [" ", h("code", {}, code)] : null,
      " ", h("span", {class: "count", "data-count": dist.count ?? ""}, `${(dist.count ?? 0).toLocaleString("en-US")} records`),
      " ", bandBar(dist, title)),
    children.length ? h("ul", {}, children) : null);
}

export async function render(root, meta) {
  const items = [];
  for (const icp of meta.icps) {
    const live = (icp.status || "live") === "live";
    const accounts = live ? await distribution("accounts", {icp: icp.code}) : {count: null, bands: []};
    const personas = [];
    if (live) {
      for (const persona of icp.personas) {
        const dist = await distribution("leads", {icp: icp.code, persona: persona.code});
        personas.push(node(`${persona.name} (Persona)`, persona.code, "persona", dist));
      }
      const none = await distribution("leads", {icp: icp.code, persona: "no_persona_fit"});
      personas.push(node("No persona fit (auto, system-managed)", null, "no-fit", none));
    }
    const title = `${icp.name} (ICP${live ? "" : ", draft"})`;
    items.push(live ? node(title, icp.code, "icp", accounts, personas)
      : h("li", {class: "tree-node icp draft", "data-code": icp.code}, h("div", {class: "tree-row"},
        h("span", {class: "tree-title"}, title), " ", h("code", {}, icp.code), " ",
        h("span", {class: "muted"}, "draft: scores no records until published; see Rules → Preview for what it would take")),
        icp.personas.length ? h("ul", {}, icp.personas.map((p) => h("li", {class: "tree-node persona"},
          h("span", {class: "tree-title"}, `${p.name} (Persona)`), " ", h("code", {}, p.code)))) : null));
  }
  clear(root, h("h1", {}, "Qualification"),
    h("p", {class: "muted"}, "ICPs count accounts; Personas count leads. Bars split the records by band: ",
      BANDS.map((b) => [bandChip(b), " "])),
    h("ul", {class: "tree", id: "tree"}, items));
}

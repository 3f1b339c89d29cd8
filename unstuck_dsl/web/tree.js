// The Qualification tree: ICPs (live and draft) → their Personas → No persona fit, each with its
// record count and its score distribution by band (counted in DuckDB by /api/qualification); a
// draft shows, on demand, what it would take if published.

import {get} from "./api.js";
import {bandChip, clear, h, say} from "./dom.js";

const BANDS = ["weak", "partial", "solid", "strong"];

// Records per band for the rows of one node: {count, bands: [{band, count}]}.
function distribution(rows) {
  const bands = BANDS.map((band) => ({band, count: rows.filter((r) => r.band === band).reduce((a, r) => a + r.count, 0)}));
  return {count: rows.reduce((a, r) => a + r.count, 0), bands};
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

// "What would it take?": the draft scored as if live over the stored records, on demand.
function previewButton(code) {
  const out = h("span", {class: "preview", id: `preview-${code}`, "aria-live": "polite"});
  const button = h("button", {type: "button", class: "link", on: {click: async () => {
    button.disabled = true;
    clear(out, " scoring…");
    try {
      const p = await get("/api/qualification/preview", {icp: code});
      const from = p.from.map((f) => `${f.count} from ${f.icp_code ?? "no ICP"}`).join(", ");
      clear(out, h("span", {class: "count", "data-count": p.accounts}, ` would take ${p.accounts.toLocaleString("en-US")} accounts`),
        p.accounts ? [" ", bandBar({count: p.accounts, bands: BANDS.map((band) => ({band,
          count: (p.bands.find((b) => b.band === band) || {count: 0}).count}))}, "if published"), ` (${from})`] : null);
    } catch (error) {
      clear(out);
      say(error);
    } finally {
      button.disabled = false;
    }
  }}}, "What would it take if published?");
  return [button, out];
}

export async function render(root, meta) {
  const counts = await get("/api/qualification");
  const items = meta.icps.map((icp) => {
    const title = `${icp.name} (ICP${icp.status === "live" ? "" : ", draft"})`;
    if (icp.status !== "live") {
      return h("li", {class: "tree-node icp draft", "data-code": icp.code}, h("div", {class: "tree-row"},
        h("span", {class: "tree-title"}, title), " ", h("code", {}, icp.code), " ",
        h("span", {class: "muted"}, "draft: takes no records until published"), " ", previewButton(icp.code)),
        icp.personas.length ? h("ul", {}, icp.personas.map((p) => h("li", {class: "tree-node persona"},
          h("span", {class: "tree-title"}, `${p.name} (Persona)`), " ", h("code", {}, p.code)))) : null);
    }
    const leads = counts.leads.filter((r) => r.icp_code === icp.code);
    const personas = icp.personas.map((p) => node(`${p.name} (Persona)`, p.code, "persona",
      distribution(leads.filter((r) => r.persona_code === p.code))));
    personas.push(node("No persona fit (auto, system-managed)", "no_persona_fit", "no-fit",
      distribution(leads.filter((r) => r.persona_code === "no_persona_fit" || r.persona_code === null))));
    return node(title, icp.code, "icp", distribution(counts.accounts.filter((r) => r.icp_code === icp.code)), personas);
  });
  const unassigned = counts.accounts.filter((r) => r.icp_code === null);
  clear(root, h("h1", {}, "Qualification"),
    h("p", {class: "muted"}, "ICPs count accounts; Personas count leads. Bars split the records by band: ",
      BANDS.map((b) => [bandChip(b), " "])),
    h("ul", {class: "tree", id: "tree"}, items,
      h("li", {class: "tree-node none"}, h("div", {class: "tree-row"}, h("span", {class: "tree-title"}, "No ICP fit"), " ",
        h("span", {class: "count", "data-count": distribution(unassigned).count}, `${distribution(unassigned).count.toLocaleString("en-US")} records`)))));
}

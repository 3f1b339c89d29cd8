// A lead's or account's page: the Qualification panel, the drawer behind each score (the seed's
// table, from the API's explanation), the record's fields, its signals, its score history by
// ruleset version, and "Re-qualify this lead".

import {get, token} from "./api.js";
import {bandChip, clear, h, say, show, stageChip, stageLabel, table} from "./dom.js";
import {requalify, KINDS} from "./records.js";

export const DRAWER_COLUMNS = ["Parameter", "Mode", "Value on record", "Weight", "Contribution"];

// The parts of GET /api/{leads|accounts}/{id}: fields, the stored qualification, the drawer, engagement, history.
export function parts(data) {
  const explanation = data.drawer;
  const engagement = data.engagement || explanation.engagement || null;
  return {explanation, qualification: data.qualification || explanation, engagement, record: data.fields || {},
    history: data.history || [], signals: (engagement && engagement.signals) || []};
}

export async function render(root, page, id) {
  const spec = KINDS[page];
  const data = await get(`/api/${page}/${encodeURIComponent(id)}`);
  const {explanation, qualification, engagement, record, history, signals} = parts(data);
  const title = record.title || record.name || "";
  const requalifyButton = h("button", {type: "button", id: "requalify", disabled: !token()},
    `Re-qualify this ${spec.kind}`);
  requalifyButton.addEventListener("click", () => requalify(spec, [id])
    .then(() => render(root, page, id)).catch(say));
  clear(root, 
    h("p", {class: "crumbs"}, h("a", {href: `#/${page}`}, spec.label), " / ", id),
    h("h1", {}, id, title ? h("span", {class: "subtitle"}, " · ", title) : null),
    h("div", {class: "actions"}, requalifyButton, token() ? null : h("span", {class: "muted"}, " (needs the token)")),
    qualificationPanel(spec, explanation, qualification, engagement),
    h("section", {"aria-labelledby": "fields-title"}, h("h2", {id: "fields-title"}, "Fields"), fieldsTable(record)),
    spec.kind === "lead" || signals.length ? signalsSection(signals, engagement) : null,
    historySection(history));
}

function qualificationPanel(spec, explanation, q, engagement) {
  const icp = (explanation.icps || []).find((b) => b.code === q.icp_code && b.qualifies);
  const persona = (explanation.personas || []).find((b) => b.code === q.persona_code && b.qualifies);
  const scoreButton = (kind, score) => h("button", {type: "button", class: "score", id: `${kind}-score`,
    "aria-label": `Explain the ${kind === "icp" ? "ICP" : "Persona"} score ${score}`,
    on: {click: () => openDrawer(explanation, kind)}}, show(score));
  const rows = [
    h("div", {class: "q-item"}, h("span", {class: "q-label"}, "ICP"),
      q.icp_code ? [h("span", {class: "q-name"}, icp ? icp.name : q.icp_code), " ", h("code", {}, q.icp_code), " ",
        scoreButton("icp", q.icp_score), " ", bandChip(q.icp_band)] : h("span", {class: "q-name"}, "No ICP fit")),
  ];
  if (spec.kind === "lead") {
    const fit = q.persona_code && q.persona_code !== "no_persona_fit";
    rows.push(h("div", {class: "q-item"}, h("span", {class: "q-label"}, "Persona"),
      fit ? [h("span", {class: "q-name"}, persona ? persona.name : q.persona_code), " ", h("code", {}, q.persona_code), " ",
        scoreButton("persona", q.persona_score), " ", bandChip(q.persona_band)]
        : [h("span", {class: "q-name"}, "No persona fit"), (explanation.personas || []).length ?
          [" ", h("button", {type: "button", class: "link", id: "persona-score", on: {click: () => openDrawer(explanation, "persona")}}, "why")] : null]));
  }
  if (engagement) {
    rows.push(h("div", {class: "q-item"}, h("span", {class: "q-label"}, "Stage"),
      stageChip(engagement.stage && stageLabel(engagement.stage)), " ",
      h("span", {class: "muted", id: "engagement-score"}, `engagement ${Number(engagement.engagement_score ?? engagement.score).toFixed(2)}`)));
  }
  return h("section", {class: "panel qualification", "aria-labelledby": "q-title"},
    h("h2", {id: "q-title"}, "Qualification"), h("p", {class: "muted"}, `as of ${show(explanation.as_of)}`), rows);
}

let opener = null; // the score button that opened the drawer: focus goes back to it on close

// The drawer for the ICP (or Persona) score: the assigned breakdown as the seed's table, then
// every other live ICP / Persona with why it lost.
export function openDrawer(explanation, kind) {
  const breakdowns = kind === "icp" ? explanation.icps || [] : explanation.personas || [];
  const code = kind === "icp" ? explanation.icp_code : explanation.persona_code;
  const assigned = breakdowns.find((b) => b.code === code && b.qualifies);
  const others = breakdowns.filter((b) => b !== assigned);
  const word = kind === "icp" ? "ICP" : "Persona";
  const body = clear(document.getElementById("drawer-body"));
  body.append(h("h2", {id: "drawer-title"}, assigned ? `${word} ${assigned.name}` : `No ${word.toLowerCase()} fit`,
    assigned ? [" ", h("code", {}, assigned.code)] : null));
  if (assigned) body.append(breakdownBlock(assigned, true));
  if (others.length) {
    body.append(h("h3", {}, assigned ? `Why every other ${word} lost` : `Why no ${word} qualified`));
    others.forEach((b) => body.append(breakdownBlock(b, false)));
  }
  opener = document.activeElement;
  document.getElementById("drawer").hidden = false;
  document.getElementById("drawer-close").focus();
}

export function closeDrawer() {
  const drawer = document.getElementById("drawer");
  if (drawer.hidden) return;
  drawer.hidden = true;
  if (opener && opener.isConnected) opener.focus();
  opener = null;
}

function breakdownBlock(b, assigned) {
  const head = assigned ? null : h("h4", {}, `${b.name} `, h("code", {}, b.code), b.status !== "live" ? " (draft)" : "", `: ${b.verdict}`);
  return h("div", {class: "breakdown", "data-code": b.code},
    head, drawerTable(b), h("p", {class: "normalization"}, normalization(b)));
}

// The rows in the seed's order: every parameter as declared, the Subtotal right after the last
// Score parameter (explain.drawer_rows).
export function drawerRows(b) {
  const rows = b.parameters.map((p) => [p.parameter, p.mode, p.value, p.mode === "Score" ? show(p.weight) : "—", p.result]);
  const lastScore = b.parameters.map((p) => p.mode).lastIndexOf("Score");
  rows.splice(lastScore + 1, 0, ["Subtotal", "", "", show(b.possible), subtotal(b)]);
  return rows;
}

const subtotal = (b) => `${b.earned} / ${b.possible}`;

export function normalization(b) {
  if (!b.qualifies) return `${subtotal(b)} would score ${b.score} / 100 if it qualified.`;
  return `${subtotal(b)} normalizes to ${b.score} / 100 on the ${b.kind === "icp" ? "ICP" : "Persona"} score field.`;
}

function drawerTable(b) {
  const rows = drawerRows(b);
  return h("table", {class: "drawer-table"},
    h("thead", {}, h("tr", {}, DRAWER_COLUMNS.map((c) => h("th", {scope: "col"}, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {class: r[0] === "Subtotal" && r[1] === "" ? "subtotal" : null},
      r.map((c, i) => (i === 0 ? h("th", {scope: "row"}, c) : h("td", {class: i >= 3 ? "num" : null}, c)))))));
}

function fieldsTable(record) {
  const entries = Object.entries(record);
  if (!entries.length) return h("p", {class: "muted"}, "No stored fields.");
  return h("table", {class: "fields"}, h("tbody", {}, entries.map(([k, v]) =>
    h("tr", {}, h("th", {scope: "row"}, k), h("td", {}, show(v))))));
}

function signalsSection(signals, engagement) {
  const content = signals.length ? table([
    {key: "signal", label: "Signal"}, {key: "date", label: "Date"},
    {key: "age_days", label: "Age (days)", num: true},
    {key: "counts", label: "Still counts", num: true, cell: (r) => Number(r.counts).toFixed(2)},
  ], signals, {class: "signals"}) : h("p", {class: "muted"}, engagement ? "No signals." : "The rules declare no engagement, or no signals are stored.");
  return h("section", {"aria-labelledby": "signals-title"}, h("h2", {id: "signals-title"}, "Signals"), content);
}

function historySection(history) {
  const rows = Array.isArray(history) ? history : history.rows || [];
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].map((key) => ({key, label: key.replaceAll("_", " ")}));
  return h("section", {"aria-labelledby": "history-title"}, h("h2", {id: "history-title"}, "Score history"),
    rows.length ? table(columns, rows, {class: "history"}) : h("p", {class: "muted"}, "No score changes recorded."));
}


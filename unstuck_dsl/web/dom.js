// Building the page from records: every value enters the DOM as text (a text node or
// textContent), never as markup, so a record titled `<img src=x onerror=...>` shows as those characters.

const SVG = "http://www.w3.org/2000/svg";

// h("td", {class: "num"}, value, child...): an element; strings and numbers become text nodes,
// attributes are set with setAttribute (never `on*` handlers: pass functions under `on`).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  return fill(el, attrs, children);
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  return fill(el, attrs, children);
}

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (name.startsWith("on")) {
      throw new Error(`event handlers go under "on", not as the attribute ${name}`);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Empties `el`, then appends `children` as h() does (flattened; null and false left out).
export function clear(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return fill(el, {}, children);
}

// A value as the terminal tables show it: null is "—", lists are joined.
export function show(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.length ? value.join("; ") : "none";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// A table with a header row: columns are [{key, label, cell?(row) -> node|string, num?}].
export function table(columns, rows, attrs = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", {scope: "col", class: c.num ? "num" : null}, c.label))));
  const body = h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) =>
    h("td", {class: c.num ? "num" : null}, c.cell ? c.cell(row) : show(row[c.key]))))));
  return h("table", attrs, head, body);
}

// A histogram as inline SVG: bins [{label, count}], bars labelled with their counts.
export function histogram(bins, {title = "", width = 320, height = 120} = {}) {
  const max = Math.max(1, ...bins.map((b) => b.count));
  const barWidth = width / Math.max(1, bins.length);
  const plot = height - 28;
  const svg = s("svg", {viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title, class: "hist"});
  svg.append(s("title", {}, title));
  bins.forEach((bin, i) => {
    const barHeight = Math.round((bin.count / max) * plot);
    const x = i * barWidth;
    svg.append(s("rect", {x: x + 2, y: plot - barHeight + 12, width: Math.max(1, barWidth - 4), height: barHeight, class: "bar"},
      s("title", {}, `${bin.label}: ${bin.count}`)));
    svg.append(s("text", {x: x + barWidth / 2, y: plot - barHeight + 10, "text-anchor": "middle", class: "count"}, String(bin.count)));
    svg.append(s("text", {x: x + barWidth / 2, y: height - 4, "text-anchor": "middle", class: "axis"}, bin.label));
  });
  return svg;
}

// Scores 0-100 in ten bins (0-9, ..., 90-100), as the CLI's composition histograms; null is left out.
export const SCORE_BINS = Array.from({length: 10}, (_, i) => ({low: i * 10, high: i === 9 ? 100 : i * 10 + 9}));

export function scoreBins(scores) {
  const bins = SCORE_BINS.map((b) => ({label: `${b.low}`, low: b.low, high: b.high, count: 0}));
  for (const score of scores) {
    if (score === null || score === undefined) continue;
    bins[Math.min(9, Math.floor(score / 10))].count += 1;
  }
  return bins;
}

// CSV as the CLI writes it: RFC 4180 quoting, and a text cell starting with = + - @ tab or CR
// gets a leading ' so a spreadsheet does not run it (OWASP CSV injection).
export function csv(columns, rows) {
  const cell = (value) => {
    let text = value === null || value === undefined ? "" : Array.isArray(value) ? value.join(";") : String(value);
    if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = "'" + text;
    return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.map(cell).join(","), ...rows.map((row) => columns.map((c) => cell(row[c])).join(","))].join("\r\n") + "\r\n";
}

export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], {type: "text/csv"}));
  const link = h("a", {href: url, download: name});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function chip(text, kind) {
  return h("span", {class: `chip ${kind || ""}`.trim()}, text);
}

export function bandChip(band) {
  return band ? chip(band, `band-${band}`) : chip("—");
}

export function stageChip(stage) {
  return stage ? chip(stage, `stage-${String(stage).toLowerCase().replace(/[^a-z]/g, "")}`) : chip("—");
}

const STAGE_LABELS = {cool: "Cool", warm: "Warm", in_market: "In-market", hot: "Hot"};

export function stageLabel(stage) {
  return STAGE_LABELS[stage] || String(stage);
}

// One line for what happened: errors from the API (status and its message) or progress.
export function say(what, kind = "error") {
  const line = document.getElementById("message");
  line.textContent = typeof what === "string" ? what : what && what.message ? what.message : String(what);
  line.className = `message ${kind}`;
  line.hidden = false;
}


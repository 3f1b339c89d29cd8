// Insights: reply, meeting and signup rates by band and by score bin with 95 % intervals, and
// the score where the reply rate jumps (the same report as `unstuck insights --json`), drawn
// here as inline SVG.

import {get} from "./api.js";
import {clear, h, s, show, table} from "./dom.js";

const RATES = ["replied", "meeting", "signup"];

const percent = (x) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(1)} %`);

// Rate per bin with its interval as whiskers; the suggested threshold as a vertical rule.
function rateChart(bins, outcome, threshold, title) {
  const width = 480, height = 180, left = 36, bottom = 22, top = 8;
  const plotW = width - left - 8, plotH = height - bottom - top;
  const high = Math.max(0.05, ...bins.map((b) => (b[outcome] ? b[outcome].ci95[1] : 0)));
  const x = (score) => left + (score / 100) * plotW;
  const y = (rate) => top + plotH - (rate / high) * plotH;
  const svg = s("svg", {viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title, class: "rates"},
    s("title", {}, title),
    s("line", {x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH, class: "axis-line"}),
    [0, 20, 40, 60, 80, 100].map((t) => s("text", {x: x(t), y: height - 6, "text-anchor": "middle", class: "axis"}, String(t))),
    s("text", {x: 2, y: top + 10, class: "axis"}, percent(high)));
  for (const bin of bins) {
    const rate = bin[outcome];
    if (!rate || bin.low === undefined) continue;
    const cx = x((bin.low + bin.high) / 2);
    svg.append(s("line", {x1: cx, x2: cx, y1: y(rate.ci95[0]), y2: y(rate.ci95[1]), class: "whisker"}),
      s("circle", {cx, cy: y(rate.rate), r: 3.5, class: "point"},
        s("title", {}, `${bin.bin}: ${percent(rate.rate)} (${rate.count} of ${bin.n}), 95 % ${percent(rate.ci95[0])}–${percent(rate.ci95[1])}`)));
  }
  if (threshold !== null && threshold !== undefined) {
    svg.append(s("line", {x1: x(threshold), x2: x(threshold), y1: top, y2: top + plotH, class: "threshold"}),
      s("text", {x: x(threshold) + 4, y: top + 10, class: "threshold-label"}, `jump at ${threshold}`));
  }
  return svg;
}

function rateTable(rows, label) {
  return table([{key: "bin", label}, {key: "n", label: "Leads", num: true},
    ...RATES.map((o) => ({key: o, label: `${o} (95 %)`, num: true,
      cell: (r) => (r[o] ? `${percent(r[o].rate)} (${percent(r[o].ci95[0])}–${percent(r[o].ci95[1])})` : "—")}))], rows, {class: "rates"});
}

function group(g) {
  const jump = g.reply_jump || {};
  return h("section", {class: "insight-group", "data-code": g.code ?? ""},
    h("h2", {}, g.group, g.code ? [" ", h("code", {}, g.code)] : null),
    h("p", {}, `${g.n.toLocaleString("en-US")} leads; `, jump.threshold !== null && jump.threshold !== undefined
      ? h("strong", {}, `reply rate jumps at ${g.score} ${jump.threshold}`) : "no reliable jump", `: ${show(jump.evidence)}`),
    rateChart(g.by_bin, "replied", jump.threshold, `Reply rate by ${g.score} for ${g.group}`),
    rateTable(g.by_band, "Band"), rateTable(g.by_bin, "Score"));
}

export async function render(root, view) {
  const report = await get("/api/insights", {denominator: view.denominator});
  const head = report.headline;
  clear(root, h("h1", {}, "Insights"),
    h("p", {class: "headline"}, `${head.leads.toLocaleString("en-US")} leads, ${head.counted.toLocaleString("en-US")} counted (per ${head.denominator} lead); outcomes `,
      Object.entries(head.outcomes).map(([k, n]) => `${k} ${n}`).join(", "), head.from ? ` from ${head.from} to ${head.to}` : "", "."),
    h("p", {}, head.threshold !== null && head.threshold !== undefined
      ? h("strong", {id: "suggested-threshold"}, `Suggested threshold: persona_score >= ${head.threshold}`) : "The data shows no reliable jump.",
      " ", h("span", {class: "muted"}, show(head.evidence))),
    h("p", {}, h("a", {href: `#/insights?denominator=${head.denominator === "contacted" ? "scored" : "contacted"}`},
      head.denominator === "contacted" ? "Divide by every scored lead" : "Divide by contacted leads")),
    group(report.overall), report.groups.map(group));
}

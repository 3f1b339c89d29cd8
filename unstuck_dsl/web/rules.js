// Rules: the published ruleset's text, highlighted; a draft editor whose diagnostics come from
// the server's checker as you type; Preview (what would move, applying nothing) and Publish.

import {get, post, token} from "./api.js";
import {clear, h, say, show, table} from "./dom.js";
import {refreshMeta} from "./app.js";

const KEYWORDS = new Set(["icp", "persona", "score", "filter", "exclude", "live", "draft", "audience", "from", "field",
  "fields", "account", "lead", "region", "stage", "signal", "signals", "engagement", "and", "or", "not", "in", "has",
  "between", "within", "months", "days", "years", "resembles", "is_known", "below", "half_life", "window", "template"]);
const TOKENS = /(#[^\n]*|\/\/[^\n]*)|("(?:[^"\\\n]|\\.)*")|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)|(\s+|.)/g;

// Rule text as spans: each token is text in a span with a class, never markup.
export function highlight(text) {
  const nodes = [];
  for (const m of text.matchAll(TOKENS)) {
    const [all, comment, string, number, word] = m;
    const kind = comment ? "comment" : string ? "string" : number ? "number" : word && KEYWORDS.has(word) ? "keyword" : null;
    nodes.push(kind ? h("span", {class: `tok-${kind}`}, all) : all);
  }
  return h("pre", {class: "rules-text", id: "published-text"}, h("code", {}, nodes));
}

function diagnosticsList(diagnostics) {
  if (!diagnostics.length) return h("p", {class: "ok"}, "No problems.");
  return h("ul", {class: "diagnostics"}, diagnostics.map((d) => h("li", {class: `diag ${d.severity || "error"}`},
    h("strong", {}, `${show(d.line)}:${show(d.column)}`), ` ${d.severity || "error"}${d.code ? `[${d.code}]` : ""}: ${d.message}`,
    d.hint ? h("span", {class: "hint"}, ` hint: ${d.hint}`) : null)));
}

// A dry run's answer: the summary, how many records would change, the transition and band
// counts, and the records that would move most.
function diffView(report) {
  const diff = report.diff;
  const parts = [h("p", {id: "preview-summary"}, show(report.summary))];
  if (!diff) return parts;
  parts.push(h("p", {}, "Records that would change: ", h("strong", {id: "preview-changed"}, String(diff.changed)),
    ` of ${diff.records}`));
  for (const name of ["icp_transitions", "persona_transitions", "band_changes"]) {
    const rows = Object.entries(diff[name] || {}).map(([change, count]) => ({change, count}));
    if (rows.length) parts.push(h("h3", {}, name.replaceAll("_", " ")),
      table([{key: "change", label: "Change"}, {key: "count", label: "Records", num: true}], rows, {class: `diff-${name}`}));
  }
  if ((diff.movers || []).length) {
    const side = (m, i) => `${show(m[i])} ${show(m[i + 1])}`;
    parts.push(h("h3", {}, "Top movers"), h("table", {class: "diff-movers"},
      h("thead", {}, h("tr", {}, ["Record", "ICP before", "ICP after", "Persona before", "Persona after", "What moved it"]
        .map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, diff.movers.map((m) => h("tr", {"data-id": m.id, "data-new-icp-score": m.new[1] ?? ""},
        h("th", {scope: "row"}, m.id), h("td", {}, side(m.old, 0)), h("td", {}, side(m.new, 0)),
        h("td", {}, side(m.old, 2)), h("td", {}, side(m.new, 2)),
        h("td", {}, (m.rows || []).map((r) => h("div", {}, `${r[0]} · ${r[1]}: ${r[2]} → ${r[3]}`))))))));
  }
  return parts;
}

export async function render(root, meta) {
  const published = await get("/api/rules");
  const text = published.text || "";
  const editor = h("textarea", {id: "draft", rows: 24, spellcheck: "false", "aria-label": "Draft ruleset",
    "aria-describedby": "diagnostics"});
  editor.value = text;
  const diagnostics = h("div", {id: "diagnostics", "aria-live": "polite"});
  const results = h("div", {id: "preview"});
  const previewButton = h("button", {type: "button", id: "preview-button"}, "Preview");
  const publishButton = h("button", {type: "button", id: "publish-button", disabled: !token()}, "Publish");
  const message = h("input", {id: "publish-message", type: "text", placeholder: "What changed and why", "aria-label": "Publish message"});
  let timer = null;
  let checked = 0;
  const check = async () => {
    const mine = ++checked;
    const report = await post("/api/check", {rules: editor.value});
    if (mine === checked) clear(diagnostics, diagnosticsList(report.diagnostics || []));
  };
  editor.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => check().catch(say), 250);
  });
  previewButton.addEventListener("click", async () => {
    try {
      clear(results, h("p", {class: "muted"}, "Computing what would move…"));
      clear(results, ...diffView(await post("/api/publish", {rules: editor.value, dry_run: true})));
    } catch (error) {
      clear(results);
      say(error);
    }
  });
  publishButton.addEventListener("click", async () => {
    try {
      const report = await post("/api/publish", {rules: editor.value, message: message.value});
      say(`Published: ${show(report.summary)}`, "info");
      refreshMeta();
      location.hash = "#/rules";
    } catch (error) {
      say(error);
    }
  });
  const version = published.version || {};
  clear(root, h("h1", {}, "Rules"),
    h("p", {class: "muted"}, `Published: version ${show(version.number ?? version)}`, version.message ? ` — ${version.message}` : "",
      version.published_at ? ` (${version.published_at})` : ""),
    h("details", {open: true}, h("summary", {}, "Published ruleset"), highlight(text)),
    h("h2", {}, "Draft a change"), editor, diagnostics,
    h("div", {class: "actions"}, previewButton, message, publishButton,
      token() ? null : h("span", {class: "muted"}, " Publishing needs the token.")),
    results);
  check().catch(say);
}

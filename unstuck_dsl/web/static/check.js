// The draft editor's diagnostics as you type: the server's checker (POST /api/check, which writes
// nothing) reads the draft a moment after the last key; its answer replaces the list the page
// was rendered with. Every message is set as text.
"use strict";

(() => {
  const editor = document.getElementById("draft");
  const out = document.getElementById("diagnostics");
  if (!editor || !out) return;
  let timer = null;
  let asked = 0;

  function item(d) {
    const li = document.createElement("li");
    const severity = d.severity || "error";
    li.className = `diag ${severity}`;
    const place = document.createElement("strong");
    place.textContent = `${d.line ?? "—"}:${d.column ?? "—"}`;
    li.append(place, ` ${severity}${d.code ? `[${d.code}]` : ""}: ${d.message}`);
    if (d.hint) {
      const hint = document.createElement("span");
      hint.className = "hint";
      hint.textContent = ` hint: ${d.hint}`;
      li.append(" ", hint);
    }
    return li;
  }

  async function check() {
    const mine = ++asked;
    const response = await fetch("/api/check", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({rules: editor.value})});
    const report = await response.json();
    if (mine !== asked) return; // a later check is on its way
    if (!response.ok) {
      out.textContent = `${response.status}: ${report.error || "the checker refused the draft"}`;
      return;
    }
    const found = report.diagnostics || [];
    let list;
    if (found.length) {
      list = document.createElement("ul");
      list.className = "diagnostics";
      list.append(...found.map(item));
    } else {
      list = document.createElement("p");
      list.className = "ok";
      list.textContent = "No problems.";
    }
    out.replaceChildren(list);
  }

  editor.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => check().catch((error) => { out.textContent = String(error); }), 250);
  });
})();

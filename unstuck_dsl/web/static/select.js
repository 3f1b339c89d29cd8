// Bulk re-qualify: a box in the header ticks every row of the page (the rows' boxes belong to the
// bulk form, which posts the ticked ids); the button counts what is ticked.
"use strict";

(() => {
  const all = document.getElementById("select-all");
  const button = document.getElementById("bulk-requalify");
  if (!all || !button) return;
  const boxes = [...document.querySelectorAll("#records tbody input[type=checkbox][name=id]")];
  const count = () => {
    const ticked = boxes.filter((b) => b.checked).length;
    button.textContent = `Re-qualify selected (${ticked})`;
    button.disabled = ticked === 0;
  };
  all.hidden = false;
  all.removeAttribute("form"); // the header box is not an id to post
  all.addEventListener("change", () => {
    boxes.forEach((b) => { b.checked = all.checked; });
    count();
  });
  boxes.forEach((b) => b.addEventListener("change", count));
  count();
})();

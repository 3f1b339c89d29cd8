// The drawer behind a score: the server renders it (a score is a link to the page with
// ?drawer=icp open); this only opens and closes it in place. Escape or × closes it and gives the
// focus back to the score that opened it.
"use strict";

(() => {
  let opener = null;

  function close() {
    const open = document.querySelector(".drawer:not([hidden])");
    if (!open) return;
    open.hidden = true;
    const back = opener || document.querySelector(`[data-drawer="${open.id}"]`);
    if (back) back.focus();
    opener = null;
  }

  function show(link) {
    close();
    const drawer = document.getElementById(link.dataset.drawer);
    if (!drawer) return false;
    opener = link;
    drawer.hidden = false;
    drawer.querySelector("[data-close]").focus();
    return true;
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-drawer]");
    if (link && show(link)) event.preventDefault();
    if (event.target.closest("[data-close]")) {
      event.preventDefault();
      close();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  const open = document.querySelector(".drawer:not([hidden]) [data-close]");
  if (open) open.focus();
})();

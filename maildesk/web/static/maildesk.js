// maildesk: a little progressive enhancement; every page works without it.
document.addEventListener("DOMContentLoaded", () => {
  // The queue's "select all" box.
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll("input[name=ticket]")) box.checked = all.checked;
    });
  }
  // Forms that ask first (merge, bulk changes).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});

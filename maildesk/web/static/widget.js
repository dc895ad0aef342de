// maildesk's widget for any site: <script src="https://desk.example/widget.js" async></script>
// A button that opens the desk's /submit form in a dialog (an iframe). No inline script or
// style: the look comes from /widget.css, so a site's CSP need only allow this origin.
// data- attributes of the script tag: desk, theme (light|dark), position (bottom-right|
// bottom-left), name, email, category, label (the button's text).
(() => {
  const script = document.currentScript;
  if (!script) return;
  const origin = new URL(script.src).origin;
  const data = script.dataset;

  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = `${origin}/widget.css`;
  document.head.appendChild(style);

  const query = new URLSearchParams({ embed: "1" });
  for (const key of ["name", "email", "category"]) if (data[key]) query.set(key, data[key]);
  const path = data.desk ? `/submit/${encodeURIComponent(data.desk)}` : "/submit";
  const theme = data.theme === "dark" ? "dark" : "light";
  if (theme === "dark") query.set("theme", "dark");
  const side = data.position === "bottom-left" ? "left" : "right";

  const button = document.createElement("button");
  button.type = "button";
  button.className = `maildesk-widget-button maildesk-${theme} maildesk-${side}`;
  button.textContent = data.label || "Contact us";
  button.setAttribute("aria-haspopup", "dialog");

  const backdrop = document.createElement("div");
  backdrop.className = `maildesk-widget-backdrop maildesk-${theme}`;
  backdrop.hidden = true;
  const dialog = document.createElement("div");
  dialog.className = "maildesk-widget-dialog";
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-label", button.textContent);
  const close = document.createElement("button");
  close.type = "button";
  close.className = "maildesk-widget-close";
  close.setAttribute("aria-label", "Close");
  close.textContent = "×";
  const frame = document.createElement("iframe");
  frame.className = "maildesk-widget-frame";
  frame.title = button.textContent;
  dialog.append(close, frame);
  backdrop.appendChild(dialog);

  const open = () => {
    if (!frame.src) frame.src = `${origin}${path}?${query}`;
    backdrop.hidden = false;
    close.focus();
  };
  const shut = () => {
    backdrop.hidden = true;
    button.focus();
  };
  button.addEventListener("click", open);
  close.addEventListener("click", shut);
  backdrop.addEventListener("click", (event) => { if (event.target === backdrop) shut(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !backdrop.hidden) shut();
  });
  // Escape pressed within the form (submit.js tells us so).
  window.addEventListener("message", (event) => {
    if (event.origin === origin && event.data === "maildesk:close" && !backdrop.hidden) shut();
  });
  // Tab stays within the dialog: between the close button and the form.
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Tab") {
      event.preventDefault();
      (document.activeElement === close ? frame : close).focus();
    }
  });

  const place = () => document.body.append(button, backdrop);
  if (document.body) place();
  else document.addEventListener("DOMContentLoaded", place);
})();

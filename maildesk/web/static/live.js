// maildesk live updates: the queue's rows and a ticket's thread, fields and presence
// change as others work. The stream (/events/stream) only says what changed; the page
// then fetches its own fresh HTML and swaps in the parts marked data-live. Without
// script the pages are the same, as of their loading.
document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch) return;
  const reply = document.querySelector("form[data-presence-form]");
  const seen = reply && reply.querySelector("input[name=seen]");
  const draft = reply && reply.querySelector("textarea[name=text]");

  async function swap(url, names) {
    const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!answer.ok) return null;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    for (const name of names) {
      const now = document.querySelector(`[data-live="${name}"]`);
      const next = fresh.querySelector(`[data-live="${name}"]`);
      if (now && next) now.replaceWith(document.adoptNode(next));
    }
    return fresh;
  }

  async function refreshQueue() {
    const ticked = new Set([...document.querySelectorAll("input[name=ticket]:checked")].map((box) => box.value));
    await swap(location.href, ["rows", "count"]);
    for (const box of document.querySelectorAll("input[name=ticket]")) box.checked = ticked.has(box.value);
  }

  async function refreshTicket() {
    // While the agent writes, their form keeps the newest message they had seen, so
    // sending warns them; with an empty box, what appears here counts as seen.
    const writing = draft && draft.value.trim() !== "";
    const fresh = await swap(`${location.pathname}?seen=${seen ? seen.value : 0}`,
      ["badges", "fields", "thread", "events", ...(writing ? ["arrived"] : [])]);
    const newest = fresh && fresh.querySelector("form[data-presence-form] input[name=seen]");
    if (newest && seen && !writing) seen.value = newest.value;
  }

  const refreshPresence = () => live.dataset.presence && swap(live.dataset.presence, ["presence"]);
  const refresh = reply ? refreshTicket : refreshQueue;
  let pending = null;
  const soon = (fn) => { clearTimeout(pending); pending = setTimeout(fn, 200); };

  const stream = new EventSource(live.dataset.stream);
  let opened = false;
  stream.addEventListener("ready", () => {
    if (opened) soon(refresh); // reconnected: something may have changed meanwhile
    opened = true;
    live.dataset.ready = "1";
  });
  stream.addEventListener("change", () => soon(refresh));
  stream.addEventListener("reload", () => { soon(refresh); refreshPresence(); });
  stream.addEventListener("presence", refreshPresence);

  // "X is replying": told while the agent types, at most every ten seconds.
  let told = 0;
  if (draft && live.dataset.presence) {
    draft.addEventListener("input", () => {
      if (Date.now() - told < 10000) return;
      told = Date.now();
      const body = new URLSearchParams({ csrf: reply.querySelector("input[name=csrf]").value, state: "replying" });
      fetch(live.dataset.presence, { method: "POST", body, credentials: "same-origin" });
    });
  }
});

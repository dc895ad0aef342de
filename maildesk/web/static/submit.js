// The /submit form: its browser check (proof of work) and files dropped on the form.
// Without this script the form still works when no check is asked ([web] submit_pow_bits = 0).
(() => {
  // In the widget's dialog (?embed=1), Escape closes it from within the form too.
  if (document.body.classList.contains("embed") && window.parent !== window) {
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") window.parent.postMessage("maildesk:close", "*");
    });
  }
  const form = document.querySelector("form.submit-form");
  if (!form) return;

  // Files dropped anywhere on the form go to its file input.
  const input = form.querySelector("input[type=file]");
  if (input) {
    form.addEventListener("dragover", (event) => {
      event.preventDefault();
      form.classList.add("dropping");
    });
    form.addEventListener("dragleave", () => form.classList.remove("dropping"));
    form.addEventListener("drop", (event) => {
      event.preventDefault();
      form.classList.remove("dropping");
      if (event.dataTransfer && event.dataTransfer.files.length) input.files = event.dataTransfer.files;
    });
  }

  // On small screens, the form in steps (the groups of .form-step), each checked before the next.
  const steps = [...form.querySelectorAll(".form-step")];
  const small = window.matchMedia("(max-width: 40rem)");
  let current = 0;
  const stepped = () => small.matches && steps.length > 1;
  const go = (index) => {
    current = Math.max(0, Math.min(index, steps.length - 1));
    steps.forEach((step, n) => step.classList.toggle("current", n === current));
  };
  const fine = () => [...steps[current].querySelectorAll("input, select, textarea")]
    .every((field) => field.reportValidity());
  const arrange = () => {
    form.classList.toggle("stepped", stepped());
    for (const nav of form.querySelectorAll(".step-nav")) nav.hidden = !stepped();
    go(stepped() ? current : 0);
  };
  const first = () => {
    const field = steps[current].querySelector("input:not([type=hidden]), select, textarea");
    if (field) field.focus();
  };
  form.addEventListener("click", (event) => {
    if (event.target.closest(".step-next") && fine()) { go(current + 1); first(); }
    if (event.target.closest(".step-back")) { go(current - 1); first(); }
  });
  form.addEventListener("submit", (event) => {
    if (!stepped() || current === steps.length - 1) return;
    event.preventDefault();  // Enter on an earlier step: on to the next one
    if (fine()) { go(current + 1); first(); }
  });
  small.addEventListener("change", arrange);
  arrange();

  // Articles matching the subject as it is typed (from /submit-articles).
  const hints = form.querySelector(".article-hints");
  const subject = form.querySelector("input[name=subject]");
  if (hints && subject) {
    const list = hints.querySelector("ul");
    let timer = 0;
    const show = (articles) => {
      list.replaceChildren(...articles.map((article) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = article.url;
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = article.title;
        item.appendChild(link);
        return item;
      }));
      hints.hidden = articles.length === 0;
    };
    subject.addEventListener("input", () => {
      clearTimeout(timer);
      const text = subject.value.trim();
      if (text.length < 3) { show([]); return; }
      timer = setTimeout(() => {
        fetch(`${hints.dataset.suggest}&q=${encodeURIComponent(text)}`)
          .then((answer) => (answer.ok ? answer.json() : { articles: [] }))
          .then((found) => { if (subject.value.trim() === text) show(found.articles); })
          .catch(() => show([]));
      }, 400);
    });
  }

  // The check: a counter such that SHA-256(challenge + counter) starts with `bits` zero bits.
  const signed = form.dataset.pow;
  if (!signed || !window.crypto || !window.crypto.subtle) return;
  const [nonce, issued, bits] = signed.split(".");
  const text = `${nonce}.${issued}.${bits}`;
  const need = Number(bits);
  const encoder = new TextEncoder();
  const zeroBits = (bytes) => {
    let n = 0;
    for (const b of bytes) {
      if (b === 0) { n += 8; continue; }
      return n + Math.clz32(b) - 24;
    }
    return n;
  };
  const batch = 256;
  const work = (async () => {
    for (let start = 0; ; start += batch) {
      const tries = [];
      for (let c = start; c < start + batch; c++) {
        tries.push(crypto.subtle.digest("SHA-256", encoder.encode(text + c)));
      }
      const digests = await Promise.all(tries);
      for (let i = 0; i < batch; i++) {
        if (zeroBits(new Uint8Array(digests[i])) >= need) return String(start + i);
      }
    }
  })();
  const counter = form.querySelector("input[name=pow_counter]");
  work.then((found) => { counter.value = found; });
  form.addEventListener("submit", (event) => {
    if (event.defaultPrevented || counter.value) return;
    event.preventDefault();
    const button = event.submitter;
    work.then(() => (form.requestSubmit ? form.requestSubmit(button) : form.submit()));
  });
})();

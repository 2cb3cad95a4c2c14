"use strict";
// The toast overlay may only listen to "toast". A payload is {title, message, tone};
// a bare string is taken as the message.
(() => {
  const stage = document.getElementById("stage");
  const LIFE_MS = { info: 5000, success: 5000, error: 9000 }; // errors stay long enough to read

  function el(className, text) {
    return Object.assign(document.createElement("div"), { className, textContent: text });
  }

  function dismiss(card) {
    if (card.classList.contains("leaving")) return;
    card.classList.add("leaving");
    card.addEventListener("animationend", () => card.remove(), { once: true });
  }

  // The payload was written by another page: only known fields, only as text.
  function show(payload, sticky = false) {
    const p = typeof payload === "string" ? { message: payload } : payload || {};
    const tone = Object.hasOwn(LIFE_MS, p.tone) ? p.tone : "info";
    const title = typeof p.title === "string" && p.title ? p.title : "Notice";
    const message = typeof p.message === "string" ? p.message : "";

    Array.from(stage.children).forEach(dismiss);
    const card = el("toast");
    card.dataset.tone = tone;
    card.style.setProperty("--life", `${LIFE_MS[tone]}ms`);
    const text = document.createElement("div");
    text.append(el("title", title), el("message", message));
    card.append(el("icon", ""), text, el("life", ""));
    stage.append(card);
    if (sticky) card.classList.add("sticky");
    else setTimeout(() => dismiss(card), LIFE_MS[tone]);
  }

  vitrine.listen("toast", (e) => show(e.payload)).then(
    () => console.log("toast overlay ready"),
    (e) => {
      // Nothing will ever arrive: say so where the toasts would have been.
      console.error(`toast overlay cannot listen: ${e.code}: ${e.message}`);
      show({ title: "Toasts unavailable", message: `${e.code}: ${e.message}`, tone: "error" }, true);
    },
  );
})();

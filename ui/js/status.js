"use strict";
// The status bar may only listen. Its clock is its own; everything else on it arrives
// as events from the board, through the core.
(() => {
  const $ = (id) => document.getElementById(id);
  let received = 0;

  function heard(e) {
    received += 1;
    $("count").textContent = String(received);
    $("count-unit").textContent = received === 1 ? "event" : "events";
    $("last").textContent = e.event;
    $("events").classList.add("live");
    // Re-trigger the CSS animation: removing the class alone does not restart it.
    const pulse = $("pulse");
    pulse.classList.remove("beat");
    void pulse.offsetWidth;
    pulse.classList.add("beat");
  }

  // Payloads come from another page: read only the fields we know, as text.
  function onTick(e) {
    heard(e);
    const p = e.payload || {};
    if (typeof p.name === "string") $("name").textContent = p.name;
    const next = $("next");
    if (p.next && typeof p.next.title === "string") {
      const tag = Object.assign(document.createElement("span"), { className: "tag", textContent: "Next" });
      const what = Object.assign(document.createElement("strong"), { textContent: `${p.next.time} ${p.next.title}` });
      next.replaceChildren(tag, what);
    } else {
      next.textContent = "Nothing more on today's schedule";
    }
  }

  BoardTime.every(1000, (now) => {
    $("clock").textContent = BoardTime.hms(now);
  });

  (async () => {
    try {
      await vitrine.listen("board-tick", onTick);
      await vitrine.listen("toast", heard);
      console.log("status bar ready");
    } catch (e) {
      // Nothing will arrive; say so on the bar rather than show a silent zero.
      $("events").classList.add("error");
      $("events").title = `${e.code}: ${e.message}`;
      $("refused").textContent = `listen refused: ${e.code}`;
      $("refused").hidden = false;
      console.error(`status bar cannot listen: ${e.code}: ${e.message}`);
    }
  })();
})();

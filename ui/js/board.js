"use strict";
// The board is the only surface with commands beyond listening: it reads app info,
// shows and hides overlays, and feeds the overlays through events.
(() => {
  const STATUS = "status"; // label of the status overlay in vitrine.toml
  const NOTICE_EVERY_MS = 15000;
  const TICK_EVERY_MS = 30000;

  const $ = (id) => document.getElementById(id);
  const agenda = Array.from($("agenda").children);
  const notices = Array.from($("notices").children);
  let appName = document.title;
  let notice = 0;

  // Rejections from the core are {code, message}; anything else is a bug of ours.
  const describe = (e) => (e && e.code ? `${e.code}: ${e.message}` : String(e));

  function feedback(text, tone = "") {
    const line = $("feedback");
    line.textContent = text;
    line.className = `feedback ${tone}`;
  }

  // Toasts go to every surface that listens (the toast overlay shows them, the status
  // bar counts them). An error is also written on the board itself, so that it is seen
  // even when the toast overlay is missing or not allowed to hear it.
  async function toast(title, message, tone = "info") {
    try {
      const { delivered } = await vitrine.emit("toast", { title, message, tone });
      if (tone === "error") feedback(`${title} — ${message}`, "error");
      else if (delivered === 0) feedback(`${title} — ${message} (no surface is listening for toasts)`, tone);
      return delivered;
    } catch (e) {
      feedback(`${title} — ${message} · the toast could not be sent: ${describe(e)}`, "error");
      return 0;
    }
  }

  function fail(what, e) {
    console.warn(`${what} failed: ${describe(e)}`);
    return toast(`${what} failed`, describe(e), "error");
  }

  // --- Clock and schedule -------------------------------------------------------

  function renderClock(now) {
    const [hh, mm] = BoardTime.hm(now).split(":");
    $("clock").textContent = `${hh}:${mm}`;
    $("seconds").textContent = String(now.getSeconds()).padStart(2, "0");
    $("date").textContent = BoardTime.date(now);
    $("greeting").textContent = greeting(now.getHours());
  }

  function greeting(hour) {
    if (hour < 5) return "Good night";
    if (hour < 12) return "Good morning";
    return hour < 18 ? "Good afternoon" : "Good evening";
  }

  const titleOf = (li) => li.querySelector(".what").firstChild.textContent.trim();

  // When the day is longer than the tile, what is over scrolls away first.
  function keepInView(item) {
    const list = $("agenda");
    const room = list.scrollHeight - list.clientHeight;
    const top = Math.min(item.offsetTop - list.offsetTop, room);
    list.scrollTop = top; // scrolls smoothly, so list.scrollTop is not there yet
    list.classList.toggle("more", top < room - 1);
  }

  function untilText(minutes) {
    if (minutes < 1) return "starting now";
    const h = Math.floor(minutes / 60);
    const m = minutes % 60;
    return `in ${h ? `${h} h ` : ""}${m} min`;
  }

  // Marks what is over, what is on now and what comes next; returns the next item.
  function renderAgenda(now) {
    const t = BoardTime.minutesOfDay(now);
    const starts = agenda.map((li) => BoardTime.minutes(li.dataset.start));
    const nextIdx = starts.findIndex((s) => s > t);
    const nowIdx = (nextIdx === -1 ? agenda.length : nextIdx) - 1;
    agenda.forEach((li, i) => {
      li.classList.toggle("past", i < nowIdx);
      li.classList.toggle("now", i === nowIdx);
      li.classList.toggle("next", i === nextIdx);
      if (i === nowIdx) li.dataset.badge = "Now";
      else if (i === nextIdx) li.dataset.badge = "Next";
      else delete li.dataset.badge;
    });
    keepInView(agenda[Math.max(nowIdx, 0)]);
    const left = nextIdx === -1 ? 0 : agenda.length - nextIdx;
    $("schedule-summary").textContent = left ? `${left} still to come` : "That's all for today";

    const next = nextIdx === -1 ? null : agenda[nextIdx];
    $("up-time").textContent = next ? next.dataset.start : "—";
    $("up-title").textContent = next ? titleOf(next) : "Nothing more today";
    $("up-in").textContent = next ? untilText(starts[nextIdx] - t) : "See you tomorrow";
    return next;
  }

  // --- Notices ------------------------------------------------------------------

  // Restarted when a notice is sent, so that the tile keeps showing the one just toasted.
  let rotation;
  function rotateNotices() {
    clearInterval(rotation);
    rotation = setInterval(() => showNotice(notice + 1), NOTICE_EVERY_MS);
  }

  function showNotice(i) {
    notice = (i + notices.length) % notices.length;
    notices.forEach((n, j) => n.classList.toggle("current", j === notice));
    Array.from($("pager").children).forEach((p, j) => p.classList.toggle("current", j === notice));
  }

  // --- Status bar feed ----------------------------------------------------------

  // The status bar may not ask the core anything, so the board tells it what is next.
  let lastTickError = "";
  async function tick() {
    const next = renderAgenda(new Date());
    const payload = {
      name: appName,
      next: next && { time: next.dataset.start, title: titleOf(next) },
    };
    try {
      const { delivered } = await vitrine.emit("board-tick", payload, { to: STATUS });
      lastTickError = "";
      return delivered;
    } catch (e) {
      // Said once, not every 30 s.
      if (describe(e) !== lastTickError) fail("Status bar update", e);
      lastTickError = describe(e);
      return -1;
    }
  }

  // The status overlay loads in its own process and may subscribe after the board is
  // up: repeat the first tick until the core reports it delivered.
  async function firstTick(tries = 40) {
    const delivered = await tick();
    if (delivered === 0 && tries > 1) setTimeout(() => firstTick(tries - 1), 250);
    else setTimeout(function again() {
      tick();
      setTimeout(again, TICK_EVERY_MS);
    }, TICK_EVERY_MS);
  }

  // --- Buttons ------------------------------------------------------------------

  // One call at a time per button, and a short settle after it: on a touch screen a
  // double tap is one tap, and must not hide the status bar and show it again.
  const SETTLE_MS = 400;
  function onTap(button, what, run) {
    let busy = false;
    let doneAt = 0;
    button.addEventListener("click", async () => {
      if (busy || Date.now() - doneAt < SETTLE_MS) return;
      busy = true;
      button.setAttribute("aria-busy", "true");
      try {
        await run();
      } catch (e) {
        await fail(what, e);
      } finally {
        busy = false;
        doneAt = Date.now();
        button.removeAttribute("aria-busy");
      }
    });
  }

  function reflectStatus(visible) {
    $("toggle-status").setAttribute("aria-pressed", String(visible));
    $("toggle-status-label").textContent = visible ? "Hide status bar" : "Show status bar";
  }

  // Ask the core each time: it alone knows whether the overlay is shown.
  async function statusVisible() {
    const surfaces = await vitrine.invoke("window.list");
    const bar = surfaces.find((s) => s.label === STATUS);
    if (!bar) throw { code: "not_found", message: `this kiosk has no '${STATUS}' overlay` };
    return bar.visible;
  }

  onTap($("show-notice"), "Show notice", async () => {
    const article = notices[notice];
    rotateNotices();
    const title = article.querySelector("h2").textContent;
    const n = await toast(title, article.querySelector("p").textContent, article.dataset.tone || "info");
    if (n > 0) feedback(`Sent “${title}” to ${n} surface${n === 1 ? "" : "s"}.`);
  });

  onTap($("toggle-status"), "Toggling the status bar", async () => {
    const visible = await statusVisible();
    await vitrine.invoke(visible ? "window.hide" : "window.show", { label: STATUS });
    reflectStatus(!visible);
    feedback(visible ? "Status bar hidden; it keeps running and counting." : "Status bar shown.");
  });

  onTap($("about"), "About", async () => {
    const info = await vitrine.invoke("app.info");
    await toast(info.name, `Vitrine ${info.version} · surfaces: ${info.surfaces.join(", ")}`, "info");
    feedback(`${info.name} runs on Vitrine ${info.version}.`);
  });

  // --- Start --------------------------------------------------------------------

  notices.forEach(() => $("pager").appendChild(document.createElement("span")));
  showNotice(0);
  rotateNotices();
  BoardTime.every(1000, (now) => {
    renderClock(now);
    if (now.getSeconds() === 0) renderAgenda(now);
  });
  renderAgenda(new Date());
  window.addEventListener("resize", () => renderAgenda(new Date()));

  (async () => {
    try {
      const info = await vitrine.invoke("app.info");
      appName = info.name;
      $("welcome-title").textContent = `Welcome to ${info.name}`;
      $("surface-count").textContent = String(info.surfaces.length);
      const chip = (label) => Object.assign(document.createElement("span"), { className: "chip", textContent: label });
      $("surfaces").replaceChildren(...info.surfaces.map(chip));
    } catch (e) {
      fail("Reading app info", e);
    }
    try {
      reflectStatus(await statusVisible());
    } catch (e) {
      fail("Reading the status bar's state", e);
    }
    firstTick();
    console.log(`board ready: ${appName}`);
  })();
})();

// Vitrine's on-screen keyboard page. The core sends it the layouts and, on each show,
// the field's pad; each press goes to the core as `keyboard.key`, which types it into
// the surface the keyboard is shown for as key events. Nothing typed is ever written
// to the console (the console reaches the core's log) or kept here.
(function () {
  "use strict";
  const NUMERIC = [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["-", "0", "."]];
  const TEL = [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "#"]];
  const LONG_PRESS_MS = 450;

  let layouts = [];
  let layoutIndex = 0;
  let page = "letters";
  let shift = 0; // 0 off, 1 the next letter, 2 caps lock
  let field = { pad: "text", secret: false, multiline: false };
  let pressTimer = null;
  let pressed = null;
  let longOpened = false;
  let downOnAccent = false;
  let popupFor = null;
  let root, accents, preview;

  function call(cmd, args) {
    if (window.vitrine) window.vitrine.invoke(cmd, args).catch(function () {});
  }

  function upper(c) {
    const u = c.toUpperCase();
    return u.length === 1 ? u : c;
  }

  function key(spec) {
    const el = document.createElement("div");
    el.className = "key" + (spec.cls ? " " + spec.cls : "");
    el.dataset.key = spec.id;
    if (spec.text !== undefined) el.dataset.text = spec.text;
    if (spec.name) el.dataset.name = spec.name;
    el.textContent = spec.label !== undefined ? spec.label : spec.text;
    return el;
  }

  function textKey(c) {
    const t = page === "letters" && shift ? upper(c) : c;
    return { id: t, text: t };
  }

  const SPECIAL = {
    shift: function () { return { id: "Shift", label: shift === 2 ? "⇪" : "⇧", cls: "special wide" + (shift ? " on" : "") }; },
    back: function () { return { id: "BackSpace", name: "BackSpace", label: "⌫", cls: "special wide" }; },
    tab: function () { return { id: "Tab", name: "Tab", label: "⇥", cls: "special" }; },
    enter: function () { return { id: "Return", name: "Return", label: field.multiline ? "↵" : "⏎", cls: "special wide enter" }; },
    space: function () { return { id: "Space", text: " ", label: "", cls: "space" }; },
    hide: function () { return { id: "Hide", label: "▾", cls: "special" }; },
    symbols: function () { return { id: "Symbols", label: "?123", cls: "special wide" }; },
    letters: function () { return { id: "Letters", label: "ABC", cls: "special wide" }; },
  };

  function rows() {
    const layout = layouts[layoutIndex];
    if (field.pad === "numeric" || field.pad === "tel") {
      const grid = (field.pad === "tel" ? TEL : NUMERIC).map(function (r) { return r.map(function (c) { return { id: c, text: c }; }); });
      const last = [SPECIAL.back(), SPECIAL.tab(), SPECIAL.enter(), SPECIAL.hide()];
      if (field.pad === "tel") last.unshift({ id: "+", text: "+" });
      return grid.concat([last]);
    }
    if (!layout) return [];
    const source = page === "letters" ? layout.rows : layout.symbols;
    const out = source.map(function (r) { return r.map(textKey); });
    if (page === "letters") {
      out[2].unshift(SPECIAL.shift());
      out[2].push(SPECIAL.back());
      const bottom = [SPECIAL.symbols()];
      if (layouts.length > 1) bottom.push({ id: "Layout", label: layout.label, cls: "special" });
      bottom.push({ id: ",", text: "," }, SPECIAL.space(), { id: ".", text: "." }, SPECIAL.tab(), SPECIAL.enter(), SPECIAL.hide());
      out.push(bottom);
    } else {
      out[2].push(SPECIAL.back());
      out.push([SPECIAL.letters(), SPECIAL.space(), SPECIAL.tab(), SPECIAL.enter(), SPECIAL.hide()]);
    }
    return out;
  }

  function render() {
    closeAccents();
    root.className = "pad-" + field.pad;
    root.textContent = "";
    rows().forEach(function (r) {
      const row = document.createElement("div");
      row.className = "row";
      r.forEach(function (spec) { row.appendChild(key(spec)); });
      root.appendChild(row);
    });
    report();
  }

  // Where each key is, for the core (tools and tests find keys from it).
  function report() {
    setTimeout(function () {
      const keys = [];
      document.querySelectorAll(".key").forEach(function (el) {
        if (el.closest("[hidden]")) return;
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) keys.push({ id: el.dataset.key, x: r.left, y: r.top, w: r.width, h: r.height });
      });
      call("keyboard.keys", { keys: keys });
    }, 30);
  }

  function openAccents(el) {
    const layout = layouts[layoutIndex];
    const base = (el.dataset.text || "").toLowerCase();
    const list = layout && layout.accents && layout.accents[base];
    if (!list || field.pad !== "text") return false;
    accents.textContent = "";
    list.forEach(function (c) {
      const t = shift ? upper(c) : c;
      accents.appendChild(key({ id: t, text: t }));
    });
    accents.hidden = false;
    const r = el.getBoundingClientRect();
    const size = accents.getBoundingClientRect();
    accents.style.left = Math.max(0, Math.min(window.innerWidth - size.width, r.left)) + "px";
    // Above the key, or below it in the top row: never over the key held, where the
    // release would pick an accent nobody chose.
    const above = r.top - size.height - 4;
    accents.style.top = (above >= 0 ? above : Math.min(window.innerHeight - size.height, r.bottom + 4)) + "px";
    popupFor = el;
    report();
    return true;
  }

  function closeAccents() {
    if (!accents || accents.hidden) return;
    accents.hidden = true;
    popupFor = null;
    report();
  }

  function showPreview(el) {
    // Never for a password: what is typed there is not shown anywhere.
    if (field.secret || el.dataset.text === undefined || el.dataset.text === " ") return;
    const r = el.getBoundingClientRect();
    preview.textContent = el.dataset.text;
    preview.hidden = false;
    preview.style.left = r.left + "px";
    preview.style.top = Math.max(0, r.top - preview.getBoundingClientRect().height - 4) + "px";
  }

  function activate(el) {
    const id = el.dataset.key;
    if (el.dataset.text !== undefined) {
      call("keyboard.key", { text: el.dataset.text });
      if (shift === 1 && page === "letters") {
        shift = 0;
        render();
      }
      return;
    }
    if (el.dataset.name) {
      call("keyboard.key", { key: el.dataset.name });
      return;
    }
    if (id === "Shift") shift = (shift + 1) % 3;
    else if (id === "Symbols") page = "symbols";
    else if (id === "Letters") page = "letters";
    else if (id === "Layout") layoutIndex = (layoutIndex + 1) % layouts.length;
    else if (id === "Hide") return call("keyboard.close", {});
    render();
  }

  function onDown(e) {
    e.preventDefault();
    const el = e.target.closest(".key");
    if (!el) {
      closeAccents();
      return;
    }
    el.classList.add("down");
    downOnAccent = el.parentNode === accents;
    if (downOnAccent) return;
    if (popupFor) closeAccents();
    showPreview(el);
    pressed = el;
    longOpened = false;
    clearTimeout(pressTimer);
    pressTimer = setTimeout(function () {
      preview.hidden = true;
      longOpened = openAccents(el);
    }, LONG_PRESS_MS);
  }

  function onUp(e) {
    e.preventDefault();
    preview.hidden = true;
    document.querySelectorAll(".key.down").forEach(function (k) { k.classList.remove("down"); });
    const el = e.target.closest(".key");
    if (el && el.parentNode === accents) {
      // A tap on an accent, or a long press slid onto one.
      if (downOnAccent || longOpened) {
        activate(el);
        closeAccents();
      }
      downOnAccent = false;
      longOpened = false;
      return;
    }
    clearTimeout(pressTimer);
    const was = pressed;
    pressed = null;
    // A long press that opened the accents waits for one of them to be tapped.
    if (longOpened || !el || el !== was) return;
    activate(el);
  }

  window.vitrineKeyboard = Object.freeze({
    configure: function (setup) {
      layouts = setup.layouts || [];
      layoutIndex = 0;
      const theme = setup.theme || {};
      Object.keys(theme).forEach(function (name) { document.documentElement.style.setProperty(name, theme[name]); });
      render();
    },
    show: function (f) {
      field = f;
      page = "letters";
      shift = 0;
      render();
    },
    hide: function () {
      closeAccents();
      preview.hidden = true;
    },
  });

  document.addEventListener("DOMContentLoaded", function () {
    root = document.getElementById("keyboard");
    accents = document.getElementById("accents");
    preview = document.getElementById("preview");
    document.addEventListener("pointerdown", onDown);
    document.addEventListener("pointerup", onUp);
    document.addEventListener("pointercancel", function () {
      clearTimeout(pressTimer);
      pressed = null;
      preview.hidden = true;
    });
    window.addEventListener("resize", report);
    call("keyboard.ready", {});
  });
})();

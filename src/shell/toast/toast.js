// The core's toast overlay: shows notifications when no notification server runs.
// The core calls window.vitrineToast.show(toast); the page tells the core its height
// ("toast.layout", so the overlay covers only the toasts and hides when there are none)
// and which action was clicked ("toast.action"). These two calls are the core's own,
// handled before any capability check; this page can invoke nothing else.
(function () {
  "use strict";
  const DEFAULT_MS = 6000;
  const MAX_SHOWN = 4;
  let stack = null;

  function report() {
    const height = stack && stack.children.length ? Math.ceil(stack.getBoundingClientRect().height) : 0;
    window.vitrine.invoke("toast.layout", { height: height }).catch(function () {});
  }

  function remove(el) {
    if (el.parentNode) {
      el.parentNode.removeChild(el);
      report();
    }
  }

  function act(toast, action, el) {
    console.info("vitrine: toast " + toast.id + " action " + action);
    window.vitrine.invoke("toast.action", { id: toast.id, action: action }).catch(function () {});
    remove(el);
  }

  function text(tag, cls, value) {
    const el = document.createElement(tag);
    el.className = cls;
    el.textContent = value;
    return el;
  }

  function show(toast) {
    if (!stack) return;
    const el = document.createElement("div");
    el.className = "toast " + toast.urgency;
    el.dataset.id = String(toast.id);
    // An icon that names a file of the app's ui/ folder is shown; theme names are not.
    if (/^[\w\-./]+\.(png|svg|jpe?g|webp)$/i.test(toast.icon || "")) {
      const img = document.createElement("img");
      img.alt = "";
      img.src = "/" + toast.icon.replace(/^\/+/, "");
      img.onerror = function () {
        img.remove();
      };
      el.appendChild(img);
    }
    el.appendChild(text("div", "title", toast.title));
    const close = text("button", "close", "\u00d7");
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", function (e) {
      e.stopPropagation();
      remove(el);
    });
    el.appendChild(close);
    if (toast.body) el.appendChild(text("div", "body", toast.body));
    const buttons = (toast.actions || []).filter(function (a) {
      return a.id !== "default";
    });
    if (buttons.length) {
      const row = document.createElement("div");
      row.className = "actions";
      buttons.forEach(function (a) {
        const b = text("button", "", a.label);
        b.addEventListener("click", function (e) {
          e.stopPropagation();
          act(toast, a.id, el);
        });
        row.appendChild(b);
      });
      el.appendChild(row);
    }
    // A click on the toast itself is the "default" action, as on desktops.
    if ((toast.actions || []).some(function (a) { return a.id === "default"; })) {
      el.classList.add("clickable");
      el.addEventListener("click", function () {
        act(toast, "default", el);
      });
    }
    // Critical toasts and timeout 0 stay until dismissed.
    const persistent = toast.timeout === 0 || (toast.timeout < 0 && toast.urgency === "critical");
    if (!persistent) {
      setTimeout(function () {
        remove(el);
      }, toast.timeout > 0 ? toast.timeout : DEFAULT_MS);
    }
    stack.appendChild(el);
    while (stack.children.length > MAX_SHOWN) stack.removeChild(stack.firstChild);
    report();
    console.info("vitrine: toast " + toast.id + " shown: " + toast.title);
  }

  Object.defineProperty(window, "vitrineToast", { value: Object.freeze({ show: show }) });
  window.addEventListener("DOMContentLoaded", function () {
    stack = document.getElementById("stack");
    // Ready: the core sends what waited and hides the (empty) overlay.
    report();
  });
})();

// Vitrine's page bridge: defines window.vitrine and forwards the console to the core.
// Injected by the core into each document of a surface's top frame before any page
// script runs; the core fills in the document's token, which every call carries, and
// its number, which every script from the core names (see docs/ipc.md).
(function () {
  "use strict";
  if (window.__vitrine_bridge) return;
  // Everything the token passes through, and the parsers, are taken now, before the
  // page can replace them: later, the page may redefine window.fetch, window.webkit,
  // window.ipc, the handler's methods or JSON, and see nothing of ours.
  const webkit = window.webkit;
  const handler = webkit && webkit.messageHandlers && webkit.messageHandlers.ipc;
  if (!handler) return;
  const postMessage = handler.postMessage.bind(handler);
  const fetchNative = window.fetch;
  const stringify = JSON.stringify;
  const parse = JSON.parse;

  const TOKEN = "__VITRINE_TOKEN__";
  const DOCUMENT = __VITRINE_DOCUMENT__;
  const IPC_URL = "app://localhost/__vitrine/ipc";
  // JSON arguments at least this long go by fetch; smaller ones by postMessage, which
  // is faster for small messages on WebKitGTK (measured by the ipc benchmark).
  const FETCH_MIN = __VITRINE_FETCH_MIN__;
  const post = function (frame) {
    postMessage(TOKEN + frame);
  };
  const pending = new Map();
  const handlers = new Map();
  let nextId = 1;
  // fetch reaches the core only from its own origin; remote pages use postMessage.
  let fetchUsable = location.protocol === "app:";

  function isBytes(value) {
    return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
  }

  function toBase64(value) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    // Native where the engine has it (WebKitGTK 2.50 does): far faster than the loop.
    if (bytes.toBase64) return bytes.toBase64();
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  function fromBase64(text) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text).buffer;
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function viaPost(cmd, body, binary) {
    return new Promise(function (resolve, reject) {
      const id = nextId++;
      pending.set(id, { resolve: resolve, reject: reject });
      // "id" first: the core reads it even from a frame too large to parse.
      post('{"id":' + id + ',"kind":"invoke","cmd":' + stringify(cmd) + (binary ? ',"binary":true' : "") + ',"args":' + body + "}");
    });
  }

  // The core settles a JSON answer by script (faster than a response body) and ends
  // the request with 204; bytes, and refusals before the call is known, are the body.
  function viaFetch(cmd, body, binary) {
    return new Promise(function (resolve, reject) {
      const id = nextId++;
      pending.set(id, { resolve: resolve, reject: reject });
      // No prototype on what carries the token: fetch reads every member of its init
      // dictionary (and asks the headers for an iterator), and a member missing here
      // would otherwise be looked up on Object.prototype, where a page's getter could
      // wait for it.
      const headers = { __proto__: null, "X-Vitrine-Token": TOKEN, "X-Vitrine-Command": cmd, "X-Vitrine-Binary": binary ? "1" : "0", "X-Vitrine-Id": "" + id };
      fetchNative(IPC_URL, { __proto__: null, method: "POST", body: body, headers: headers }).then(
        function (response) {
          if (response.status === 204) return;
          const call = pending.get(id);
          if (!call) return;
          pending.delete(id);
          const type = response.headers.get("Content-Type") || "";
          const read = response.ok && type.indexOf("application/octet-stream") === 0 ? response.arrayBuffer() : response.json();
          read.then(
            function (value) {
              if (response.ok) call.resolve(value);
              else call.reject(value);
            },
            function (e) {
              call.reject({ code: "internal", message: "unreadable answer: " + e });
            }
          );
        },
        function (e) {
          // Blocked before it left (a page CSP without connect-src 'self', say):
          // postMessage from now on.
          if (!pending.has(id)) return;
          pending.delete(id);
          fetchUsable = false;
          forward("warn", ["vitrine: fetch transport unavailable (" + e + "); using postMessage"]);
          const again = binary ? viaPost(cmd, stringify(toBase64(body)), true) : viaPost(cmd, body, false);
          again.then(resolve, reject);
        }
      );
    });
  }

  function invoke(cmd, args) {
    cmd = String(cmd);
    if (isBytes(args)) {
      return fetchUsable ? viaFetch(cmd, args, true) : viaPost(cmd, stringify(toBase64(args)), true);
    }
    let body;
    try {
      body = stringify(args === undefined ? null : args);
    } catch (e) {
      return Promise.reject({ code: "bad_args", message: "arguments cannot be sent: " + e });
    }
    if (body === undefined) {
      return Promise.reject({ code: "bad_args", message: "arguments cannot be sent: not JSON" });
    }
    return fetchUsable && body.length >= FETCH_MIN ? viaFetch(cmd, body, false) : viaPost(cmd, body, false);
  }

  async function listen(event, handler) {
    if (typeof handler !== "function") {
      throw { code: "bad_args", message: "listen needs a handler function" };
    }
    let set = handlers.get(event);
    if (!set) {
      set = new Set();
      handlers.set(event, set);
    }
    const first = set.size === 0;
    set.add(handler);
    if (first) {
      try {
        await invoke("event.listen", { event: event });
      } catch (e) {
        set.delete(handler);
        if (set.size === 0) handlers.delete(event);
        throw e;
      }
    }
    let active = true;
    return async function unlisten() {
      if (!active) return;
      active = false;
      set.delete(handler);
      if (set.size === 0 && handlers.get(event) === set) {
        handlers.delete(event);
        await invoke("event.unlisten", { event: event });
      }
    };
  }

  function emit(event, payload, options) {
    const args = { event: event, payload: payload === undefined ? null : payload };
    if (options && options.to !== undefined) args.to = options.to;
    return invoke("event.emit", args);
  }

  function text(value) {
    if (typeof value === "string") return value;
    if (value instanceof Error) return value.stack ? value + "\n" + value.stack : String(value);
    try {
      const json = stringify(value);
      return json === undefined ? String(value) : json;
    } catch (_) {
      return String(value);
    }
  }

  function forward(level, args) {
    try {
      post(stringify({ kind: "console", level: level, message: Array.prototype.map.call(args, text).join(" ") }));
    } catch (_) {
      // The console must never throw into the page.
    }
  }

  ["debug", "log", "info", "warn", "error"].forEach(function (level) {
    const original = console[level];
    console[level] = function () {
      forward(level, arguments);
      if (original) original.apply(console, arguments);
    };
  });
  window.addEventListener("error", function (e) {
    forward("error", ["uncaught: " + (e.error ? text(e.error) : e.message) + " at " + e.filename + ":" + e.lineno]);
  });
  // Input tells the core someone is using the kiosk (for the idle timeout); once a
  // second at most. Only a person's input counts: events the page dispatches itself
  // are not trusted, and must not keep the kiosk from going idle.
  let lastActivity = 0;
  ["pointerdown", "keydown", "touchstart", "wheel"].forEach(function (type) {
    window.addEventListener(
      type,
      function (e) {
        if (!e.isTrusted) return;
        const now = Date.now();
        if (now - lastActivity < 1000) return;
        lastActivity = now;
        post('{"kind":"activity"}');
      },
      { capture: true, passive: true }
    );
  });
  // The on-screen keyboard follows editable fields (shell/keyboard.rs): the core hears
  // only which kind of field has focus, never what it holds. A page can make no more
  // of this than focusing its own fields does: the core decides what follows.
  const setTimeoutNative = window.setTimeout.bind(window);
  const TEXT_TYPES = { text: 1, search: 1, email: 1, url: 1, tel: 1, password: 1, number: 1 };
  function deepActive() {
    let el = document.activeElement;
    for (let depth = 0; el && depth < 32; depth++) {
      if (el.shadowRoot && el.shadowRoot.activeElement) {
        el = el.shadowRoot.activeElement;
        continue;
      }
      let inner = null;
      try {
        // Same-origin frames only; another origin's frame says nothing.
        inner = (el.tagName === "IFRAME" || el.tagName === "FRAME") && el.contentDocument ? el.contentDocument.activeElement : null;
      } catch (_) {}
      if (!inner || inner === el || inner.tagName === "BODY") break;
      el = inner;
    }
    return el;
  }
  function describe(el) {
    if (!el || el.nodeType !== 1 || el.disabled || el.readOnly) return null;
    const mode = String(el.getAttribute("inputmode") || "").toLowerCase();
    const tag = el.tagName;
    if (tag === "INPUT") {
      const type = String(el.type || "text").toLowerCase();
      return TEXT_TYPES[type] ? { type: type, mode: mode, multi: false } : null;
    }
    if (tag === "TEXTAREA") return { type: "textarea", mode: mode, multi: true };
    if (el.isContentEditable) return { type: "contenteditable", mode: mode, multi: true };
    return null;
  }
  let lastField = "null";
  function reportFocus(force) {
    let field = null;
    try {
      field = describe(deepActive());
    } catch (_) {}
    const text = stringify(field);
    if (text === lastField && !force) return;
    lastField = text;
    post('{"kind":"focus","field":' + text + "}");
  }
  window.addEventListener("focusin", function () { reportFocus(false); }, true);
  // Focus moving between two fields passes through "none": look once it has settled.
  window.addEventListener("focusout", function () { setTimeoutNative(function () { reportFocus(false); }, 0); }, true);
  window.addEventListener("pointerdown", function (e) {
    // A tap on the field that already has focus brings a dismissed keyboard back.
    if (e.isTrusted && lastField !== "null") setTimeoutNative(function () { reportFocus(true); }, 0);
  }, true);
  window.addEventListener(
    "submit",
    function () {
      lastField = "submitted";
      post('{"kind":"focus","field":null}');
    },
    true
  );
  // The viewport shrank for the keyboard: keep the field in what is left of it.
  window.addEventListener("resize", function () {
    try {
      const el = deepActive();
      if (describe(el)) el.scrollIntoView({ block: "nearest" });
    } catch (_) {}
  });
  window.addEventListener("unhandledrejection", function (e) {
    forward("error", ["unhandled rejection: " + text(e.reason)]);
  });

  // Every script from the core names the document it is for, first; what names
  // another one (an answer to the page this one replaced) is dropped.
  const bridge = Object.freeze({
    // One array argument, so that the core's script keeps the shape JavaScriptCore
    // parses fastest (see ipc/script.rs). Kind "t": the value is JSON text (it holds
    // a "__proto__" key, which a literal would have made the prototype).
    reply: function (frame) {
      if (frame[0] !== DOCUMENT) return;
      const id = frame[1], ok = frame[2], value = frame[3], kind = frame[4];
      const call = pending.get(id);
      if (!call) return;
      pending.delete(id);
      if (!ok) call.reject(value);
      else if (kind === "b") call.resolve(fromBase64(value));
      else if (kind === "t") call.resolve(parse(value));
      else call.resolve(value);
    },
    events: function (batch) {
      if (batch[0] !== DOCUMENT) return;
      for (let i = 1; i < batch.length; i++) {
        const frame = typeof batch[i] === "string" ? parse(batch[i]) : batch[i];
        const set = handlers.get(frame.event);
        if (!set) continue;
        Array.from(set).forEach(function (h) {
          try {
            h(frame);
          } catch (e) {
            forward("error", ["listener for '" + frame.event + "' threw: " + text(e)]);
          }
        });
      }
    },
    ping: function () {
      post('{"kind":"beat"}');
    },
    fault: function (frame) {
      if (frame[0] !== DOCUMENT) return;
      const error = frame[1];
      forward("warn", ["vitrine: message rejected: " + error.code + ": " + error.message]);
      window.dispatchEvent(new CustomEvent("vitrine-fault", { detail: error }));
    },
  });

  Object.defineProperty(window, "__vitrine_bridge", { value: bridge });
  Object.defineProperty(window, "vitrine", {
    value: Object.freeze({ invoke: invoke, listen: listen, emit: emit }),
    enumerable: true,
  });
})();

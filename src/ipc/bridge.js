// Vitrine's page bridge: defines window.vitrine and forwards the console to the core.
// Injected by the core into each surface's top frame before any page script runs.
(function () {
  "use strict";
  if (window.__vitrine_bridge || !window.ipc) return;

  const post = window.ipc.postMessage.bind(window.ipc);
  const pending = new Map();
  const handlers = new Map();
  let nextId = 1;

  function invoke(cmd, args) {
    return new Promise(function (resolve, reject) {
      const id = nextId++;
      let body;
      try {
        body = JSON.stringify(args === undefined ? null : args);
      } catch (e) {
        reject({ code: "bad_args", message: "arguments cannot be sent: " + e });
        return;
      }
      if (body === undefined) {
        reject({ code: "bad_args", message: "arguments cannot be sent: not JSON" });
        return;
      }
      pending.set(id, { resolve: resolve, reject: reject });
      // "id" first: the core reads it even from a frame too large to parse.
      post('{"id":' + id + ',"kind":"invoke","cmd":' + JSON.stringify(String(cmd)) + ',"args":' + body + "}");
    });
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
      const json = JSON.stringify(value);
      return json === undefined ? String(value) : json;
    } catch (_) {
      return String(value);
    }
  }

  function forward(level, args) {
    try {
      post(JSON.stringify({ kind: "console", level: level, message: Array.prototype.map.call(args, text).join(" ") }));
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
  window.addEventListener("unhandledrejection", function (e) {
    forward("error", ["unhandled rejection: " + text(e.reason)]);
  });

  const bridge = Object.freeze({
    reply: function (id, ok, value) {
      const call = pending.get(id);
      if (!call) return;
      pending.delete(id);
      if (ok) call.resolve(value);
      else call.reject(value);
    },
    event: function (frame) {
      const set = handlers.get(frame.event);
      if (!set) return;
      Array.from(set).forEach(function (h) {
        try {
          h(frame);
        } catch (e) {
          forward("error", ["listener for '" + frame.event + "' threw: " + text(e)]);
        }
      });
    },
    fault: function (error) {
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

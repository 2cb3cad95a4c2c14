// The floor: the same loop over wry's two transports with no protocol of their own.
// postMessage frames are one tag character and the payload; the Rust side answers with
// evaluate_script("__reply(<JSON>)"). fetch goes to app://localhost/<what>.
"use strict";

let pending = null;
window.__reply = function (value) {
  const resolve = pending;
  pending = null;
  if (resolve) resolve(value);
};

function post(message) {
  return new Promise((resolve) => {
    pending = resolve;
    window.ipc.postMessage(message);
  });
}

async function send(path, body, as) {
  const response = await fetch("app://localhost/" + path, { method: "POST", body: body });
  return as === "bytes" ? response.arrayBuffer() : response.json();
}

const expectSize = (n) => (r) => (r === n ? null : "expected the size " + n + ", got " + describe(r));

const rawOps = {
  "post-echo-json": (c) => {
    const arg = jsonText(c.bytes);
    return { call: () => post("e" + JSON.stringify(arg)), check: expectText(arg.length) };
  },
  "post-echo-json-callfn": (c) => {
    const arg = jsonText(c.bytes);
    return { call: () => post("c" + JSON.stringify(arg)), check: expectText(arg.length) };
  },
  // Upload by fetch, answer by evaluate_script; the (empty) HTTP response is not waited for.
  "fetch-eval-echo-json": (c) => {
    const arg = jsonText(c.bytes);
    return {
      call: () =>
        new Promise((resolve, reject) => {
          pending = resolve;
          fetch("app://localhost/hybrid", { method: "POST", body: JSON.stringify(arg) }).catch(reject);
        }),
      check: expectText(arg.length),
    };
  },
  "fetch-echo-json": (c) => {
    const arg = jsonText(c.bytes);
    return { call: () => send("echo", JSON.stringify(arg), "json"), check: expectText(arg.length) };
  },
  "fetch-echo-bytes": (c) => {
    const arg = byteBuffer(c.bytes);
    return { call: () => send("echo", arg, "bytes"), check: expectBytes(c.bytes) };
  },
  "post-sink-json": (c) => {
    const arg = jsonText(c.bytes);
    return { call: () => post("s" + JSON.stringify(arg)), check: expectSize(c.bytes) };
  },
  "fetch-sink-json": (c) => {
    const arg = jsonText(c.bytes);
    return { call: () => send("sink", JSON.stringify(arg), "json"), check: expectSize(c.bytes) };
  },
  "fetch-sink-bytes": (c) => {
    const arg = byteBuffer(c.bytes);
    return { call: () => send("sink", arg, "json"), check: expectSize(c.bytes) };
  },
  "post-download-json": (c) => ({ call: () => post("d"), check: expectText(c.bytes - 2) }),
  "post-download-json-callfn": (c) => ({ call: () => post("D"), check: expectText(c.bytes - 2) }),
  "post-download-b64": (c) => ({ call: () => post("b"), check: expectBytes(c.bytes) }),
  "fetch-download-json": (c) => ({ call: () => send("download-json", "{}", "json"), check: expectText(c.bytes - 2) }),
  "fetch-download-bytes": (c) => ({ call: () => send("download-bytes", "{}", "bytes"), check: expectBytes(c.bytes) }),
  fanout: (c) => ({
    call: async () => {
      const r = await post({ "": "f", callfn: "h", acked: "k" }[c.variant] + c.listeners);
      await sleep(PLAN.pace_ms);
      return r;
    },
    check: expectSize(c.listeners),
  }),
};

runPlan(
  rawOps,
  () => post("m"),
  () => post("z"),
  (message) => post("x" + message),
);

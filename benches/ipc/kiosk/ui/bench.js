// The Vitrine side: every op goes through window.vitrine, as an app's page would.
// Markers are other commands, which the core's observer tells apart: app.info = the
// next case starts, window.list = all done, bench.failed (unknown) = the run failed.
"use strict";

const vitrineOps = {
  "echo-json": (c) => {
    const arg = jsonText(c.bytes);
    return { call: () => vitrine.invoke("ipc.echo", arg), check: expectText(arg.length) };
  },
  "echo-bytes": (c) => {
    const arg = byteBuffer(c.bytes);
    return { call: () => vitrine.invoke("ipc.echo", arg), check: expectBytes(c.bytes) };
  },
  "sink-json": (c) => {
    const arg = jsonText(c.bytes);
    return {
      call: () => vitrine.invoke("ipc.sink", arg),
      check: (r) => (r && r.kind === "json" ? null : "expected {kind: json}, got " + describe(r)),
    };
  },
  "sink-bytes": (c) => {
    const arg = byteBuffer(c.bytes);
    return {
      call: () => vitrine.invoke("ipc.sink", arg),
      check: (r) => (r && r.length === c.bytes ? null : "expected {length: " + c.bytes + "}, got " + describe(r)),
    };
  },
  // The same payloads as the raw downloads: a JSON string literal of c.bytes, and bytes.
  "download-json": (c) => {
    const args = { length: c.bytes - 2, as: "text" };
    return { call: () => vitrine.invoke("ipc.blob", args), check: expectText(c.bytes - 2) };
  },
  "download-bytes": (c) => {
    const args = { length: c.bytes };
    return { call: () => vitrine.invoke("ipc.blob", args), check: expectBytes(c.bytes) };
  },
  fanout: (c) => {
    const to = PLAN.listeners.slice(0, c.listeners);
    let round = 0;
    return {
      call: async () => {
        const r = await vitrine.emit("bench-fan", round++, { to: to });
        await sleep(PLAN.pace_ms);
        return r;
      },
      check: (r) => (r && r.delivered === c.listeners ? null : "expected {delivered: " + c.listeners + "}, got " + describe(r)),
    };
  },
};

async function listenersReady() {
  for (let tries = 0; tries < 400; tries++) {
    const r = await vitrine.emit("bench-ready", null, { to: PLAN.listeners });
    if (r.delivered === PLAN.listeners.length) return;
    await sleep(25);
  }
  throw new Error("the listener overlays never subscribed");
}

function fail(message) {
  console.error("ipc bench page failed: " + message);
  return vitrine.invoke("bench.failed").catch(() => {});
}

(async () => {
  try {
    await listenersReady();
  } catch (e) {
    return fail(describe(e));
  }
  await runPlan(
    vitrineOps,
    () => vitrine.invoke("app.info"),
    () => vitrine.invoke("window.list"),
    fail,
  );
})();

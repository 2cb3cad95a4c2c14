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
  // No built-in command takes a large argument and answers small except event.emit
  // to an event nobody listens to: it answers {delivered: 0}.
  "sink-json": (c) => {
    const args = { event: "bench-sink", payload: jsonText(c.bytes) };
    return {
      call: () => vitrine.invoke("event.emit", args),
      check: (r) => (r && r.delivered === 0 ? null : "expected {delivered: 0}, got " + describe(r)),
    };
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

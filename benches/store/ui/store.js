// The store bench page. Markers are other commands, which the core's observer tells
// apart: app.info = the next case starts, window.list = all done, bench.failed
// (unknown) = the run failed. Sequential cases are bare `await call()` loops, timed on
// the Rust side as gaps between arrivals.
"use strict";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ECHO = "x".repeat(14); // JSON text "xxxxxxxxxxxxxx": 16 bytes

function describe(value) {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.slice(0, 200);
  } catch (_) {
    return String(value);
  }
}

function fail(message) {
  console.error("store bench page failed: " + message);
  return vitrine.invoke("bench.failed").catch(() => {});
}

const ops = {
  echo: () => ({
    call: () => vitrine.invoke("ipc.echo", ECHO),
    check: (r) => (r === ECHO ? null : "echo: expected the 14-character string, got " + describe(r)),
  }),
  set: (c) => ({
    // A few dozen keys overwritten in turn, small JSON values: a kiosk's settings.
    call: (i) => vitrine.invoke("store.set", { key: "bench.main.seq." + (i % 64), value: { i: i, round: c.round, pad: "x".repeat(32) } }),
    check: (r) => (r === null ? null : "store.set: expected null, got " + describe(r)),
  }),
};

let doneCount = 0;
let doneWaiter = null;

async function overlaysReady() {
  for (let tries = 0; tries < 400; tries++) {
    const r = await vitrine.emit("bench-ready", null, { to: PLAN.overlays });
    if (r.delivered === PLAN.overlays.length) return;
    await sleep(25);
  }
  throw new Error("the overlays never subscribed");
}

async function burst(c) {
  doneCount = 0;
  const overlaysDone = new Promise((resolve) => (doneWaiter = resolve));
  await vitrine.invoke("app.info");
  const r = await vitrine.emit("bench-burst", { round: c.round, n: c.per_overlay }, { to: PLAN.overlays });
  if (!r || r.delivered !== PLAN.overlays.length) throw new Error("burst: the event reached " + describe(r));
  const pending = [];
  for (let i = 0; i < c.main_n; i++) {
    pending.push(vitrine.invoke("store.set", { key: "bench.main." + c.round + "." + i, value: { i: i, pad: "x".repeat(32) } }));
  }
  await Promise.all(pending);
  await vitrine.invoke("ipc.echo", "done");
  await overlaysDone;
  await sleep(PLAN.pace_ms);
}

(async () => {
  try {
    await vitrine.listen("bench-done", () => {
      doneCount++;
      if (doneCount === PLAN.overlays.length && doneWaiter) doneWaiter();
    });
    await overlaysReady();
    for (const c of PLAN.cases) {
      if (c.op === "burst") {
        await burst(c);
        continue;
      }
      const { call, check } = ops[c.op](c);
      await vitrine.invoke("app.info");
      const problem = check(await call(0));
      if (problem) throw new Error(c.id + ": " + problem);
      for (let i = 1; i < c.n; i++) await call(i);
    }
    await vitrine.invoke("window.list");
  } catch (e) {
    await fail(e instanceof Error ? String(e) : describe(e));
  }
})();

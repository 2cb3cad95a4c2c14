// A burst writer: on bench-burst fires its share of store.set calls without awaiting in
// between, then acks with one ipc.echo (the core's observer stamps its arrival) and
// tells the main page it is done.
"use strict";
const me = Math.random().toString(36).slice(2, 8);
(async () => {
  await vitrine.listen("bench-burst", async (e) => {
    const { round, n } = e.payload;
    try {
      const pending = [];
      for (let i = 0; i < n; i++) {
        pending.push(vitrine.invoke("store.set", { key: "bench." + me + "." + round + "." + i, value: { i: i, pad: "x".repeat(32) } }));
      }
      await Promise.all(pending);
      await vitrine.invoke("ipc.echo", "done");
      await vitrine.emit("bench-done", { round: round }, { to: ["main"] });
    } catch (err) {
      console.error("burst writer failed: " + JSON.stringify(err));
      vitrine.invoke("bench.failed").catch(() => {});
    }
  });
  // Subscribed second: once main's probe reaches us, bench-burst is subscribed too.
  await vitrine.listen("bench-ready", () => {});
})();

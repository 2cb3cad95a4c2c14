// A fan-out listener: acknowledges every bench-fan event with one invoke, whose
// arrival the core's observer stamps.
"use strict";
(async () => {
  await vitrine.listen("bench-fan", (e) => {
    vitrine.invoke("ipc.echo", e.payload).catch((err) => console.error("ack failed: " + JSON.stringify(err)));
  });
  // Subscribed second: once the main page's probe reaches every listener here,
  // bench-fan is subscribed too.
  await vitrine.listen("bench-ready", () => {});
})();

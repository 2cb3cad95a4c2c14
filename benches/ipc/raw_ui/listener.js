// A bare fan-out listener: the core evaluates __fan(n); the ack is one postMessage.
"use strict";
window.__fan = function (n) {
  window.ipc.postMessage("a" + n);
};
// The "acked" fan-out variant answers each ack, as Vitrine answers an invoke.
window.__acked = function (n) {};

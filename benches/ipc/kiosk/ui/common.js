// Shared by the Vitrine page and the bare-wry page: the payloads and the case loop.
// Both sides run exactly this loop, so the only difference measured is the transport
// behind each op's `call`.
"use strict";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A string whose JSON text is exactly `bytes` long: plain ASCII, so that neither side
// spends time on escapes.
function jsonText(bytes) {
  const n = Math.max(0, bytes - 2);
  const unit = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
}

function byteBuffer(bytes) {
  const a = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) a[i] = (i * 31) & 255;
  return a.buffer;
}

function expectText(length) {
  return (r) => (typeof r === "string" && r.length === length ? null : "expected a string of " + length + " characters, got " + describe(r));
}

function expectBytes(length) {
  return (r) => (r instanceof ArrayBuffer && r.byteLength === length ? null : "expected an ArrayBuffer of " + length + " bytes, got " + describe(r));
}

function describe(value) {
  if (value instanceof ArrayBuffer) return "ArrayBuffer(" + value.byteLength + ")";
  if (value instanceof Error) return String(value);
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.slice(0, 200);
  } catch (_) {
    return String(value);
  }
}

// Runs every case of PLAN. `mark` tells the Rust side a case starts (it must round
// trip, so that no call of the case can overtake it), `finish` that all are done.
// The first call of each case is checked, so a broken transport cannot pass for a
// fast one; the rest is the bare `await call()` loop the Rust side times.
async function runPlan(ops, mark, finish, fail) {
  try {
    for (const c of PLAN.cases) {
      const make = ops[c.op];
      if (!make) throw new Error("this page has no op '" + c.op + "'");
      const { call, check } = make(c);
      await mark();
      const problem = check(await call());
      if (problem) throw new Error(c.id + ": " + problem);
      for (let i = 1; i < c.n; i++) await call();
    }
    await finish();
  } catch (e) {
    await fail(describe(e));
  }
}

// The page VITRINE_URL names: counts its loads in the store (ci.boots), keeps a value
// from the first one (ci.keep), and says both in the journal (SURFACE=main), where the
// check reads them after the watchdog restart and after a reboot.
(async () => {
  const out = (line) => {
    document.getElementById("out").textContent = line;
    console.log(line);
  };
  try {
    const before = await vitrine.invoke("store.get", { key: "ci.boots" });
    const boots = (typeof before === "number" ? before : 0) + 1;
    await vitrine.invoke("store.set", { key: "ci.boots", value: boots });
    if (boots === 1) await vitrine.invoke("store.set", { key: "ci.keep", value: "kept" });
    const keep = await vitrine.invoke("store.get", { key: "ci.keep" });
    out(`ci-marker boots=${boots} keep=${keep}`);
  } catch (e) {
    out(`ci-marker failed: ${JSON.stringify(e)}`);
  }
})();

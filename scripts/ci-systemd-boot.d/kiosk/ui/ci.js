// Counts this page's starts in the store (ci.boots) and reports what it found, with a
// value the test wrote into the store file directly (ci.direct), to the core's log:
// the line reaches the journal with SURFACE=main.
(async () => {
  try {
    const before = await vitrine.invoke("store.get", { key: "ci.boots" });
    const boots = (typeof before === "number" ? before : 0) + 1;
    await vitrine.invoke("store.set", { key: "ci.boots", value: boots });
    const direct = await vitrine.invoke("store.get", { key: "ci.direct" });
    const line = `ci-boot boots=${boots} direct=${JSON.stringify(direct)}`;
    document.getElementById("out").textContent = line;
    console.log(line);
  } catch (e) {
    console.error(`ci-boot failed: ${JSON.stringify(e)}`);
  }
})();

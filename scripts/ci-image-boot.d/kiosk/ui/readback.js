// After the power cut: how many of ci.p.1, ci.p.2, … are there, in order, with their
// values ("ci-stored N"); a hole or a wrong value ends the count and is named.
(async () => {
  let n = 0;
  let note = "";
  try {
    for (;;) {
      const v = await vitrine.invoke("store.get", { key: `ci.p.${n + 1}` });
      if (v === null || v === undefined) break;
      if (v !== n + 1) {
        note = ` wrong value at ${n + 1}: ${JSON.stringify(v)}`;
        break;
      }
      n++;
    }
  } catch (e) {
    note = ` error ${JSON.stringify(e)}`;
  }
  console.log(`ci-stored ${n}${note}`);
  document.getElementById("out").textContent = `stored ${n}${note}`;
})();

// The power-cut test: sets ci.p.1, ci.p.2, … one after another, each awaited, and logs
// every acknowledgement ("ci-ack N"); the host cuts the power once it has seen enough.
(async () => {
  for (let i = 1; i <= 100000; i++) {
    try {
      await vitrine.invoke("store.set", { key: `ci.p.${i}`, value: i });
    } catch (e) {
      console.log(`ci-ack-failed ${i} ${JSON.stringify(e)}`);
      return;
    }
    console.log(`ci-ack ${i}`);
    document.getElementById("out").textContent = `acknowledged ${i}`;
  }
})();

// Fills the details from the query string the core put on the URL.
window.addEventListener("DOMContentLoaded", function () {
  const params = new URLSearchParams(location.search);
  document.querySelectorAll("[data-fill]").forEach(function (el) {
    const value = params.get(el.getAttribute("data-fill"));
    if (value) el.textContent = value;
  });
  console.info("vitrine: showing " + document.body.className + " page for " + params.get("surface"));
});

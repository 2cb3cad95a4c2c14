// The core's file picker (file_chooser = "media"): the core calls
// window.vitrinePicker.show(names) with the files the asking page may read; a tap
// answers "picker.choose" with the file's index, Cancel answers "picker.cancel". These
// calls are the core's own, handled before any capability check.
(function () {
  "use strict";
  function answer(cmd, args) {
    window.vitrine.invoke(cmd, args).catch(function () {});
  }
  function show(names) {
    const list = document.getElementById("list");
    list.textContent = "";
    if (!names.length) {
      const p = document.createElement("p");
      p.textContent = "No files to choose from.";
      list.appendChild(p);
    }
    names.forEach(function (name, index) {
      const b = document.createElement("button");
      b.textContent = name.replace(/^\$MEDIA\//, "");
      b.addEventListener("click", function () {
        answer("picker.choose", { index: index });
      });
      list.appendChild(b);
    });
    console.info("vitrine: picker shows " + names.length + " files");
  }
  Object.defineProperty(window, "vitrinePicker", { value: Object.freeze({ show: show }) });
  addEventListener("DOMContentLoaded", function () {
    document.getElementById("cancel").addEventListener("click", function () {
      answer("picker.cancel", {});
    });
  });
})();

// While an audit runs, reload its page every few seconds so its progress and then its results
// show; stop once the reader starts filling in a form (nothing typed is lost).
(function () {
  "use strict";
  var holder = document.querySelector("[data-audit-refresh]");
  if (!holder) {
    return;
  }
  var seconds = Number(holder.getAttribute("data-audit-refresh")) || 3;
  var paused = false;
  function pause(event) {
    var target = event.target;
    if (target && target.closest && target.closest("form") && !target.closest("form[method=get]")) {
      paused = true;
      var notes = document.querySelectorAll("[data-audit-refresh-note]");
      for (var i = 0; i < notes.length; i++) {
        notes[i].textContent = holder.getAttribute("data-audit-paused") || notes[i].textContent;
      }
    }
  }
  document.addEventListener("input", pause, true);
  document.addEventListener("focusin", pause, true);
  window.setTimeout(function tick() {
    if (paused) {
      return;
    }
    window.location.reload();
  }, seconds * 1000);
}());

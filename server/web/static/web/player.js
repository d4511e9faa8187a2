/* The clip page's player: the filmstrip's frames, the obstruction list and the obstruction bar
   seek the review copy; a playhead on the bar follows playback. No inline script (CSP). */
(function () {
  "use strict";
  var player = document.getElementById("player");
  if (!player) { return; }
  var bar = document.getElementById("obstruction-bar");
  var playhead = document.getElementById("playhead");
  var tiles = Array.prototype.slice.call(document.querySelectorAll(".filmstrip .tile"));
  var declared = parseFloat(player.getAttribute("data-duration"));

  function duration() {
    if (isFinite(player.duration) && player.duration > 0) { return player.duration; }
    return isFinite(declared) && declared > 0 ? declared : 0;
  }

  function seek(seconds) {
    var total = duration();
    if (total) { seconds = Math.min(Math.max(seconds, 0), Math.max(total - 0.05, 0)); }
    player.currentTime = seconds;
    var started = player.play();
    if (started && started.catch) { started.catch(function () { /* autoplay refused: the user presses play */ }); }
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-seek]") : null;
    if (target) {
      event.preventDefault();
      seek(parseFloat(target.getAttribute("data-seek")) || 0);
    }
  });

  if (bar) {
    bar.addEventListener("click", function (event) {
      var box = bar.getBoundingClientRect();
      var total = duration();
      if (!total || box.width <= 0) { return; }
      seek((event.clientX - box.left) / box.width * total);
    });
    bar.addEventListener("keydown", function (event) {
      var step = event.shiftKey ? 1 : 5;
      if (event.key === "ArrowRight") { seek(player.currentTime + step); event.preventDefault(); }
      if (event.key === "ArrowLeft") { seek(player.currentTime - step); event.preventDefault(); }
    });
  }

  function follow() {
    var total = duration();
    if (!total) { return; }
    var share = Math.min(Math.max(player.currentTime / total, 0), 1);
    if (playhead) { playhead.style.left = (share * 100).toFixed(3) + "%"; }
    if (bar) { bar.setAttribute("aria-valuenow", player.currentTime.toFixed(1)); }
    tiles.forEach(function (tile, index) {
      var from = parseFloat(tile.getAttribute("data-seek"));
      var next = index + 1 < tiles.length ? parseFloat(tiles[index + 1].getAttribute("data-seek")) : Infinity;
      tile.classList.toggle("current", player.currentTime >= from && player.currentTime < next);
    });
  }
  player.addEventListener("timeupdate", follow);
  player.addEventListener("seeked", follow);
  player.addEventListener("loadedmetadata", follow);
}());

// The status page's SLA countdown: the business time left until the due time.
// The page gives the open intervals from the moment it was rendered to the due time
// (data-intervals, milliseconds since the epoch); only time inside them counts, so
// the countdown stands still outside business hours and goes on at the next opening.
// Without script the text the server rendered stands.
(function () {
  "use strict";

  function left(intervals, now) {
    var total = 0;
    for (var i = 0; i < intervals.length; i++) {
      var start = Math.max(intervals[i][0], now);
      if (intervals[i][1] > start) total += intervals[i][1] - start;
    }
    return Math.floor(total / 1000);
  }

  function inside(intervals, now) {
    for (var i = 0; i < intervals.length; i++) {
      if (intervals[i][0] <= now && now < intervals[i][1]) return true;
    }
    return false;
  }

  function show(element, intervals) {
    var now = Date.now();
    var seconds = left(intervals, now);
    var text = element.dataset.format
      .replace("{hours}", String(Math.floor(seconds / 3600)))
      .replace("{minutes}", String(Math.floor((seconds % 3600) / 60)))
      .replace("{seconds}", String(seconds % 60));
    var shown = element.querySelector(".left");
    var state = element.querySelector(".state");
    if (shown && shown.textContent !== text) shown.textContent = text;
    var running = inside(intervals, now);
    var said = running ? element.dataset.running : element.dataset.stopped;
    if (state && state.textContent !== said) state.textContent = said;
    element.classList.toggle("running", running);
  }

  function start() {
    var elements = document.querySelectorAll(".expectation .countdown[data-intervals]");
    Array.prototype.forEach.call(elements, function (element) {
      var intervals;
      try {
        intervals = JSON.parse(element.dataset.intervals);
      } catch (error) {
        return; // the rendered text stands
      }
      show(element, intervals);
      window.setInterval(function () { show(element, intervals); }, 1000);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

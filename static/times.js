// Times on Tune's pages arrive as <time datetime="…" data-relative> in UTC (readable
// without scripts); this turns each into relative words ("5 min ago", "in 2 h") with
// the viewer's local date and time as its title, and keeps them fresh every minute
// and after every HTMX swap. No inline code, so the strict CSP holds.
(function () {
  "use strict";
  var STEPS = [
    [60, 1, "second"], [3600, 60, "minute"], [86400, 3600, "hour"],
    [604800, 86400, "day"], [2629800, 604800, "week"], [31557600, 2629800, "month"],
    [Infinity, 31557600, "year"]
  ];
  var words = window.Intl && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" }) : null;
  var local = window.Intl
    ? new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }) : null;

  function relative(seconds) {
    var size = Math.abs(seconds);
    if (size < 45) { return "just now"; }  // a few seconds either way: clocks differ
    for (var i = 0; i < STEPS.length; i++) {
      if (size < STEPS[i][0]) {
        return words.format(Math.round(seconds / STEPS[i][1]), STEPS[i][2]);
      }
    }
    return "";
  }

  function render(root) {
    if (!words || !local) { return; }
    var now = Date.now();
    var times = (root || document).querySelectorAll("time[data-relative]");
    for (var i = 0; i < times.length; i++) {
      var elt = times[i];
      var moment = Date.parse(elt.getAttribute("datetime"));
      if (isNaN(moment)) { continue; }
      if (!elt.dataset.utc) { elt.dataset.utc = elt.textContent; }
      elt.textContent = relative((moment - now) / 1000);
      elt.title = local.format(new Date(moment));
    }
  }

  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:afterSettle", function () { render(document); });
  document.addEventListener("htmx:oobAfterSwap", function () { render(document); });
  window.setInterval(function () { render(document); }, 60000);
})();

// Tune's own script (no inline scripts anywhere, so the strict CSP holds).
// Live pages hold a Server-Sent Events stream; while it is open, the 5-second
// polling fallback is skipped, so polling only reaches the server when streams fail.
(function () {
  "use strict";
  function liveRoot(elt) { return elt && elt.closest ? elt.closest("[data-live]") : null; }
  document.addEventListener("htmx:sseOpen", function (event) {
    var root = liveRoot(event.target);
    if (root) { root.dataset.stream = "open"; }
  });
  document.addEventListener("htmx:sseError", function (event) {
    var root = liveRoot(event.target);
    if (root) { root.dataset.stream = "down"; }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.hasAttribute("data-live-poll")) { return; }
    var root = liveRoot(elt);
    if (root && root.dataset.stream === "open") { event.preventDefault(); }
  });
})();

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
  // Each live update carries the campaign's activity version; when it moves, lists that
  // depend on the rep's own filters (the tier lists) re-fetch themselves ("tune:activity").
  var seenVersion = null;
  function checkVersion() {
    var marker = document.getElementById("live-version");
    if (!marker) { return; }
    var version = marker.getAttribute("data-version");
    if (seenVersion !== null && version !== seenVersion) {
      document.body.dispatchEvent(new CustomEvent("tune:activity", { bubbles: true }));
    }
    seenVersion = version;
  }
  document.addEventListener("DOMContentLoaded", checkVersion);
  document.addEventListener("htmx:oobAfterSwap", checkVersion);
  document.addEventListener("htmx:afterSettle", checkVersion);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.hasAttribute("data-live-poll")) { return; }
    var root = liveRoot(elt);
    if (root && root.dataset.stream === "open") { event.preventDefault(); }
  });
})();

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

// The template editor: merge fields inserted at the cursor, and line numbers beside the body.
(function () {
  "use strict";
  var lastField = {};
  document.addEventListener("focusin", function (event) {
    var elt = event.target;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-merge-target") && elt.form) {
      lastField[elt.form.action] = elt;
    }
  });
  function insertAtCursor(field, text) {
    var start = field.selectionStart, end = field.selectionEnd;
    if (typeof start !== "number") { start = end = field.value.length; }
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.selectionStart = field.selectionEnd = start + text.length;
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select || !select.hasAttribute || !select.hasAttribute("data-merge-for")) { return; }
    var text = select.value;
    select.value = "";
    if (!text) { return; }
    var field = (select.form && lastField[select.form.action]) ||
      document.getElementById(select.getAttribute("data-merge-for"));
    if (field) { insertAtCursor(field, text); }
  });
  function renumber(area) {
    var gutter = document.querySelector('[data-gutter-for="' + area.id + '"]');
    if (!gutter) { return; }
    var lines = Math.max(area.value.split("\n").length, 16);
    if (gutter.dataset.lines !== String(lines)) {
      var numbers = [];
      for (var i = 1; i <= lines; i++) { numbers.push(i); }
      gutter.textContent = numbers.join("\n") + "\n";
      gutter.dataset.lines = String(lines);
    }
    gutter.scrollTop = area.scrollTop;
  }
  document.addEventListener("input", function (event) {
    var area = event.target;
    if (area && area.hasAttribute && area.hasAttribute("data-line-numbers")) { renumber(area); }
  });
  document.addEventListener("scroll", function (event) {
    var area = event.target;
    if (area && area.hasAttribute && area.hasAttribute("data-line-numbers")) { renumber(area); }
  }, true);
})();

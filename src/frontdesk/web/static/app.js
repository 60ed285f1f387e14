// frontdesk pages: live call counts by server-sent events (no reload), nothing else global.
(function () {
  "use strict";
  function start() {
    var holder = document.querySelector("[data-live-source]");
    if (!holder || !window.EventSource) { return; }
    var status = document.getElementById("live-status");
    var source = new EventSource(holder.getAttribute("data-live-source"));
    source.onopen = function () { if (status) { status.textContent = "live"; } };
    source.onerror = function () { if (status) { status.textContent = "reconnecting…"; } };
    source.onmessage = function (event) {
      var counts = JSON.parse(event.data);
      document.querySelectorAll("[data-live-count]").forEach(function (cell) {
        var id = cell.getAttribute("data-live-count");
        if (Object.prototype.hasOwnProperty.call(counts, id)) {
          cell.textContent = String(counts[id]);
        }
      });
      document.body.setAttribute("data-live-updates",
        String(Number(document.body.getAttribute("data-live-updates") || "0") + 1));
    };
    window.addEventListener("beforeunload", function () { source.close(); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

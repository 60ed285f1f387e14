// frontdesk pages: live call counts by server-sent events (no reload), and the small
// behaviours the CSP keeps out of the markup (no inline handlers): a <select data-autosubmit>
// submits its form on change.
(function () {
  "use strict";
  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }
  function start() {
    autosubmit();
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

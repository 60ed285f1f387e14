// The ticket inbox: on `event: ticket` from /events/live, fetch the first page's rows again
// (same filters) and swap them in; new rows flash. The organization picker submits itself.
(function () {
  "use strict";
  var refreshing = false;
  var again = false;
  function refresh(table) {
    if (refreshing) { again = true; return; }
    refreshing = true;
    var before = {};
    table.querySelectorAll("tr[data-ticket]").forEach(function (row) {
      before[row.getAttribute("data-ticket")] = true;
    });
    fetch(table.getAttribute("data-rows-url"), { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var holder = document.createElement("table");
        holder.innerHTML = html;
        var body = holder.querySelector("tbody");
        if (!body) { return; }
        body.querySelectorAll("tr[data-ticket]").forEach(function (row) {
          if (!before[row.getAttribute("data-ticket")]) { row.classList.add("fresh"); }
        });
        table.replaceChild(body, table.querySelector("tbody"));
        document.body.setAttribute("data-ticket-updates",
          String(Number(document.body.getAttribute("data-ticket-updates") || "0") + 1));
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(table); }
      });
  }
  function start() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    var table = document.querySelector("table[data-rows-url]");
    var status = document.getElementById("live-status");
    if (!table || !window.EventSource) {
      if (status) { status.textContent = "reload to see new ones"; }
      return;
    }
    var source = new EventSource(table.getAttribute("data-ticket-source"));
    source.onopen = function () {
      if (status) { status.textContent = "live"; }
      document.body.setAttribute("data-tickets-live", "open");
    };
    source.onerror = function () { if (status) { status.textContent = "reconnecting…"; } };
    source.addEventListener("ticket", function () { refresh(table); });
    window.addEventListener("beforeunload", function () { source.close(); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// /operations: the calls-per-day chart, and the live table re-read when /events/live
// reports a change (a file, not an inline script: the CSP allows no inline script).
(function () {
  "use strict";
  function chart() {
    var data = document.getElementById("per-day-data");
    if (!data || !window.Chart) { return; }
    var days = JSON.parse(data.textContent);
    new window.Chart(document.getElementById("per-day"), {
      type: "bar",
      data: {
        labels: days.map(function (d) { return d.day; }),
        datasets: [
          { label: "answered", data: days.map(function (d) { return d.completed; }), backgroundColor: "#3c9a5f" },
          { label: "refused", data: days.map(function (d) { return d.refused; }), backgroundColor: "#c4493f" },
          { label: "other", data: days.map(function (d) { return d.calls - d.completed - d.refused; }), backgroundColor: "#9aa3b0" }
        ]
      },
      options: { animation: false, maintainAspectRatio: false, responsive: true,
                 scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    });
    document.body.setAttribute("data-chart", "drawn");
  }
  function cell(text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text;
    return td;
  }
  function refreshLive() {
    var box = document.getElementById("live");
    fetch(box.getAttribute("data-live-api"), { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (numbers) {
        var body = document.querySelector("#live-table tbody");
        var rows = numbers.map(function (n) {
          var tr = document.createElement("tr");
          tr.setAttribute("data-number", n.number_id);
          tr.appendChild(cell(n.phone_number));
          tr.appendChild(cell(n.label));
          tr.appendChild(cell(n.org));
          var live = cell(String(n.live), "num");
          live.setAttribute("data-live-count", n.number_id);
          tr.appendChild(live);
          tr.appendChild(cell(String(n.max_concurrent_calls), "num"));
          var calls = cell("");
          n.calls.forEach(function (c) {
            var line = document.createElement("div");
            line.textContent = (c.caller || "anonymous") + " · " + new Date(c.started_at).toLocaleTimeString();
            calls.appendChild(line);
          });
          tr.appendChild(calls);
          return tr;
        });
        if (!rows.length) {
          var empty = document.createElement("tr");
          empty.className = "empty";
          var td = cell("No call in progress.", "muted");
          td.colSpan = 6;
          empty.appendChild(td);
          rows.push(empty);
        }
        body.replaceChildren.apply(body, rows);
        document.getElementById("live-total").textContent =
          String(numbers.reduce(function (s, n) { return s + n.live; }, 0));
      })
      .catch(function () { /* the next event tries again */ });
  }
  function start() {
    chart();
    if (document.getElementById("live")) {
      new MutationObserver(refreshLive).observe(document.body, { attributes: true, attributeFilter: ["data-live-updates"] });
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();

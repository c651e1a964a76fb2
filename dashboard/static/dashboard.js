// The dashboard's only script (no inline script: the CSP forbids it). Sortable tables, the
// participation chart, and the login page's wait for its QR code to be scanned.
(function () {
  "use strict";

  function sortable(table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th, column) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var numeric = th.dataset.sort === "number", up = th.dataset.dir !== "up";
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.value || a.cells[column].textContent;
          var y = b.cells[column].dataset.value || b.cells[column].textContent;
          var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y, "zh-CN", {numeric: true});
          return up ? order : -order;
        });
        th.dataset.dir = up ? "up" : "down";
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function chart(canvas) {
    if (!window.Chart) { return; }
    var data = JSON.parse(canvas.dataset.chart);
    new window.Chart(canvas, {
      type: "line",
      data: {labels: data.labels, datasets: [
        {label: "参与率", data: data.rates.map(function (r) { return r * 100; }), tension: 0.2, pointRadius: 0},
        {label: "目标", data: data.labels.map(function () { return data.target * 100; }), borderDash: [4, 4], pointRadius: 0}
      ]},
      options: {animation: false, responsive: true, scales: {y: {min: 0, max: 100, ticks: {callback: function (v) { return v + "%"; }}}}}
    });
  }

  function waitForScan(box) {
    var state = document.getElementById("qr-state"), tries = 0;
    var timer = setInterval(function () {
      tries += 1;
      if (tries > 150) { clearInterval(timer); state.textContent = "二维码已过期，请刷新页面。"; return; }
      fetch(box.dataset.statusUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (answer) {
        if (answer.status === "confirmed") { clearInterval(timer); window.location = answer.next; }
        else if (answer.status === "expired") { clearInterval(timer); state.textContent = "二维码已过期，请刷新页面。"; }
      });
    }, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable").forEach(sortable);
    var canvas = document.getElementById("chart");
    if (canvas) {
      var script = document.createElement("script");
      script.src = document.querySelector("script[src*='dashboard.js']").src.replace("dashboard.js", "vendor/chart-4.6.1.umd.min.js");
      script.onload = function () { chart(canvas); };
      document.head.appendChild(script);
    }
    var box = document.getElementById("qr-login");
    if (box) { waitForScan(box); }
  });
}());

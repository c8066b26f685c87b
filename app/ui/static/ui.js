// The dashboard's only script: the freshness line of the overview and the reason dialog.
// No inline scripts anywhere (the CSP forbids them); htmx does the partial refreshes.
(function () {
  "use strict";

  function clock(date) {
    return date.toTimeString().slice(0, 8);
  }

  var lastGood = new Date();

  function setFreshness(text, stale) {
    var line = document.getElementById("freshness");
    if (!line) return;
    line.textContent = text;
    line.classList.toggle("unreachable", stale);
  }

  function fromCards(event) {
    var target = event.detail && event.detail.elt;
    return target && target.id === "cards";
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    if (fromCards(event) && event.detail.successful) {
      lastGood = new Date();
      setFreshness("Updated " + clock(lastGood), false);
    }
  });

  function unreachable(event) {
    if (fromCards(event)) {
      setFreshness("Service unreachable \u2014 showing data from " + clock(lastGood), true);
    }
  }

  document.addEventListener("htmx:responseError", unreachable);
  document.addEventListener("htmx:sendError", unreachable);
  document.addEventListener("htmx:timeout", unreachable);

  // Buttons with data-action open the reason dialog; its form posts to that action.
  function setupDialog() {
    var dialog = document.getElementById("reason-dialog");
    if (!dialog) return;
    var form = dialog.querySelector("form");
    var title = dialog.querySelector("[data-dialog-title]");
    document.querySelectorAll("button[data-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        form.setAttribute("action", button.getAttribute("data-action"));
        if (title) title.textContent = button.getAttribute("data-title") || "Confirm";
        dialog.showModal();
        var reason = document.getElementById("reason");
        if (reason) reason.focus();
      });
    });
    dialog.querySelectorAll("[data-close]").forEach(function (button) {
      button.addEventListener("click", function () { dialog.close(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setupDialog);
  } else {
    setupDialog();
  }
  if (document.getElementById("freshness")) {
    setFreshness("Updated " + clock(lastGood), false);
  }
})();

// Line charts (uPlot, vendored): each .chart element carries its data in data-chart,
// {"x": [epoch seconds], "series": [{"label", "values", "stroke"}]}.
(function () {
  "use strict";
  function draw(box) {
    var chart = JSON.parse(box.getAttribute("data-chart"));
    var series = [{}].concat(chart.series.map(function (s) {
      return { label: s.label, stroke: s.stroke, width: 2 };
    }));
    var data = [chart.x].concat(chart.series.map(function (s) { return s.values; }));
    new window.uPlot({
      width: Math.max(280, box.clientWidth || 800),
      height: 260,
      series: series,
      axes: [{}, { size: 80 }],
    }, data, box);
  }
  function drawAll() {
    if (typeof window.uPlot === "undefined") return;
    document.querySelectorAll(".chart[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();

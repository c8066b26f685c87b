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

// Line charts (uPlot, vendored): the data sits in the element's data-chart attribute.
(function () {
  "use strict";
  function draw() {
    var box = document.getElementById("series-chart");
    if (!box || typeof window.uPlot === "undefined") return;
    var chart = JSON.parse(box.getAttribute("data-chart"));
    var xs = chart.points.map(function (p) { return p[0]; });
    var ys = chart.points.map(function (p) { return p[1]; });
    var width = Math.max(280, box.clientWidth || 800);
    new window.uPlot({
      width: width,
      height: 300,
      series: [{}, { label: chart.label, stroke: "#0969da", width: 2 }],
      axes: [{}, { size: 80 }],
    }, [xs, ys], box);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

// The CX dashboard's charts: each scale's trend with its 95 % band, drawn with Chart.js (served by
// the app from npm, no CDN) from the page's data block (#koe-data). Without this script the page
// still shows every figure (the cards, the tables and each trend as a table).
(function () {
  "use strict";
  var block = document.getElementById("koe-data");
  if (!block || typeof Chart === "undefined") { return; }
  var data = JSON.parse(block.textContent);
  var words = data.words;
  var colours = { nps: "#1f6feb", csat: "#1a7f37", ces: "#8250df" };
  // A point with fewer answers than the minimum: a large, thick cross in a colour no line uses, so
  // it reads as "a hint, not a result" at a glance (and in the legend).
  var few = { style: "crossRot", radius: 7, width: 2.5, colour: "#bc4c00" };
  // Periods without answers (score null) and without a margin (fewer than 2 answers) are gaps: the
  // line and the 95 % band are never drawn across them (spanGaps false), so no band is invented
  // where there is none.
  data.scales.forEach(function (scale, i) {
    var canvas = document.getElementById("trend-" + scale);
    var s = data.series[i];
    if (!canvas || !s) { return; }
    var colour = colours[scale] || "#1f6feb";
    new Chart(canvas, {
      type: "line",
      data: {
        labels: s.labels,
        datasets: [
          { label: words.band, data: s.upper, borderWidth: 0, pointRadius: 0, fill: false, spanGaps: false },
          { label: words.band, data: s.lower, borderWidth: 0, pointRadius: 0, fill: "-1", spanGaps: false,
            backgroundColor: colour + "22" },
          { label: words.score, data: s.score, borderColor: colour, backgroundColor: colour, spanGaps: false,
            tension: 0.2,
            pointRadius: s.too_few.map(function (f) { return f ? few.radius : 4; }),
            pointHoverRadius: s.too_few.map(function (f) { return f ? few.radius + 2 : 6; }),
            pointBorderWidth: s.too_few.map(function (f) { return f ? few.width : 1; }),
            pointBorderColor: s.too_few.map(function (f) { return f ? few.colour : colour; }),
            pointBackgroundColor: s.too_few.map(function (f) { return f ? few.colour : colour; }),
            pointStyle: s.too_few.map(function (f) { return f ? few.style : "circle"; }) },
          // The legend's key to the crosses (no data of its own).
          { label: words.too_few, data: s.score.map(function () { return null; }), pointStyle: few.style,
            borderColor: few.colour, backgroundColor: few.colour, pointBorderWidth: few.width, showLine: false }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { labels: { usePointStyle: true,
                              filter: function (item) { return item.datasetIndex !== 0; },
                              // The score's key is a dot in its colour, whatever its first point is.
                              generateLabels: function (chart) {
                                var items = Chart.defaults.plugins.legend.labels.generateLabels(chart);
                                items.forEach(function (item) {
                                  if (item.datasetIndex === 2) {
                                    item.pointStyle = "circle";
                                    item.fillStyle = colour;
                                    item.strokeStyle = colour;
                                    item.lineWidth = 1;
                                  }
                                });
                                return items;
                              } } },
          tooltip: {
            filter: function (item) { return item.datasetIndex === 2; },
            callbacks: {
              afterLabel: function (item) {
                var j = item.dataIndex, lo = s.lower[j], hi = s.upper[j];
                var band = (lo === null || hi === null) ? "" : words.band + " " + lo + " – " + hi + "\n";
                return band + words.n + " " + s.n[j] + (s.too_few[j] ? " (" + words.too_few + ")" : "");
              }
            }
          }
        }
      }
    });
  });
  document.documentElement.setAttribute("data-charts", "drawn");
}());

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
          { label: words.band, data: s.upper, borderWidth: 0, pointRadius: 0, fill: false, spanGaps: true },
          { label: words.band, data: s.lower, borderWidth: 0, pointRadius: 0, fill: "-1", spanGaps: true,
            backgroundColor: colour + "22" },
          { label: words.score, data: s.score, borderColor: colour, backgroundColor: colour, spanGaps: true,
            tension: 0.2, pointRadius: s.too_few.map(function (few) { return few ? 2 : 4; }),
            pointStyle: s.too_few.map(function (few) { return few ? "crossRot" : "circle"; }) }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { labels: { filter: function (item) { return item.datasetIndex !== 0; } } },
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

// mpusweep report: draw the plotly figures in the reader's colour scheme, sort and filter
// the uploads table. Nothing here reaches the network.
(function () {
  "use strict";
  var figures = JSON.parse(document.getElementById("figures").textContent);
  var themes = JSON.parse(document.getElementById("themes").textContent);
  var dark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  var config = {
    responsive: true, displayModeBar: false, displaylogo: false, scrollZoom: false,
    showTips: false, typesetMath: false
  };

  function scheme() { return dark && dark.matches ? "dark" : "light"; }

  var narrow = window.matchMedia ? window.matchMedia("(max-width: 560px)") : null;

  function layoutFor(layout, data) {
    var copy = Object.assign({}, layout);
    copy.template = themes[scheme()];
    var short = layout.meta && layout.meta.short_labels;
    if (short && narrow && narrow.matches) {
      // Horizontal bars on a phone: shorter labels leave the bars room.
      copy.yaxis = Object.assign({}, layout.yaxis, {
        tickmode: "array", tickvals: data[0].y, ticktext: short
      });
    }
    return copy;
  }

  Object.keys(figures).forEach(function (id) {
    var element = document.getElementById(id);
    if (!element || !window.Plotly) { return; }
    var figure = figures[id];
    window.Plotly.newPlot(element, figure.data, layoutFor(figure.layout, figure.data), config);
  });

  function restyle() {
    Object.keys(figures).forEach(function (id) {
      var element = document.getElementById(id);
      if (element && element.data) {
        var layout = layoutFor(figures[id].layout, figures[id].data);
        window.Plotly.react(element, element.data, layout, config);
      }
    });
  }
  [dark, narrow].forEach(function (query) {
    if (query && query.addEventListener) { query.addEventListener("change", restyle); }
    else if (query && query.addListener) { query.addListener(restyle); }
  });

  // The uploads table: click a heading to sort (again to reverse); type to filter.
  var table = document.getElementById("table-uploads");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var headings = table.tHead.rows[0].cells;

  function sortBy(index) {
    var heading = headings[index];
    var ascending = heading.getAttribute("aria-sort") !== "ascending";
    var numeric = heading.getAttribute("data-type") === "number";
    var keyed = rows.map(function (row, position) {
      var raw = row.cells[index].getAttribute("data-sort") || "";
      return { row: row, key: numeric ? parseFloat(raw) : raw.toLowerCase(), position: position };
    });
    keyed.sort(function (a, b) {
      var order = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      return (ascending ? order : -order) || a.position - b.position;
    });
    for (var i = 0; i < headings.length; i++) { headings[i].setAttribute("aria-sort", "none"); }
    heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (item) { fragment.appendChild(item.row); });
    body.appendChild(fragment);
    rows = keyed.map(function (item) { return item.row; });
  }
  Array.prototype.forEach.call(headings, function (heading, index) {
    var button = heading.querySelector("button");
    if (button) { button.addEventListener("click", function () { sortBy(index); }); }
  });

  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  function filter() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-search") || "";
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      row.hidden = !match;
      if (match) { count++; }
    });
    shown.textContent = count + " of " + rows.length;
  }
  search.addEventListener("input", filter);
})();

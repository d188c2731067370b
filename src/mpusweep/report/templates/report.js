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
    // The figure's height is fixed; the box keeps it, so that a relayout on a change of width
    // (a phone turned, a window narrowed) never leaves the chart spilling out of its panel.
    if (figure.layout.height) { element.style.height = figure.layout.height + "px"; }
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

  // The uploads table: click a heading to sort (again to reverse); type to filter. Only the
  // first rows matching are shown until "Show all" is pressed: layout is what costs.
  var table = document.getElementById("table-uploads");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var headings = table.tHead.rows[0].cells;
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var showAll = document.getElementById("show-all");
  var limit = parseInt(showAll.getAttribute("data-limit"), 10);
  var texts = null;

  function cellText(cell) {
    // The key cell starts with the bucket (shown on phones): its own text is the last node.
    return cell.lastChild ? cell.lastChild.textContent : "";
  }

  function sortValue(cell, numeric) {
    var raw = cell.getAttribute("data-sort");
    return numeric ? parseFloat(raw) : cellText(cell).toLowerCase();
  }

  function searchText(row) {
    var cells = row.cells;
    return [
      row.getAttribute("data-bucket"), cellText(cells[1]),
      row.getAttribute("data-upload-id"), cellText(cells[6])
    ].join(" ").toLowerCase();
  }

  function refresh() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (words.length && texts === null) {
      texts = new Map(rows.map(function (row) { return [row, searchText(row)]; }));
    }
    var matched = 0;
    rows.forEach(function (row) {
      var text = words.length ? texts.get(row) : "";
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      if (match) { matched++; }
      row.hidden = !match || (!showAll.hidden && matched > limit);
    });
    var visible = showAll.hidden ? matched : Math.min(matched, limit);
    shown.textContent = visible + " of " + rows.length +
      (visible < matched ? " (" + matched + " match)" : "");
  }

  function sortBy(index) {
    var heading = headings[index];
    var ascending = heading.getAttribute("aria-sort") !== "ascending";
    var numeric = heading.getAttribute("data-type") === "number";
    var keyed = rows.map(function (row, position) {
      return { row: row, key: sortValue(row.cells[index], numeric), position: position };
    });
    keyed.sort(function (a, b) {
      var order = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      return (ascending ? order : -order) || a.position - b.position;
    });
    for (var i = 0; i < headings.length; i++) { headings[i].setAttribute("aria-sort", "none"); }
    heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows = keyed.map(function (item) { return item.row; });
    refresh();
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
  }
  Array.prototype.forEach.call(headings, function (heading, index) {
    var button = heading.querySelector("button");
    if (button) { button.addEventListener("click", function () { sortBy(index); }); }
  });
  search.addEventListener("input", refresh);
  showAll.addEventListener("click", function () { showAll.hidden = true; refresh(); });
})();

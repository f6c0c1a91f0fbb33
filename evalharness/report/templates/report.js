"use strict";
// Sortable tables: click (or Enter on) a header of a table.sortable. Cells sort by data-v when
// the header says data-type="num" (empty values last), otherwise by their text.
(function () {
  function key(row, col, numeric) {
    var cell = row.cells[col];
    if (!cell) { return numeric ? NaN : ""; }
    if (numeric) {
      var raw = cell.getAttribute("data-v");
      return raw === null || raw === "" ? NaN : parseFloat(raw);
    }
    return cell.textContent.trim().toLowerCase();
  }
  function sortBy(table, th, col) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var numeric = th.getAttribute("data-type") === "num";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, i: i, k: key(row, col, numeric) };
    });
    rows.sort(function (a, b) {
      var c;
      if (numeric) {
        var an = isNaN(a.k), bn = isNaN(b.k);
        if (an || bn) { return an === bn ? a.i - b.i : (an ? 1 : -1); }
        c = a.k - b.k;
      } else {
        c = a.k.localeCompare(b.k);
      }
      return (ascending ? c : -c) || a.i - b.i;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.setAttribute("role", "columnheader");
      th.addEventListener("click", function () { sortBy(table, th, col); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
})();
// Served by `evalharness view` (it adds <meta name="evalharness-viewer">): each confusion-matrix
// cell links to the viewer's list of its decisions.
(function () {
  if (!document.querySelector('meta[name="evalharness-viewer"]')) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("td[data-view]"), function (td) {
    var a = document.createElement("a");
    a.href = "/#" + td.getAttribute("data-view");
    a.className = "cm-link";
    while (td.firstChild) { a.appendChild(td.firstChild); }
    td.appendChild(a);
  });
})();

/* modelyard catalog site: instant search, filters and sorting of the model list, and a row
   filter for the comparison tables. No dependencies; works from file://. */
(function () {
  "use strict";

  var PAGE = 100;  // rows shown at once in the model list

  function words(text) {
    return text.toLowerCase().split(/\s+/).filter(Boolean);
  }

  function modelList() {
    var table = document.getElementById("models");
    if (!table) return;
    var tbody = table.tBodies[0];
    var search = document.getElementById("search");
    var sort = document.getElementById("sort");
    var count = document.getElementById("count");
    var more = document.getElementById("more");
    var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
    var keys = selects.map(function (s) { return s.getAttribute("data-filter"); });
    var items = Array.prototype.map.call(tbody.rows, function (row) {
      var values = {};
      keys.forEach(function (key) {
        var raw = row.getAttribute("data-" + key) || "";
        values[key] = raw ? raw.split("|") : [];
      });
      return {row: row, text: row.getAttribute("data-search"), values: values,
              order: +row.getAttribute("data-order"), name: row.getAttribute("data-name"),
              price: +row.getAttribute("data-price")};
    });
    function by(field) {
      return items.slice().sort(function (a, b) {
        return a[field] < b[field] ? -1 : a[field] > b[field] ? 1 : a.order - b.order;
      });
    }
    var orders = {order: by("order"), name: by("name"), price: by("price")};

    var matched = [];
    var limit = PAGE;

    function apply() {
      var needles = words(search.value);
      var wanted = [];
      selects.forEach(function (s, i) { if (s.value) wanted.push([keys[i], s.value]); });
      var list = orders[sort.value] || orders.order;
      matched = [];
      for (var i = 0; i < list.length; i++) {
        var item = list[i];
        var ok = true;
        for (var w = 0; ok && w < needles.length; w++) ok = item.text.indexOf(needles[w]) >= 0;
        for (var f = 0; ok && f < wanted.length; f++) {
          ok = item.values[wanted[f][0]].indexOf(wanted[f][1]) >= 0;
        }
        if (ok) matched.push(item.row);
      }
      limit = PAGE;
      show();
      count.textContent = matched.length + " of " + items.length + " models";
      table.setAttribute("data-shown", String(matched.length));
    }

    // Only the first rows are in the table: a long table costs the browser far more to lay
    // out than the search itself. "Show more" adds the next ones.
    function show() {
      var fragment = document.createDocumentFragment();
      var end = Math.min(limit, matched.length);
      for (var i = 0; i < end; i++) fragment.appendChild(matched[i]);
      tbody.replaceChildren(fragment);
      var left = matched.length - end;
      more.hidden = left <= 0;
      more.textContent = "Show " + Math.min(left, PAGE) + " more (" + left + " not shown)";
    }

    more.addEventListener("click", function () {
      limit += PAGE;
      show();
    });
    search.addEventListener("input", apply);
    sort.addEventListener("change", apply);
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    document.getElementById("reset").addEventListener("click", function () {
      setTimeout(apply, 0);  // after the form has reset its fields
    });
    document.addEventListener("keydown", function (event) {
      // "/" jumps to the search box, as on many catalogues; not while typing elsewhere.
      var tag = (event.target && event.target.tagName) || "";
      if (event.key === "/" && !/^(INPUT|SELECT|TEXTAREA)$/.test(tag)) {
        event.preventDefault();
        search.focus();
      }
    });
    apply();
    document.documentElement.setAttribute("data-ready", "1");
  }

  function tableFilter() {
    var input = document.querySelector("input[data-table-filter]");
    if (!input) return;
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-search]"));
    input.addEventListener("input", function () {
      var needles = words(input.value);
      rows.forEach(function (row) {
        var text = row.getAttribute("data-search");
        row.hidden = !needles.every(function (n) { return text.indexOf(n) >= 0; });
      });
    });
    document.documentElement.setAttribute("data-ready", "1");
  }

  modelList();
  tableFilter();
})();

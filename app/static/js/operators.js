/* The operators page: GET /api/v1/operators as a table, sorted and searched in the page.
 *
 * The search text and the sort order live in the URL (?q=&sort=&dir=), so a view can be shared and
 * survives a reload. Column headers are buttons (aria-sort says the current order); the "Sort by"
 * select does the same for people who would rather not scroll a wide table sideways.
 */
(function () {
  "use strict";

  var S = window.StopSync;
  var root = document.getElementById("operators");
  if (!root) return;
  var statusEl = document.getElementById("operators-status");
  var summaryEl = document.getElementById("operators-summary");
  var searchEl = document.getElementById("operators-q");
  var sortEl = document.getElementById("operators-sort");
  var dirEl = document.getElementById("operators-dir");
  var body = document.querySelector("#operators-table tbody");
  var catalog = S.catalog();
  var operators = [];
  var PRIORITIES = ["1", "2", "3"];

  // Text columns read best A to Z; number columns largest first.
  var TEXT_KEYS = { operator: true };
  var SORT_VALUES = {
    operator: function (o) {
      return (o.operator || "").toLowerCase();
    },
    registry_stops: function (o) {
      return o.registry_stops;
    },
    matched_share: function (o) {
      return o.matched_share;
    },
    unmatched: function (o) {
      return o.unmatched;
    },
    open: function (o) {
      return o.problems.open;
    },
    undecided: function (o) {
      return o.problems.undecided;
    },
    p1: function (o) {
      return priorityCounts(o, "1").open;
    },
    p2: function (o) {
      return priorityCounts(o, "2").open;
    },
    p3: function (o) {
      return priorityCounts(o, "3").open;
    },
    median: function (o) {
      return o.distance_m.median;
    },
    p90: function (o) {
      return o.distance_m.p90;
    },
    max: function (o) {
      return o.distance_m.max;
    },
    trend: function (o) {
      return o.change_last_run.appeared - o.change_last_run.resolved;
    },
  };

  function priorityCounts(o, priority) {
    return o.problems.by_priority[priority] || { open: 0, undecided: 0 };
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("notice-error", Boolean(isError));
  }

  function percent(share) {
    return share === null || share === undefined ? "–" : Math.round(share * 1000) / 10 + " %";
  }

  function metres(value) {
    return value === null || value === undefined ? "–" : S.formatDistance(value);
  }

  /** A number that links where it leads, or plain text when there is nowhere to go (or nothing). */
  function figure(value, href, title) {
    var text = typeof value === "number" ? S.formatNumber(value) : String(value);
    if (!href || value === 0) return S.el("span", { text: text });
    return S.el("a", { href: href, title: title || null, text: text });
  }

  function numCell(child, sortValue) {
    return S.el("td", { class: "num", dataset: { value: sortValue === null || sortValue === undefined ? "" : String(sortValue) } }, [child]);
  }

  // ---- URL state ----------------------------------------------------------------------------

  function readUrl() {
    var search = new URLSearchParams(window.location.search);
    searchEl.value = search.get("q") || "";
    var sort = search.get("sort");
    if (sort && SORT_VALUES[sort]) sortEl.value = sort;
    var dir = search.get("dir");
    dirEl.value = dir === "asc" || dir === "desc" ? dir : TEXT_KEYS[sortEl.value] ? "asc" : "desc";
  }

  function writeUrl() {
    var params = { q: searchEl.value.trim() };
    if (sortEl.value !== "registry_stops" || dirEl.value !== "desc") {
      params.sort = sortEl.value;
      params.dir = dirEl.value;
    }
    history.replaceState(null, "", window.location.pathname + S.query(params));
  }

  // ---- rows ---------------------------------------------------------------------------------

  function operatorCell(o) {
    var name = o.operator || S.t("(no operator)");
    var children = [S.el("strong", { text: name })];
    if (o.operator_name && o.operator_name !== o.operator) {
      children.push(S.el("span", { class: "muted operator-name", text: o.operator_name }));
    }
    return S.el("th", { scope: "row" }, children);
  }

  function typeCell(o, links) {
    var items = Object.keys(o.problems.by_type).sort().map(function (type) {
      var counts = o.problems.by_type[type];
      return S.el("li", {}, [
        catalog.label("problems", type) + ": ",
        figure(counts.open, links && links.map_by_type[type], S.t("open: on the map")),
        " " + S.t("open") + " · ",
        figure(counts.undecided, links && links.review_by_type[type], S.t("undecided: in the review queue")),
        " " + S.t("undecided"),
      ]);
    });
    return S.el("td", { class: "by-type" }, items.length ? [S.el("ul", { class: "plain-list" }, items)] : ["–"]);
  }

  function trendCell(o) {
    var change = o.change_last_run;
    var series = o.trend.map(function (point) {
      return S.formatNumber(point.open);
    });
    var children = [];
    if (series.length) children.push(S.el("span", { class: "trend-series", title: S.t("open problems after each of the last runs"), text: series.join(" → ") }));
    children.push(
      S.el("span", {
        class: "trend-change",
        title: S.t("the latest run: problems added and resolved"),
        text: "+" + S.formatNumber(change.appeared) + " / −" + S.formatNumber(change.resolved),
      }),
    );
    return S.el("td", { class: "num trend", dataset: { value: String(change.appeared - change.resolved) } }, children);
  }

  function reportCell(links) {
    if (!links) return S.el("td", { text: "–" });
    return S.el("td", {}, [
      S.el("a", { href: links.registry_report, text: "CSV" }),
      " · ",
      S.el("a", { href: links.registry_report_json, text: "JSON" }),
    ]);
  }

  function row(o) {
    var links = o.links;
    var cells = [
      operatorCell(o),
      numCell(figure(o.registry_stops, links && links.map, S.t("these stops on the map")), o.registry_stops),
      numCell(
        S.el("span", {}, [
          figure(percent(o.matched_share), links && o.matched ? links.map_matched : null, S.t("matched stops on the map")),
          S.el("span", { class: "muted count", text: " (" + S.formatNumber(o.matched) + ")" }),
        ]),
        o.matched_share,
      ),
      numCell(figure(o.unmatched, links && links.map_unmatched, S.t("unmatched stops on the map")), o.unmatched),
      numCell(figure(o.problems.open, links && links.map_problems, S.t("stops with problems on the map")), o.problems.open),
      numCell(figure(o.problems.undecided, links && links.review, S.t("undecided problems in the review queue")), o.problems.undecided),
    ];
    PRIORITIES.forEach(function (priority) {
      var counts = priorityCounts(o, priority);
      cells.push(
        numCell(
          S.el("span", {}, [
            figure(counts.open, links && links.map_by_priority[priority], S.t("open: on the map")),
            S.el("span", { class: "muted count" }, [
              " (",
              figure(counts.undecided, links && links.review_by_priority[priority], S.t("undecided: in the review queue")),
              ")",
            ]),
          ]),
          counts.open,
        ),
      );
    });
    cells.push(typeCell(o, links));
    cells.push(numCell(S.el("span", { text: metres(o.distance_m.median) }), o.distance_m.median));
    cells.push(numCell(S.el("span", { text: metres(o.distance_m.p90) }), o.distance_m.p90));
    cells.push(numCell(S.el("span", { text: metres(o.distance_m.max) }), o.distance_m.max));
    cells.push(trendCell(o));
    cells.push(reportCell(links));
    return S.el("tr", { dataset: { operator: o.operator || "" } }, cells);
  }

  // ---- sorting and search -------------------------------------------------------------------

  function matches(o, needle) {
    if (!needle) return true;
    return (o.operator || "").toLowerCase().indexOf(needle) >= 0 || (o.operator_name || "").toLowerCase().indexOf(needle) >= 0;
  }

  function compare(key, dir) {
    var value = SORT_VALUES[key];
    var sign = dir === "asc" ? 1 : -1;
    return function (a, b) {
      var x = value(a);
      var y = value(b);
      // Missing figures (no matches, so no distance) go last in either order.
      var xMissing = x === null || x === undefined;
      var yMissing = y === null || y === undefined;
      if (xMissing || yMissing) {
        if (xMissing && yMissing) return 0;
        return xMissing ? 1 : -1;
      }
      if (x < y) return -sign;
      if (x > y) return sign;
      return (a.operator || "").localeCompare(b.operator || "");
    };
  }

  function markHeaders() {
    document.querySelectorAll("#operators-table th[data-sort]").forEach(function (th) {
      var sorted = th.dataset.sort === sortEl.value;
      if (sorted) th.setAttribute("aria-sort", dirEl.value === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
  }

  function render() {
    var needle = searchEl.value.trim().toLowerCase();
    var shown = operators.filter(function (o) {
      return matches(o, needle);
    });
    shown.sort(compare(sortEl.value, dirEl.value));
    S.clear(body);
    shown.forEach(function (o) {
      body.appendChild(row(o));
    });
    summaryEl.textContent =
      shown.length === operators.length
        ? S.t("{count} operators", { count: S.formatNumber(operators.length) })
        : S.t("{shown} of {count} operators match", { shown: S.formatNumber(shown.length), count: S.formatNumber(operators.length) });
    markHeaders();
    writeUrl();
  }

  /** Headers become buttons: a click sorts by the column, a second click reverses the order. */
  function sortableHeaders() {
    document.querySelectorAll("#operators-table th[data-sort]").forEach(function (th) {
      var key = th.dataset.sort;
      var label = th.textContent;
      S.clear(th);
      var button = S.el("button", { type: "button", class: "sort-button", text: label });
      button.addEventListener("click", function () {
        if (sortEl.value === key) dirEl.value = dirEl.value === "asc" ? "desc" : "asc";
        else {
          sortEl.value = key;
          dirEl.value = TEXT_KEYS[key] ? "asc" : "desc";
        }
        render();
      });
      th.appendChild(button);
    });
  }

  document.getElementById("operators-form").addEventListener("submit", function (event) {
    event.preventDefault();
    render();
  });
  searchEl.addEventListener("input", render);
  sortEl.addEventListener("change", function () {
    dirEl.value = TEXT_KEYS[sortEl.value] ? "asc" : "desc";
    render();
  });
  dirEl.addEventListener("change", render);

  readUrl();
  sortableHeaders();
  S.api(root.dataset.operatorsUrl)
    .then(function (data) {
      operators = data.operators;
      root.classList.remove("hidden");
      setStatus(operators.length ? "" : S.t("No registry data yet: run the pipeline first."));
      render();
      root.dataset.ready = "true";
    })
    .catch(function (err) {
      setStatus(S.t("Could not load the operators: {error}", { error: err.message || err }), true);
    });
})();

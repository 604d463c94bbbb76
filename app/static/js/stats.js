/* The stats page: GET /api/v1/stats drawn as Chart.js charts, each with its numbers in a table
 * underneath (for screen readers and for people who would rather read than look).
 */
(function () {
  "use strict";

  var S = window.StopSync;
  var root = document.getElementById("stats");
  if (!root) return;
  var statusEl = document.getElementById("stats-status");
  var catalog = S.catalog();
  var TOP_OPERATORS = 15;
  var css = getComputedStyle(document.documentElement);

  function colour(name, fallback) {
    var value = css.getPropertyValue(name).trim();
    return value || fallback;
  }

  var PRIORITY_COLOURS = { 1: colour("--danger", "#b42318"), 2: colour("--warning", "#b54708"), 3: "#98a2b3" };
  var MATCHED = colour("--c-exact_uic", "#1b7837");
  var UNMATCHED = colour("--c-unmatched-atlas", "#d73027");

  function methodColour(method) {
    return colour("--c-" + method, colour("--c-other", "#8c8c8c"));
  }

  function percent(part, whole) {
    return whole ? Math.round((1000 * part) / whole) / 10 + " %" : "–";
  }

  // ---- tables -------------------------------------------------------------------------------

  function table(containerId, headers, rows) {
    var container = document.getElementById(containerId);
    S.clear(container);
    var head = S.el("tr", {}, headers.map(function (h, i) {
      return S.el("th", { class: i ? "num" : null, text: h });
    }));
    var body = rows.map(function (row) {
      return S.el("tr", {}, row.map(function (cell, i) {
        return S.el("td", { class: i ? "num" : null, text: typeof cell === "number" ? S.formatNumber(cell) : String(cell) });
      }));
    });
    container.appendChild(S.el("table", { class: "data" }, [S.el("thead", {}, [head]), S.el("tbody", {}, body)]));
  }

  // ---- charts ---------------------------------------------------------------------------------

  /** Horizontal bar charts get a height that fits their rows instead of a fixed box. */
  function fitHeight(canvasId, rows) {
    var box = document.getElementById(canvasId).parentNode;
    box.style.height = Math.max(9, rows * 2.2 + 4) + "rem"; // CSSOM, which the CSP allows
  }

  function chart(canvasId, config) {
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false },
      config.options || {},
    );
    return new window.Chart(document.getElementById(canvasId), config);
  }

  function kpi(value, label, hint) {
    return S.el("div", { class: "kpi", title: hint || null }, [
      S.el("span", { class: "kpi-value", text: value }),
      S.el("span", { class: "kpi-label", text: label }),
    ]);
  }

  function drawKpis(t) {
    var box = document.getElementById("kpis");
    S.clear(box);
    [
      kpi(S.formatNumber(t.registry_stops), S.t("registry stops")),
      kpi(percent(t.matched_atlas, t.registry_stops), S.t("of them matched"), S.t("{count} matched", { count: S.formatNumber(t.matched_atlas) })),
      kpi(S.formatNumber(t.osm_stops), S.t("OSM objects")),
      kpi(percent(t.matched_osm, t.osm_stops), S.t("of them matched"), S.t("{count} matched", { count: S.formatNumber(t.matched_osm) })),
      kpi(S.formatNumber(t.undecided), S.t("problems to review"), S.t("{count} problems in all", { count: S.formatNumber(t.problems) })),
      kpi(S.formatNumber(t.decided), S.t("problems decided")),
    ].forEach(function (node) {
      box.appendChild(node);
    });
  }

  function drawRun(run) {
    var el = document.getElementById("stats-run");
    if (!run) {
      el.textContent = S.t("No pipeline run yet.");
      return;
    }
    var seconds = Object.keys(run.stage_seconds || {}).reduce(function (sum, k) {
      return sum + (run.stage_seconds[k] || 0);
    }, 0);
    var when = (run.finished_at || run.started_at || "").replace("T", " ").slice(0, 16);
    S.clear(el);
    el.appendChild(
      document.createTextNode(
        when ? S.t("Last run {status} at {when} UTC", { status: run.status, when: when }) : S.t("Last run {status}", { status: run.status }),
      ),
    );
    if (seconds) el.appendChild(document.createTextNode(" " + S.t("in {seconds} s", { seconds: seconds.toFixed(1) })));
    el.appendChild(document.createTextNode(" · "));
    el.appendChild(S.el("a", { href: "/pipeline", text: "pipeline" }));
  }

  function drawMethods(methods) {
    fitHeight("chart-methods", methods.length);
    chart("chart-methods", {
      type: "bar",
      data: {
        labels: methods.map(function (m) {
          return catalog.label("methods", m.method);
        }),
        datasets: [
          {
            label: S.t("matches"),
            data: methods.map(function (m) {
              return m.count;
            }),
            backgroundColor: methods.map(function (m) {
              return methodColour(m.method);
            }),
          },
        ],
      },
      options: { indexAxis: "y", plugins: { legend: { display: false } } },
    });
    table(
      "table-methods",
      [S.t("Method"), S.t("Matches"), S.t("Median distance (m)"), S.t("Mean distance (m)")],
      methods.map(function (m) {
        return [catalog.label("methods", m.method), m.count, m.median_distance_m, m.mean_distance_m];
      }),
    );
  }

  function bucketLabel(b) {
    if (b.max_m === null) return S.t("over {min} m", { min: b.min_m });
    return b.min_m ? b.min_m + "–" + b.max_m + " m" : S.t("up to {max} m", { max: b.max_m });
  }

  function drawDistances(buckets) {
    var total = buckets.reduce(function (sum, b) {
      return sum + b.count;
    }, 0);
    chart("chart-distances", {
      type: "bar",
      data: {
        labels: buckets.map(bucketLabel),
        datasets: [
          {
            label: S.t("matched pairs"),
            data: buckets.map(function (b) {
              return b.count;
            }),
            backgroundColor: colour("--c-name", "#2166ac"),
          },
        ],
      },
      options: { plugins: { legend: { display: false } } },
    });
    var within = function (metres) {
      return buckets.reduce(function (sum, b) {
        return b.max_m !== null && b.max_m <= metres ? sum + b.count : sum;
      }, 0);
    };
    document.getElementById("distance-caption").textContent =
      S.t("Within 5 m: {p5} · 20 m: {p20} · 50 m: {p50} (the reference system on all of Switzerland: 34 %, 82 %, 94 %)", {
        p5: percent(within(5), total),
        p20: percent(within(20), total),
        p50: percent(within(50), total),
      });
    var cumulative = 0;
    table(
      "table-distances",
      [S.t("Distance"), S.t("Pairs"), S.t("Share"), S.t("Cumulative")],
      buckets.map(function (b) {
        cumulative += b.count;
        return [bucketLabel(b), b.count, percent(b.count, total), percent(cumulative, total)];
      }),
    );
  }

  function drawProblems(types) {
    var priorities = ["1", "2", "3"];
    chart("chart-problems", {
      type: "bar",
      data: {
        labels: types.map(function (t) {
          return catalog.label("problems", t.problem_type);
        }),
        datasets: priorities.map(function (p) {
          return {
            label: "P" + p,
            data: types.map(function (t) {
              return (t.by_priority || {})[p] || 0;
            }),
            backgroundColor: PRIORITY_COLOURS[p],
          };
        }),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    });
    table(
      "table-problems",
      [S.t("Problem"), S.t("All"), "P1", "P2", "P3", S.t("Decided"), S.t("To review")],
      types.map(function (t) {
        var bp = t.by_priority || {};
        return [catalog.label("problems", t.problem_type), t.count, bp["1"] || 0, bp["2"] || 0, bp["3"] || 0, t.decided, t.undecided];
      }),
    );
  }

  function drawDecisions(rows, totals) {
    var byDecision = {};
    rows.forEach(function (r) {
      byDecision[r.decision] = (byDecision[r.decision] || 0) + r.count;
    });
    var codes = Object.keys(byDecision);
    var palette = ["#1b7837", "#b42318", "#667085", "#b54708", "#2166ac", "#7b3294"];
    var labels = codes.map(function (c) {
      return catalog.label("decisions", c);
    });
    var data = codes.map(function (c) {
      return byDecision[c];
    });
    labels.push(S.t("not decided yet"));
    data.push(totals.undecided);
    chart("chart-decisions", {
      type: "doughnut",
      data: {
        labels: labels,
        datasets: [{ data: data, backgroundColor: palette.slice(0, codes.length).concat(["#e4e7ec"]) }],
      },
      options: { plugins: { legend: { position: "right" } } },
    });
    table(
      "table-decisions",
      [S.t("Decision"), S.t("Status"), S.t("Count")],
      rows.map(function (r) {
        return [catalog.label("decisions", r.decision), r.status.replace(/_/g, " "), r.count];
      }),
    );
  }

  function drawMatchedSplit(canvasId, tableId, rows, nameKey, nameLabel, limit) {
    var shown = rows.slice(0, limit);
    fitHeight(canvasId, shown.length);
    var name = function (r) {
      return r[nameKey] ? String(r[nameKey]) : S.t("(none)");
    };
    chart(canvasId, {
      type: "bar",
      data: {
        labels: shown.map(name),
        datasets: [
          { label: S.t("matched"), data: shown.map(function (r) { return r.matched; }), backgroundColor: MATCHED },
          {
            label: S.t("unmatched"),
            data: shown.map(function (r) { return r.registry_stops - r.matched; }),
            backgroundColor: UNMATCHED,
          },
        ],
      },
      options: { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } },
    });
    var headers = [nameLabel, S.t("Registry stops"), S.t("Matched"), S.t("Share")];
    if (rows.length && rows[0].problems !== undefined) headers.push(S.t("Problems"));
    table(
      tableId,
      headers,
      rows.map(function (r) {
        var cells = [name(r), r.registry_stops, r.matched, percent(r.matched, r.registry_stops)];
        if (r.problems !== undefined) cells.push(r.problems);
        return cells;
      }),
    );
  }

  function draw(stats) {
    drawKpis(stats.totals);
    drawRun(stats.last_run);
    root.classList.remove("hidden");
    drawMethods(stats.match_methods || []);
    drawDistances(stats.distance_buckets || []);
    drawProblems(stats.problem_types || []);
    drawDecisions(stats.decisions || [], stats.totals);
    drawMatchedSplit("chart-operators", "table-operators", stats.operators || [], "operator", S.t("Operator"), TOP_OPERATORS);
    var transports = (stats.modes || []).map(function (r) {
      return Object.assign({}, r, { transport: r.transport ? catalog.label("transports", r.transport) : r.transport });
    });
    drawMatchedSplit("chart-transports", "table-transports", transports, "transport", S.t("Transport"), 20);
    statusEl.classList.add("hidden");
    root.dataset.ready = "true";
  }

  if (!window.Chart) {
    statusEl.textContent = S.t("The chart library did not load.");
    return;
  }
  window.Chart.defaults.font.family = css.getPropertyValue("font-family");
  S.api(root.dataset.statsUrl)
    .then(draw)
    .catch(function (error) {
      statusEl.textContent = S.t("Could not load the stats: {error}", { error: error.message });
    });
})();

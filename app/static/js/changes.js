/* The changes page: a trend chart per run (GET /api/v1/trends) and the differences of one run
 * (GET /api/v1/changes), each chart with its numbers in a table underneath.
 */
(function () {
  "use strict";

  var S = window.StopSync;
  var root = document.getElementById("changes");
  if (!root) return;
  var statusEl = document.getElementById("changes-status");
  var catalog = S.catalog();
  var PALETTE = ["#b42318", "#2166ac", "#1b7837", "#b54708", "#7b3294", "#01665e", "#c51b7d", "#667085", "#98a2b3"];
  var trendChart = null;
  var trendData = null;
  var nextCursor = null;
  // The badge of a change; its code stays in the row's class.
  var CHANGE_LABELS = { appeared: S.t("appeared"), resolved: S.t("resolved") };

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("notice-error", Boolean(isError));
  }

  function runLabel(run) {
    var when = (run.finished_at || run.started_at || "").replace("T", " ").slice(0, 16);
    return "#" + run.id + (when ? " · " + when : "");
  }

  function seriesLabel(by, key) {
    if (key === "other") return S.t("other");
    if (by === "type") return catalog.label("problems", key);
    return key || S.t("(no operator)");
  }

  // ---- trend --------------------------------------------------------------------------------

  function drawTrend() {
    var metric = document.getElementById("trend-metric").value;
    var data = trendData;
    var labels = data.runs.map(runLabel);
    var datasets = data.series.map(function (s, i) {
      return {
        label: seriesLabel(data.by, s.key),
        data: s[metric],
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
        tension: 0.2,
      };
    });
    if (trendChart) trendChart.destroy();
    trendChart = new window.Chart(document.getElementById("chart-trend"), {
      type: "line",
      data: { labels: labels, datasets: datasets },
      options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true } } },
    });
    var container = document.getElementById("table-trend");
    S.clear(container);
    var head = S.el("tr", {}, [S.el("th", { text: S.t("Run") })].concat(
      data.series.map(function (s) {
        return S.el("th", { class: "num", text: seriesLabel(data.by, s.key) });
      }),
    ));
    var rows = data.runs.map(function (run, i) {
      return S.el("tr", {}, [S.el("td", { text: runLabel(run) })].concat(
        data.series.map(function (s) {
          return S.el("td", { class: "num", text: S.formatNumber(s[metric][i]) });
        }),
      ));
    });
    container.appendChild(S.el("table", { class: "data" }, [S.el("thead", {}, [head]), S.el("tbody", {}, rows)]));
  }

  function loadTrend() {
    var by = document.getElementById("trend-by").value;
    return S.api(root.dataset.trendsUrl + S.query({ by: by })).then(function (data) {
      trendData = data;
      drawTrend();
      root.dataset.trendBy = data.by;
      return data;
    });
  }

  // ---- one run's differences ----------------------------------------------------------------

  /** The stop by its name (registry name first, else the OSM name), linked to its page while it is
   * still in the data; its key underneath, so two stops of the same name stay apart. */
  function stopLink(item) {
    var key = item.stop_id || item.osm_key;
    var name = item.stop_name || key || item.problem_identity;
    if (item.stop_id && item.atlas_in_data) return S.el("a", { href: S.stopUrl(item.source || "atlas", item.stop_id), text: name });
    if (item.osm_key && item.osm_in_data) return S.el("a", { href: S.stopUrl("osm", item.osm_key), text: name });
    return S.el("span", { class: "stop-name", text: name });
  }

  function stopKeys(item) {
    var parts = [];
    if (item.stop_id) parts.push(item.stop_id + (item.atlas_in_data ? "" : " " + S.t("(no longer in the registry data)")));
    if (item.osm_key) parts.push(item.osm_key + (item.osm_in_data ? "" : " " + S.t("(no longer in the OSM data)")));
    if (!parts.length) return null;
    return S.el("div", { class: "muted stop-keys", text: parts.join(" · ") });
  }

  /** The stop, and (while its problem is open) the API's editor links for it. */
  function stopCell(item) {
    var buttons = S.editorLinkButtons(item.links);
    return S.el("td", {}, [stopLink(item), stopKeys(item), buttons.length ? S.el("div", { class: "row-links" }, buttons) : null]);
  }

  function appendRows(items) {
    var body = document.querySelector("#diff-table tbody");
    items.forEach(function (item) {
      body.appendChild(
        S.el("tr", { class: "change-" + item.change }, [
          S.el("td", {}, [S.el("span", { class: "badge " + (item.change === "appeared" ? "badge-p1" : "badge-decided"), text: CHANGE_LABELS[item.change] || item.change })]),
          S.el("td", {}, [S.el("span", { class: "badge badge-p" + item.priority, text: "P" + item.priority })]),
          S.el("td", { text: catalog.label("problems", item.problem_type) }),
          S.el("td", { text: item.operator || "" }),
          stopCell(item),
          S.el("td", { class: item.still_open ? null : "muted", text: item.message || (item.change === "resolved" ? S.t("resolved") : S.t("no longer open")) }),
        ]),
      );
    });
  }

  function loadDiff(more) {
    var runId = document.getElementById("diff-run").value;
    var change = document.getElementById("diff-change").value;
    var params = { run: runId, change: change, limit: 200 };
    if (more && nextCursor) params.cursor = nextCursor;
    if (!more) S.clear(document.querySelector("#diff-table tbody"));
    return S.api(root.dataset.changesUrl + S.query(params)).then(function (data) {
      var summary = document.getElementById("diff-summary");
      if (!data.run) {
        summary.textContent = S.t("No run has recorded changes yet.");
        return;
      }
      var appeared = (data.totals.appeared || {}).total || 0;
      var resolved = (data.totals.resolved || {}).total || 0;
      var counts = { run: runLabel(data.run), previous: data.previous_run_id, appeared: S.formatNumber(appeared), resolved: S.formatNumber(resolved) };
      summary.textContent = data.previous_run_id
        ? S.t("Run {run} compared with run #{previous}: {appeared} appeared, {resolved} resolved.", counts)
        : S.t("Run {run} (first run): {appeared} appeared, {resolved} resolved.", counts);
      appendRows(data.changes);
      nextCursor = data.next_cursor;
      document.getElementById("diff-more").classList.toggle("hidden", !nextCursor);
    });
  }

  function fillRuns(runs) {
    var select = document.getElementById("diff-run");
    S.clear(select);
    runs.slice().reverse().forEach(function (run) {
      select.appendChild(S.el("option", { value: String(run.id), text: runLabel(run) }));
    });
  }

  function fail(err) {
    setStatus(S.t("Could not load the changes: {error}", { error: err.message || err }), true);
  }

  document.getElementById("trend-by").addEventListener("change", function () {
    loadTrend().catch(fail);
  });
  document.getElementById("trend-metric").addEventListener("change", function () {
    if (trendData) drawTrend();
  });
  document.getElementById("diff-run").addEventListener("change", function () {
    loadDiff(false).catch(fail);
  });
  document.getElementById("diff-change").addEventListener("change", function () {
    loadDiff(false).catch(fail);
  });
  document.getElementById("diff-more").addEventListener("click", function () {
    loadDiff(true).catch(fail);
  });

  loadTrend()
    .then(function (data) {
      root.classList.remove("hidden");
      if (!data.runs.length) {
        setStatus(S.t("No pipeline run has recorded problem changes yet."));
        return null;
      }
      setStatus("");
      fillRuns(data.runs);
      return loadDiff(false);
    })
    .then(function () {
      root.dataset.ready = "true";
    })
    .catch(fail);
})();

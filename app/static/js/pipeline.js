/* The pipeline page: the current run live (status, progress bar, stages, log), the run history,
 * and "Run now" for admins.
 *
 * Live updates come from the Server-Sent Events stream /api/v1/pipeline/stream. The server closes
 * each connection after a bounded time; EventSource reconnects by itself and sends Last-Event-ID,
 * so nothing is lost or shown twice. A slow status poll covers what events cannot tell (a run
 * whose process died sends nothing: its heartbeat just gets old and the status turns "stale").
 */
(function () {
  "use strict";

  var S = window.StopSync;
  var root = document.getElementById("pipeline");
  if (!root) return;

  var STATUS_POLL_MS = 10000;
  var STREAM_RETRY_MS = 15000;
  var MAX_LOG_LINES = 500;
  var stages = (root.dataset.stages || "").split(",").filter(Boolean);
  var canRun = root.dataset.canRun === "true";

  var node = function (id) {
    return document.getElementById(id);
  };
  var ui = {
    connection: node("live-connection"),
    state: node("run-state"),
    stageText: node("run-stage-text"),
    percent: node("run-percent"),
    progress: node("run-progress"),
    stages: node("run-stages"),
    error: node("run-error"),
    notice: node("run-notice"),
    log: node("run-log"),
    logEmpty: node("run-log-empty"),
    runNow: node("run-now"),
    runsBody: node("runs-body"),
    runsEmpty: node("runs-empty"),
    runsMore: node("runs-more"),
  };

  var current = { runUuid: null, state: null, stage: null };
  var seenEvents = {};
  var runsCursor = null;

  // ---- formatting -----------------------------------------------------------------------------

  function formatTime(iso) {
    if (!iso) return "–";
    var date = new Date(iso);
    return isNaN(date.getTime()) ? iso : date.toLocaleString("en-GB");
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    var minutes = Math.floor(seconds / 60);
    return minutes + " min " + Math.round(seconds - minutes * 60) + " s";
  }

  function setText(id, text) {
    node(id).textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  }

  function show(element, text, kind) {
    element.textContent = text;
    element.className = "notice" + (kind ? " notice-" + kind : "");
  }

  function hide(element) {
    element.className = "notice hidden";
    element.textContent = "";
  }

  // ---- progress ------------------------------------------------------------------------------

  /** Overall percent: finished stages count fully, the current one by its own percent. */
  function overallPercent(stage, stagePercent, state) {
    if (state === "succeeded") return 100;
    var index = stages.indexOf(stage);
    if (index < 0) return state === "running" ? 0 : 100;
    var within = stagePercent === null || stagePercent === undefined ? 0 : stagePercent / 100;
    return Math.round(((index + within) / stages.length) * 1000) / 10;
  }

  function markStages(stage, state) {
    var index = stages.indexOf(stage);
    Array.prototype.forEach.call(ui.stages.children, function (item, i) {
      var cls = "";
      if (state === "succeeded" || (index >= 0 && i < index)) cls = "stage-done";
      else if (i === index) cls = state === "failed" || state === "stale" ? "stage-failed" : "stage-current";
      item.className = cls;
    });
  }

  function renderProgress(stage, done, total, stagePercent, message, state) {
    current.stage = stage;
    var percent = overallPercent(stage, stagePercent, state);
    ui.progress.value = percent;
    ui.percent.textContent = percent + " %";
    var parts = [];
    if (stage) parts.push(stage);
    if (total) parts.push(S.formatNumber(done || 0) + " / " + S.formatNumber(total));
    if (message) parts.push(message);
    ui.stageText.textContent = parts.length ? parts.join(" · ") : S.t("No run yet");
    markStages(stage, state);
  }

  // ---- status ---------------------------------------------------------------------------------

  // The run states (app/coordination.py RunState) as the badges show them.
  var STATE_LABELS = {
    idle: S.t("idle"),
    queued: S.t("queued"),
    running: S.t("running"),
    succeeded: S.t("succeeded"),
    failed: S.t("failed"),
    stale: S.t("stale"),
    skipped: S.t("skipped"),
    unknown: S.t("unknown"),
  };

  var STATE_TEXT = {
    idle: S.t("No run yet."),
    queued: S.t("A run was requested; a scheduler starts it within seconds."),
    stale: S.t("The run stopped sending heartbeats: its process died or hangs. Its lock expires by itself and the next run proceeds."),
    unknown: S.t("Redis is unreachable, so the run status is unknown. The map and review keep working."),
  };

  function renderStatus(status) {
    var state = status.state;
    if (status.run_uuid && status.run_uuid !== current.runUuid && state === "running") clearLog();
    current.runUuid = status.run_uuid || current.runUuid;
    current.state = state;
    ui.state.textContent = STATE_LABELS[state] || state;
    ui.state.className = "badge run-state state-" + state;
    renderProgress(status.stage, status.done, status.total, status.percent, status.message, state);

    if (status.last_error && (state === "failed" || state === "stale")) show(ui.error, status.last_error, "error");
    else hide(ui.error);
    var notice = STATE_TEXT[state];
    if (state === "queued" && status.queued) {
      var queued = { by: status.queued.requested_by, at: formatTime(status.queued.requested_at) };
      notice = status.queued.requested_by
        ? S.t("Run requested by {by} at {at}; a scheduler starts it within seconds.", queued)
        : S.t("Run requested at {at}; a scheduler starts it within seconds.", queued);
    }
    if ((state === "queued" || state === "idle") && status.scheduler && !status.scheduler.alive) {
      notice = (notice ? notice + " " : "") + S.t("No scheduler has reported in the last minute.");
    }
    if (notice) show(ui.notice, notice, state === "stale" || state === "unknown" ? "warning" : "");
    else hide(ui.notice);

    setText("fact-run", status.run_uuid ? status.run_uuid.slice(0, 8) : null);
    setText("fact-trigger", status.trigger ? status.trigger + (status.requested_by ? " (" + status.requested_by + ")" : "") : null);
    setText("fact-started", status.started_at ? formatTime(status.started_at) : null);
    setText(
      "fact-heartbeat",
      status.heartbeat_at ? formatTime(status.heartbeat_at) + " (" + S.t("{seconds} s ago", { seconds: Math.round(status.heartbeat_age_s) }) + ")" : null,
    );
    setText("fact-finished", status.finished_at ? formatTime(status.finished_at) : null);
    if (status.next_scheduled_at !== undefined) setText("fact-next", formatTime(status.next_scheduled_at));
    if (status.scheduler) {
      setText("fact-scheduler", status.scheduler.alive ? S.t("alive") : S.t("not seen in the last minute"));
    }
    // Only admins' status answers name the process; the stream's public snapshot must not blank it.
    if (status.owner && node("fact-owner")) setText("fact-owner", status.owner);
    if (ui.runNow) ui.runNow.disabled = state === "running" || state === "queued" || state === "unknown";
  }

  function loadStatus() {
    return S.api(root.dataset.statusUrl)
      .then(renderStatus)
      .catch(function (err) {
        show(ui.notice, S.t("Could not load the status: {error}", { error: err.message }), "warning");
      });
  }

  // ---- log ------------------------------------------------------------------------------------

  function clearLog() {
    S.clear(ui.log);
    seenEvents = {};
    ui.logEmpty.className = "muted";
  }

  /** When an event happened: its `at` (ISO 8601; a unix time in entries older than that), else now. */
  function eventTime(at) {
    var time = typeof at === "number" ? new Date(at * 1000) : at ? new Date(at) : null;
    return time && !isNaN(time.getTime()) ? time : new Date();
  }

  /** One log line. `text` is always a string: an object never reaches the page as "[object Object]". */
  function appendLog(cls, text, at) {
    var time = eventTime(at);
    var line = typeof text === "string" ? text : text === null || text === undefined ? "" : JSON.stringify(text);
    ui.log.appendChild(
      S.el("li", { class: cls, dataset: { at: time.toISOString() } }, [
        S.el("time", { class: "log-time", datetime: time.toISOString(), text: time.toLocaleTimeString("en-GB") }),
        line,
      ]),
    );
    while (ui.log.children.length > MAX_LOG_LINES) ui.log.removeChild(ui.log.firstChild);
    ui.log.scrollTop = ui.log.scrollHeight;
    ui.logEmpty.className = "muted hidden";
  }

  // ---- live events ----------------------------------------------------------------------------

  function parse(event) {
    if (event.lastEventId) {
      if (seenEvents[event.lastEventId]) return null;
      seenEvents[event.lastEventId] = true;
    }
    try {
      return JSON.parse(event.data);
    } catch (e) {
      return null;
    }
  }

  function connect() {
    if (!window.EventSource) {
      ui.connection.textContent = S.t("live updates unavailable in this browser; refreshing every 10 s");
      return;
    }
    var source = new EventSource(root.dataset.streamUrl);
    source.addEventListener("open", function () {
      ui.connection.textContent = S.t("live");
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (429 when too many streams are open): EventSource gives up for good on an error
        // status, so try again later ourselves; the status poll keeps the page current meanwhile.
        ui.connection.textContent = S.t("live updates paused (server busy); status refreshes every 10 s");
        window.setTimeout(connect, STREAM_RETRY_MS);
        return;
      }
      ui.connection.textContent = S.t("reconnecting…");
    });
    source.addEventListener("status", function (event) {
      var status = parse(event);
      if (status) renderStatus(status);
    });
    source.addEventListener("state", function (event) {
      var data = parse(event);
      if (!data) return;
      if (data.state === "running" && data.run_uuid !== current.runUuid) {
        clearLog();
        current.runUuid = data.run_uuid;
      }
      appendLog("log-stage", "run " + data.state + (data.error ? ": " + data.error : ""), data.at);
      loadStatus();
      if (data.state !== "running") loadRuns(true);
    });
    source.addEventListener("stage", function (event) {
      var data = parse(event);
      if (!data) return;
      appendLog("log-stage", "→ " + data.stage + (data.message ? ": " + data.message : ""), data.at);
      renderProgress(data.stage, 0, null, 0, data.message, "running");
    });
    source.addEventListener("progress", function (event) {
      var data = parse(event);
      if (!data) return;
      renderProgress(data.stage, data.done, data.total, data.percent, data.message, "running");
    });
    source.addEventListener("log", function (event) {
      var data = parse(event);
      if (!data) return;
      appendLog("log-" + String(data.level || "info").toLowerCase(), data.message, data.at);
    });
  }

  // ---- run history ----------------------------------------------------------------------------

  function cell(text, cls) {
    return S.el("td", cls ? { class: cls } : {}, [text === null || text === undefined ? "" : String(text)]);
  }

  function runRow(run) {
    var counts = run.counts || {};
    var stops =
      counts.registry_stops !== undefined
        ? S.formatNumber(counts.registry_stops) + " / " + S.formatNumber(counts.osm_objects)
        : "";
    var status = S.el("span", { class: "badge run-state state-" + run.status, text: STATE_LABELS[run.status] || run.status });
    var cells = [cell(formatTime(run.started_at)), S.el("td", {}, [status]), cell(run.trigger)];
    if (canRun) cells.push(cell(run.requested_by)); // the "By" column exists for admins only
    cells.push(
      cell(formatDuration(run.duration_s), "number"),
      cell(stops, "number"),
      cell(counts.matches !== undefined ? S.formatNumber(counts.matches) : "", "number"),
      cell(counts.problems !== undefined ? S.formatNumber(counts.problems) : "", "number"),
      cell(run.error, "error"),
    );
    return S.el("tr", { dataset: { runUuid: run.run_uuid } }, cells);
  }

  function loadRuns(reset) {
    if (reset) runsCursor = null;
    return S.api(root.dataset.runsUrl + S.query({ limit: 20, cursor: runsCursor }))
      .then(function (body) {
        if (reset) S.clear(ui.runsBody);
        body.runs.forEach(function (run) {
          ui.runsBody.appendChild(runRow(run));
        });
        runsCursor = body.next_cursor;
        ui.runsEmpty.className = ui.runsBody.children.length ? "muted hidden" : "muted";
        ui.runsMore.className = runsCursor ? "button button-small" : "button button-small hidden";
      })
      .catch(function (err) {
        ui.runsEmpty.textContent = S.t("Could not load the runs: {error}", { error: err.message });
        ui.runsEmpty.className = "muted";
      });
  }

  // ---- run now --------------------------------------------------------------------------------

  function requestRun() {
    ui.runNow.disabled = true;
    S.api("/api/v1/pipeline/runs", { method: "POST", body: {} })
      .then(function (body) {
        show(
          ui.notice,
          S.t("Run requested ({id}).", { id: body.request_id.slice(0, 8) }) + " " + (body.warning || S.t("A scheduler starts it within seconds.")),
          "success",
        );
        return loadStatus();
      })
      .catch(function (err) {
        var message = err.status === 429 ? S.t("Too many run requests; try again later.") : err.message;
        show(ui.notice, message, err.status === 409 ? "warning" : "error");
        ui.runNow.disabled = false;
      });
  }

  if (ui.runNow && canRun) ui.runNow.addEventListener("click", requestRun);
  ui.runsMore.addEventListener("click", function () {
    loadRuns(false);
  });

  loadStatus();
  loadRuns(true);
  connect();
  window.setInterval(loadStatus, STATUS_POLL_MS);
})();

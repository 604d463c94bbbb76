/* The review page: a queue of undecided problems (GET /api/v1/problems, by priority), one shown in
 * detail with both sides and a small map, decided with one key press (POST /api/v1/decisions).
 *
 * After a decision the page moves to the next undecided problem. Decided items stay in the list
 * (marked), so `k` goes back to correct a slip; the queue itself is reloaded only on a filter change.
 */
(function () {
  "use strict";

  var S = window.StopSync;
  var root = document.getElementById("review");
  if (!root) return;

  var catalog = S.catalog();
  // The registry's display name (ATLAS, NaPTAN) for a registry stop.
  function registryName(source) {
    return catalog.label("registries", source || (catalog.lists.registries || [{ code: "atlas" }])[0].code);
  }
  var decisions = catalog.lists.decisions;
  // Problem types about a matched pair: the only ones "wrong match" fits (app/services/vocabulary.py).
  var pairProblems = (catalog.lists.pair_problems || []).map(function (t) {
    return t.code;
  });
  var canDecide = root.dataset.canDecide === "true";
  var problemsUrl = root.dataset.problemsUrl;
  var decisionsUrl = root.dataset.decisionsUrl;
  var PAGE_SIZE = 50;
  var PREFETCH_AHEAD = 5;

  var listEl = document.getElementById("queue-list");
  var footerEl = document.getElementById("queue-footer");
  var emptyEl = document.getElementById("problem-empty");
  var bodyEl = document.getElementById("problem-body");
  var noteEl = document.getElementById("decision-note");
  var helpDialog = document.getElementById("help-dialog");
  var toastEl = document.getElementById("toast");
  var buttons = Array.prototype.slice.call(document.querySelectorAll("#decision-buttons [data-decision]"));
  var filtersForm = document.getElementById("review-filters");

  var items = [];
  var current = -1;
  var nextCursor = null;
  var loadingMore = null;
  var loadFailed = false;
  var saving = false;
  var detailRequest = null;
  var miniMap = null;
  var miniLayer = null;
  var toastTimer = null;

  // ---- queue -----------------------------------------------------------------------------------

  function filters() {
    var search = new URLSearchParams(window.location.search);
    return {
      type: search.get("type") || "",
      priority: search.get("priority") || "",
      operator: search.get("operator") || "",
      sort: search.get("sort") || "priority",
      // "true": only decisions a re-import sent back to review.
      needs_review: search.get("needs_review") === "true" ? "true" : "",
    };
  }

  /** Decided and standing: a decision the pipeline sent back to review counts as undecided. */
  function isDecided(problem) {
    return Boolean(problem.decision) && problem.decision.status !== "needs_review";
  }

  function needsReviewAgain(problem) {
    return Boolean(problem.decision) && problem.decision.status === "needs_review";
  }

  /** About a matched pair: its own OSM object, or (a whole stop) the matched object it was measured to. */
  function isPair(problem) {
    var osmKey = problem.osm_key || (problem.details && problem.details.osm_key);
    return Boolean(problem.stop_id && osmKey) && pairProblems.indexOf(problem.problem_type) >= 0;
  }

  function loadMore() {
    if (loadingMore) return loadingMore;
    var params = Object.assign({ decided: "false", limit: PAGE_SIZE }, filters());
    if (nextCursor) params.cursor = nextCursor;
    else if (items.length) return Promise.resolve();
    footerEl.textContent = S.t("Loading…");
    loadingMore = S.api(problemsUrl + S.query(params))
      .then(function (body) {
        var fresh = body.problems || [];
        fresh.forEach(function (problem) {
          items.push(problem);
          listEl.appendChild(queueItem(problem, items.length - 1));
        });
        nextCursor = body.next_cursor || null;
        loadFailed = false;
        updateFooter();
      })
      .catch(function (error) {
        loadFailed = true;
        footerEl.textContent = S.t("Could not load problems: {error}", { error: error.message });
      })
      .finally(function () {
        loadingMore = null;
      });
    return loadingMore;
  }

  function updateFooter() {
    var decided = items.filter(isDecided).length;
    var text = S.t("{count} problems loaded", { count: S.formatNumber(items.length) + (nextCursor ? "+" : "") });
    if (decided) text += ", " + S.t("{count} decided here", { count: S.formatNumber(decided) });
    if (!items.length) {
      text = filters().needs_review
        ? S.t("No decision needs review again with these filters.")
        : S.t("No undecided problems match these filters.");
    }
    footerEl.textContent = text;
  }

  // The phone layout of app.css (problem first, queue below it).
  var phoneLayout = window.matchMedia("(max-width: 800px)");

  function queueItem(problem, index) {
    var meta = [
      catalog.label("problems", problem.problem_type),
      problem.operator,
      problem.distance_m !== null && problem.distance_m !== undefined ? S.formatDistance(problem.distance_m) : null,
    ];
    // tabindex: the queue is worked by keyboard too (Tab to an item, Enter or Space opens it).
    var li = S.el("li", { class: "queue-item", tabindex: "0", dataset: { index: String(index), identity: problem.identity } }, [
      S.el("span", { class: "badge badge-p" + problem.priority, text: "P" + problem.priority }),
      // The message names both sides ("Vaduz, Post and node/123 disagree on ..."): the best title.
      S.el("span", { class: "queue-title", title: problem.message, text: problem.message }),
      S.el("span", { class: "queue-meta", text: meta.filter(Boolean).join(" · ") }),
    ]);
    li.addEventListener("click", function () {
      select(index);
      // On a phone the problem sits above the queue: a tap brings it into view.
      if (phoneLayout.matches) document.getElementById("problem").scrollIntoView({ block: "start" });
    });
    li.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault(); // Space would scroll the page
      select(index);
    });
    markItem(li, problem);
    return li;
  }

  function markItem(li, problem) {
    li.classList.toggle("decided", isDecided(problem));
    li.classList.toggle("review-again", needsReviewAgain(problem));
    var old = li.querySelector(".badge-decided");
    if (old) old.remove();
    if (problem.decision) {
      var label = catalog.label("decisions", problem.decision.decision);
      li.querySelector(".queue-meta").appendChild(
        S.el("span", { class: "badge badge-decided", text: needsReviewAgain(problem) ? S.t("review again: {decision}", { decision: label }) : label }),
      );
    }
  }

  function itemEl(index) {
    return listEl.querySelector('[data-index="' + index + '"]');
  }

  // ---- the current problem -------------------------------------------------------------------------

  function select(index) {
    if (index < 0 || index >= items.length) return;
    var previous = itemEl(current);
    if (previous) {
      previous.classList.remove("current");
      previous.removeAttribute("aria-current");
    }
    current = index;
    var li = itemEl(index);
    li.classList.add("current");
    li.setAttribute("aria-current", "true");
    // The queue scrolls in its own box on a wide screen; on a phone it is part of the page, below the
    // problem, and following it there would scroll the problem away.
    if (!phoneLayout.matches) li.scrollIntoView({ block: "nearest" });
    root.dataset.current = items[index].identity;
    renderProblem(items[index]);
    if (index >= items.length - PREFETCH_AHEAD && nextCursor) loadMore();
  }

  function renderProblem(problem) {
    emptyEl.classList.add("hidden");
    bodyEl.classList.remove("hidden");
    var priority = document.getElementById("problem-priority");
    priority.textContent = "P" + problem.priority;
    priority.className = "badge badge-p" + problem.priority;
    document.getElementById("problem-type").textContent = catalog.label("problems", problem.problem_type);
    document.getElementById("problem-distance").textContent =
      problem.distance_m !== null && problem.distance_m !== undefined ? S.t("{distance} apart", { distance: S.formatDistance(problem.distance_m) }) : "";
    document.getElementById("problem-message").textContent = problem.message;
    renderDetails(problem);
    renderDecision(problem);
    noteEl.value = problem.decision && problem.decision.note ? problem.decision.note : "";

    document.getElementById("link-stop").href = problem.stop_id ? S.stopUrl("atlas", problem.stop_id, problem.source) : S.stopUrl("osm", problem.osm_key);
    renderEditorLinks(problem, null);

    renderSides(problem, null);
    loadDetail(problem);
  }

  /** What the detector recorded, in words: attribute differences as a table, reasons as a list. */
  function renderDetails(problem) {
    var box = document.getElementById("problem-details");
    S.clear(box);
    var details = problem.details || {};
    if (details.mismatches && details.mismatches.length) {
      var rows = details.mismatches.map(function (m) {
        return S.el("tr", {}, [
          S.el("td", {}, [S.el("code", { text: m.attribute })]),
          S.el("td", { text: m.registry === null || m.registry === undefined ? "—" : String(m.registry) }),
          S.el("td", { text: m.osm === null || m.osm === undefined ? "—" : String(m.osm) }),
          S.el("td", { text: m.priority ? "P" + m.priority : "" }),
        ]);
      });
      box.appendChild(
        S.el("table", { class: "data" }, [
          S.el("thead", {}, [
            S.el("tr", {}, [S.t("Attribute"), S.t("Registry"), "OSM", ""].map(function (h) {
              return S.el("th", { text: h });
            })),
          ]),
          S.el("tbody", {}, rows),
        ]),
      );
    }
    var reasons = [];
    if (details.reason) reasons.push(details.reason);
    (details.reasons || []).forEach(function (r) {
      if (typeof r === "string") reasons.push(r);
      else if (r && r.rule) reasons.push(r.rule + (r.members ? ": " + r.members.join(", ") : ""));
    });
    if (details.nearest_sloid) {
      reasons.push(
        S.t("nearest registry stop: {stop_id} at {distance}", { stop_id: details.nearest_sloid, distance: S.formatDistance(details.nearest_sloid_m) }),
      );
    }
    if (details.method) reasons.push(S.t("matched by {method}", { method: catalog.label("methods", details.method) }));
    if (reasons.length) {
      box.appendChild(
        S.el("ul", { class: "detail-reasons" }, reasons.map(function (r) {
          return S.el("li", { text: r });
        })),
      );
    }
  }

  function renderDecision(problem) {
    var badge = document.getElementById("problem-decided");
    var chosen = problem.decision ? problem.decision.decision : null;
    badge.classList.toggle("hidden", !chosen);
    badge.textContent = chosen ? S.t("Decided: {decision}", { decision: catalog.label("decisions", chosen) }) : "";
    var pair = isPair(problem);
    buttons.forEach(function (button) {
      button.classList.toggle("chosen", button.dataset.decision === chosen);
      if (button.dataset.pairOnly === "true") {
        // Only a matched pair can be a wrong match; the button stays visible so the keys keep their numbers.
        button.disabled = !canDecide || !pair;
        button.title = pair ? catalog.lists.decisions.filter(function (d) {
          return d.code === button.dataset.decision;
        })[0].hint : S.t("Only for a problem about a matched pair");
      }
    });
    var again = document.getElementById("problem-review-again");
    var diffList = document.getElementById("problem-review-diff");
    S.clear(diffList);
    again.classList.toggle("hidden", !needsReviewAgain(problem));
    if (needsReviewAgain(problem)) {
      (problem.decision.review_diff || []).forEach(function (entry) {
        diffList.appendChild(S.el("li", { text: entry.message }));
      });
    }
  }

  // Keys that open the first editor link of their editor (o: openstreetmap.org, i: iD, e: JOSM).
  var EDITOR_KEYS = { osm: "o", id: "i", josm: "e" };

  /**
   * The editor links of the problem's OSM object (or, for a registry stop without one, how to add it),
   * as the stop API built them. `detail` null: not loaded yet, `errorMessage`: it failed.
   */
  function renderEditorLinks(problem, detail, errorMessage) {
    var box = document.getElementById("editor-links");
    S.clear(box);
    if (!detail) {
      box.appendChild(S.el("span", { class: "muted", text: errorMessage ? S.t("Editor links unavailable") : S.t("Loading editor links…") }));
      return;
    }
    var links = detail.links || [];
    if (problem.osm_key) {
      (detail.osm || []).forEach(function (obj) {
        if (obj.osm_key === problem.osm_key) links = obj.links || [];
      });
    }
    var keyed = {};
    S.editorLinkButtons(links).forEach(function (a) {
      var key = EDITOR_KEYS[a.dataset.editor];
      if (key && !keyed[key]) {
        keyed[key] = true;
        a.id = "link-" + a.dataset.editor;
        a.insertBefore(document.createTextNode(" "), a.firstChild);
        a.insertBefore(S.el("kbd", { text: key }), a.firstChild);
      }
      box.appendChild(a);
    });
  }

  function loadDetail(problem) {
    if (detailRequest) detailRequest.abort();
    var url = problem.stop_id ? S.stopApiUrl("atlas", problem.stop_id) : S.stopApiUrl("osm", problem.osm_key);
    if (!url) return;
    var controller = new AbortController();
    detailRequest = controller;
    S.api(url, { signal: controller.signal })
      .then(function (detail) {
        if (items[current] !== problem) return;
        renderSides(problem, detail);
        renderEditorLinks(problem, detail);
      })
      .catch(function (error) {
        if (error.name === "AbortError" || items[current] !== problem) return;
        renderSides(problem, null, error.message);
        renderEditorLinks(problem, null, error.message);
      });
  }

  function fact(term, value) {
    if (value === null || value === undefined || value === "") return [];
    return [S.el("dt", { text: term }), S.el("dd", {}, [String(value)])];
  }

  function atlasSide(atlas, problem) {
    if (!atlas) {
      return [
        S.el("h3", {}, [S.el("span", { class: "badge badge-atlas", text: registryName(problem.source) }), S.t("Registry")]),
        S.el("p", { class: "side-empty", text: problem.stop_id ? S.t("Loading…") : S.t("No registry stop") }),
      ];
    }
    return [
      S.el("h3", {}, [S.el("span", { class: "badge badge-atlas", text: registryName(atlas.source) }), atlas.name || atlas.stop_id]),
      S.el(
        "dl",
        { class: "facts" },
        [].concat(
          fact("SLOID", atlas.stop_id),
          fact("UIC", atlas.code || atlas.uic),
          fact(S.t("Platform"), atlas.platform_code),
          fact(S.t("Operator"), atlas.operator_code || atlas.operator),
          fact(S.t("Transport"), atlas.modes ? atlas.modes.split("|").map(function (m) {
            return catalog.label("transports", m);
          }).join(", ") : null),
        ),
      ),
    ];
  }

  function osmSide(objects, problem) {
    var head = S.el("h3", {}, [S.el("span", { class: "badge badge-osm", text: "OSM" }), "OpenStreetMap"]);
    if (!objects || !objects.length) {
      return [head, S.el("p", { class: "side-empty", text: problem.osm_key ? S.t("Loading…") : S.t("No OSM object") })];
    }
    var nodes = [head];
    objects.forEach(function (obj) {
      var tags = obj.tags || {};
      nodes.push(
        S.el(
          "dl",
          { class: "facts" },
          [].concat(
            [S.el("dt", { text: S.t("Object") }), S.el("dd", {}, [S.el("a", { href: obj.url, target: "_blank", rel: "noopener", text: obj.osm_key })])],
            fact(S.t("Name"), obj.name),
            fact("uic_ref", obj.uic_ref),
            fact("uic_name", obj.uic_name),
            fact("local_ref", obj.local_ref),
            fact(S.t("Operator"), obj.operator),
            fact(S.t("Kind"), obj.public_transport || obj.highway || obj.railway || obj.amenity || tags.public_transport),
          ),
        ),
      );
    });
    return nodes;
  }

  function renderSides(problem, detail, errorMessage) {
    var atlasEl = document.getElementById("side-atlas");
    var osmEl = document.getElementById("side-osm");
    S.clear(atlasEl);
    S.clear(osmEl);
    if (errorMessage) {
      atlasEl.appendChild(S.el("p", { class: "side-empty", text: S.t("Could not load the stop: {error}", { error: errorMessage }) }));
      return;
    }
    var atlas = detail ? detail.atlas : null;
    var osm = detail ? detail.osm || [] : null;
    if (osm && problem.osm_key) {
      var focused = osm.filter(function (o) {
        return o.osm_key === problem.osm_key;
      });
      if (focused.length) osm = focused;
    }
    atlasSide(atlas, problem).forEach(function (n) {
      atlasEl.appendChild(n);
    });
    osmSide(osm, problem).forEach(function (n) {
      osmEl.appendChild(n);
    });
    renderMiniMap(problem, atlas, osm || []);
  }

  function renderMiniMap(problem, atlas, osm) {
    var mapEl = document.getElementById("problem-map");
    if (!window.L || !mapEl) return;
    if (!miniMap) {
      miniMap = L.map(mapEl, { zoomControl: true, attributionControl: true });
      L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
        maxZoom: 19,
        attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> ' + S.t("contributors"),
      }).addTo(miniMap);
      miniLayer = L.layerGroup().addTo(miniMap);
    }
    miniLayer.clearLayers();
    var points = [];
    function point(lat, lon, classes, title) {
      if (lat === null || lat === undefined) return null;
      var latlng = [lat, lon];
      points.push(latlng);
      miniLayer.addLayer(
        L.marker(latlng, { icon: L.divIcon({ className: classes, iconSize: [24, 24], html: "" }), title: title }),
      );
      return latlng;
    }
    var atlasPoint = atlas ? point(atlas.lat, atlas.lon, "stop-icon kind-atlas side-atlas", registryName(atlas.source) + " " + atlas.stop_id) : null;
    osm.forEach(function (o) {
      var p = point(o.lat, o.lon, "stop-icon kind-osm side-osm", o.osm_key);
      if (atlasPoint && p) {
        miniLayer.addLayer(L.polyline([atlasPoint, p], { className: "match-line match-line-problem", interactive: false }));
      }
    });
    if (!points.length) point(problem.lat, problem.lon, "stop-icon kind-atlas method-other has-problem", "problem");
    if (points.length === 1) miniMap.setView(points[0], 18);
    else miniMap.fitBounds(points, { padding: [30, 30], maxZoom: 19 });
    miniMap.invalidateSize();
  }

  // ---- deciding --------------------------------------------------------------------------------------

  function toast(text, kind) {
    toastEl.textContent = text;
    toastEl.className = "toast notice notice-" + (kind || "ok");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      toastEl.classList.add("hidden");
    }, 3500);
  }

  function decide(code) {
    var problem = items[current];
    if (!problem || saving) return;
    if (!canDecide) {
      toast(S.t("Log in as an editor to record decisions."), "warning");
      return;
    }
    if (code === "wrong_match" && !isPair(problem)) {
      toast(S.t("Wrong match fits only a problem about a matched pair."), "warning");
      return;
    }
    saving = true;
    root.classList.add("is-saving");
    S.api(decisionsUrl, {
      method: "POST",
      body: { problem_identity: problem.identity, decision: code, note: noteEl.value.trim() },
    })
      .then(function (body) {
        var saved = body && body.decision && typeof body.decision === "object" ? body.decision : body;
        problem.decision = saved && saved.decision ? saved : { decision: code, note: noteEl.value.trim() };
        markItem(itemEl(current), problem);
        updateFooter();
        if (body && body.manual_match) {
          toast(S.t("Saved: {decision}. Unlinked from the next pipeline run on.", { decision: catalog.label("decisions", code) }));
        } else {
          toast(S.t("Saved: {decision}", { decision: catalog.label("decisions", code) }));
        }
        next(true);
      })
      .catch(function (error) {
        var message = error.message;
        if (error.status === 401) message = S.t("Your session ended: log in again to record decisions.");
        else if (error.status === 403) message = S.t("Your role cannot record decisions.");
        toast(message, "error");
      })
      .finally(function () {
        saving = false;
        root.classList.remove("is-saving");
      });
  }

  /** Move to the next item; after a decision, skip items already decided. */
  function next(skipDecided) {
    var target = current + 1;
    while (skipDecided && target < items.length && isDecided(items[target])) target++;
    if (target < items.length) {
      select(target);
      return;
    }
    if (nextCursor) {
      loadMore().then(function () {
        if (target < items.length) select(target);
      });
      return;
    }
    if (skipDecided) {
      emptyEl.textContent = S.t("The queue is done: every loaded problem has a decision.");
      updateFooter();
    }
  }

  function previous() {
    if (current > 0) select(current - 1);
  }

  function openLink(id) {
    var link = document.getElementById(id);
    if (!link || link.getAttribute("href") === "#") return;
    if (link.target === "_blank") window.open(link.href, "_blank", "noopener");
    else window.location.href = link.href;
  }

  // ---- keyboard ----------------------------------------------------------------------------------------

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (helpDialog.open) return; // the dialog handles Esc itself
    var key = event.key;
    var number = parseInt(key, 10);
    if (number >= 1 && number <= decisions.length) {
      decide(decisions[number - 1].code);
    } else if (key === "n" || key === "j" || key === "ArrowDown") {
      next(false);
    } else if (key === "k" || key === "p" || key === "ArrowUp") {
      previous();
    } else if (key === "o") {
      openLink("link-osm");
    } else if (key === "i") {
      openLink("link-id");
    } else if (key === "e") {
      openLink("link-josm");
    } else if (key === "s") {
      openLink("link-stop");
    } else if (key === "c") {
      if (!noteEl.disabled) noteEl.focus();
    } else if (key === "?") {
      helpDialog.showModal();
    } else {
      return;
    }
    event.preventDefault();
  }

  // ---- start ---------------------------------------------------------------------------------------------

  document.addEventListener("keydown", onKey);
  document.getElementById("help-button").addEventListener("click", function () {
    helpDialog.showModal();
  });
  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      decide(button.dataset.decision);
    });
  });
  filtersForm.addEventListener("change", function () {
    filtersForm.requestSubmit();
  });

  loadMore().then(function () {
    if (items.length) {
      select(0);
    } else if (loadFailed) {
      emptyEl.textContent = S.t("The queue could not be loaded. Reload the page to try again.");
    } else if (filters().needs_review) {
      emptyEl.textContent = S.t("Nothing to review again: no decision was sent back to review with these filters.");
    } else {
      emptyEl.textContent = S.t("Nothing to review: no undecided problems match these filters.");
    }
    root.dataset.ready = "true";
  });
})();

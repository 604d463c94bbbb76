/* "Why not matched" on the stop page: loads the candidates (GET /api/v1/stops/.../candidates) when
 * the section is opened and shows, per candidate, the evidence of every criterion and the rule that
 * rejected it. Text only (el()/textContent): names come from OpenStreetMap.
 */
(function () {
  "use strict";

  var S = window.StopSync;
  var root = document.getElementById("why-not-matched");
  if (!root || !S) return;
  var details = document.getElementById("why-details");
  var statusEl = document.getElementById("why-status");
  var table = document.getElementById("why-table");
  var loaded = false;

  function yesNo(value) {
    if (value === null || value === undefined) return "–";
    return value ? S.t("same") : S.t("differs");
  }

  function cell(text, title, cls) {
    return S.el("td", { text: text, title: title || null, class: cls || null });
  }

  function candidateLink(c) {
    var label = c.name || c.key;
    var buttons = S.editorLinkButtons(c.links); // OSM candidates: the stop API's editor links
    return S.el("td", {}, [
      S.el("a", { href: S.stopUrl(c.kind, c.key), text: label }),
      S.el("br"),
      S.el("code", { class: "muted", text: c.key }),
      buttons.length ? S.el("div", { class: "row-links" }, buttons) : null,
    ]);
  }

  function outcome(c) {
    if (!c.rejected_by) {
      return S.el("td", {}, [S.el("span", { class: "badge badge-decided", text: c.matched_to ? S.t("matched ({key})", { key: c.matched_to }) : S.t("would match") })]);
    }
    return S.el("td", {}, [
      S.el("span", { class: "badge badge-p2", text: c.rejected_by.replace(/_/g, " ") }),
      S.el("br"),
      S.el("span", { class: "muted", text: c.rejected_reason || "" }),
    ]);
  }

  var user = S.user();
  var canEdit = user.role === "editor" || user.role === "admin";
  var subjectKey = null;

  /** The stored manual links of this page (stop.html's "Manual links" list), by "stop_id|osm_key". */
  function storedLinks() {
    var found = {};
    document.querySelectorAll("#manual-links .manual-link-item").forEach(function (item) {
      if (item.dataset.state === "deleted") return;
      found[item.dataset.stop_id + "|" + item.dataset.osmKey] = item.dataset;
    });
    return found;
  }

  /** Editors: link this pair (or forbid it) as a manual match, applied from the next run on. */
  function manualButton(c) {
    var linked = !c.rejected_by && c.matched_to;
    var pair = root.dataset.kind === "atlas" ? { stop_id: subjectKey, osm_key: c.key } : { stop_id: c.key, osm_key: subjectKey };
    var stored = storedLinks()[pair.stop_id + "|" + pair.osm_key];
    if (stored && stored.state === "pending") {
      // Saved before this page was loaded and not read by a run yet: say so, not "Link" again.
      return S.el("td", {}, [
        S.el("span", {
          class: "badge badge-p2",
          text: (stored.action === "link" ? S.t("Link") : S.t("Never match")) + ": " + stored.stateLabel,
        }),
      ]);
    }
    var action = linked ? "unlink" : "link";
    var button = S.el("button", {
      type: "button",
      class: "button button-small",
      text: linked ? S.t("Unlink") : S.t("Link"),
      title: linked ? S.t("Never match this pair again") : S.t("Match this pair from the next pipeline run on"),
    });
    var status = S.el("span", { class: "muted", role: "status" });
    button.addEventListener("click", function () {
      button.disabled = true;
      S.api("/api/v1/manual-matches", { method: "POST", body: { stop_id: pair.stop_id, osm_key: pair.osm_key, action: action } })
        .then(function () {
          status.textContent =
            action === "link" ? S.t("Linked: applies from the next pipeline run.") : S.t("Unlinked: applies from the next pipeline run.");
        })
        .catch(function (err) {
          button.disabled = false;
          status.textContent = err.message || String(err);
        });
    });
    return S.el("td", {}, [button, S.el("br"), status]);
  }

  function row(c) {
    var k = c.criteria;
    var ident = k.identifier;
    var identText = ident.same ? S.t("ref:IFOPT names this stop") : "uic_ref " + yesNo(ident.same_uic);
    var identTitle = S.t("registry") + " " + (ident.registry_uic || "–") + " / OSM uic_ref " + (ident.osm_uic_ref || "–") +
      (ident.osm_ref_ifopt ? " / ref:IFOPT " + ident.osm_ref_ifopt : "");
    var name = k.name;
    var nameTitle = (name.registry || "–") + " ↔ " + (name.osm || "–");
    var code = k.platform_code;
    var mode = k.mode;
    var modeText = mode.compatible === null ? "–" : mode.compatible ? S.t("compatible") : S.t("differs");
    return S.el("tr", { dataset: { key: c.key } }, [
      candidateLink(c),
      cell(S.formatDistance(k.distance.m), null, "num"),
      cell(identText, identTitle),
      cell(Math.round(name.score) + " · " + name.reason, nameTitle),
      cell(yesNo(code.same), S.t("registry") + " " + (code.registry || "–") + " / OSM " + (code.osm || "–")),
      cell(modeText, (mode.registry.join(", ") || "–") + " / " + (mode.osm.join(", ") || "–")),
      outcome(c),
    ].concat(canEdit ? [manualButton(c)] : []));
  }

  function load() {
    if (loaded) return;
    loaded = true;
    S.api(root.dataset.candidatesUrl)
      .then(function (data) {
        subjectKey = data.subject.key;
        if (canEdit && !table.querySelector("th.manual-col")) {
          table.querySelector("thead tr").appendChild(S.el("th", { class: "manual-col", text: S.t("Manual match") }));
        }
        var body = table.querySelector("tbody");
        S.clear(body);
        data.candidates.forEach(function (c) {
          body.appendChild(row(c));
        });
        root.dataset.loaded = String(data.candidates.length);
        if (!data.candidates.length) {
          statusEl.textContent = S.t("Nothing within {radius} m: no candidate to explain.", { radius: data.radius_m });
          return;
        }
        statusEl.textContent = S.t("Candidates within {radius} m: {count}.", { radius: data.radius_m, count: data.candidates.length });
        table.classList.remove("hidden");
      })
      .catch(function (err) {
        loaded = false;
        statusEl.textContent = S.t("Could not load the candidates: {error}", { error: err.message || err });
      });
  }

  if (details.open) load();
  details.addEventListener("toggle", function () {
    if (details.open) load();
  });
})();

/* The stop page: a small map of the stop and its counterparts, and per-problem decision forms
 * (POST /api/v1/decisions). After a decision the page reloads, so the history shown is the stored one.
 */
(function () {
  "use strict";

  var S = window.StopSync;

  function drawMap() {
    var mapEl = document.getElementById("stop-map");
    var data = document.getElementById("stop-points");
    if (!mapEl || !data || !window.L) return;
    var points = JSON.parse(data.textContent);
    var map = L.map(mapEl, { scrollWheelZoom: false });
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> ' + S.t("contributors"),
    }).addTo(map);
    var bounds = [];
    function add(list, classes, prefix, kind) {
      list.forEach(function (p) {
        bounds.push([p.lat, p.lon]);
        L.marker([p.lat, p.lon], {
          icon: L.divIcon({ className: classes + (p.current ? " is-current" : ""), iconSize: [24, 24], html: "" }),
          title: prefix + " " + p.key,
        })
          .on("click", function () {
            if (!p.current) window.location.href = S.stopUrl(kind, p.key, p.source);
          })
          .addTo(map);
      });
    }
    points.lines.forEach(function (line) {
      L.polyline(line, { className: "match-line", interactive: false }).addTo(map);
    });
    var registries = S.catalog();
    points.atlas.forEach(function (p) {
      add([p], "stop-icon kind-atlas side-atlas", registries.label("registries", p.source || "atlas"), "atlas");
    });
    add(points.osm, "stop-icon kind-osm side-osm", "OSM", "osm");
    if (!bounds.length) {
      mapEl.classList.add("hidden");
      return;
    }
    if (bounds.length === 1) map.setView(bounds[0], 18);
    else map.fitBounds(bounds, { padding: [30, 30], maxZoom: 19 });
  }

  function wireDecisionForms() {
    var section = document.getElementById("problems");
    if (!section || section.dataset.canDecide !== "true") return;
    var url = section.dataset.decisionsUrl;
    section.querySelectorAll("form.decision-form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var status = form.querySelector(".form-status");
        var button = form.querySelector("button");
        button.disabled = true;
        status.textContent = S.t("Saving…");
        S.api(url, {
          method: "POST",
          body: {
            problem_identity: form.dataset.identity,
            decision: form.elements.decision.value,
            note: form.elements.note.value.trim(),
          },
        })
          .then(function () {
            status.textContent = S.t("Saved.");
            window.location.reload();
          })
          .catch(function (error) {
            status.textContent = error.message;
            button.disabled = false;
          });
      });
    });
  }

  drawMap();
  wireDecisionForms();
})();

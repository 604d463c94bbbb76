/* The map page: the stops as vector tiles (GET /api/v1/tiles.json, then the snapshot's tiles), drawn
 * as Leaflet markers: counted cells below the TileJSON's stops_min_zoom (the whole country at once,
 * totals exact), stops one by one from there on, clustered and coloured by match status.
 *
 * Leaflet.VectorGrid does the tiling: which tiles the view needs, fetching and decoding them (MVT),
 * dropping those far out of view. It does not draw them: its canvas/SVG symbols can be neither
 * focused nor titled, so each tile's features become ordinary Leaflet markers (DOM elements with a
 * title, reachable with Tab, opened with Enter, 24 px touch targets), the same markers, popups and
 * clusters as before tiles.
 *
 * State lives in the URL (filters in the query string, view in #map=zoom/lat/lon) so a view can be
 * shared and survives a reload. Tile URLs name the published snapshot and carry the filters in the
 * server's canonical order, so the browser (and any proxy) keeps every tile it has seen.
 *
 * The selected stop is kept apart from the markers: on a wide screen in a popup of its own (not bound
 * to a marker), on a phone in a bottom sheet. A reload of the markers (a pan, a popup's auto-pan, a
 * filter) redraws every marker but never closes it; only the person does (close button, a click on
 * the map, another stop).
 */
(function () {
  "use strict";

  var S = window.StopSync;
  var mapEl = document.getElementById("map");
  if (!mapEl || !window.L || !L.VectorGrid) return;

  var catalog = S.catalog();
  // The registry's display name (ATLAS, NaPTAN) for a registry stop; the instance's registry for a
  // feature without a source.
  function registryName(source) {
    return catalog.label("registries", source || (catalog.lists.registries || [{ code: "atlas" }])[0].code);
  }
  // Text as HTML that shows it verbatim (Leaflet's attribution is HTML).
  function escapeText(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }
  var knownMethods = {};
  catalog.lists.methods.forEach(function (m) {
    knownMethods[m.code] = true;
  });

  var LINES_MIN_ZOOM = 15; // below this, match lines are clutter rather than information
  var DEBOUNCE_MS = 200;
  var TILE_SIZE = 256;
  // Tiles are asked for 10 % beyond each edge of the view: a small move (a popup's auto-pan, an arrow
  // key) stays inside what is loaded and asks the server nothing.
  var PAD = 0.1;
  var tilejsonUrl = mapEl.dataset.tilejsonUrl;
  var filtersForm = document.getElementById("map-filters");
  var statusEl = document.getElementById("map-status");
  var sheet = document.getElementById("stop-sheet");
  var sheetBody = document.getElementById("stop-sheet-body");
  // Phones show the selected stop in a bottom sheet: a popup on a small map pans it away (and used to
  // start a reload that dropped the popup). Same breakpoint as the phone layout in app.css.
  var phone = window.matchMedia("(max-width: 800px)");

  var map = L.map(mapEl, { zoomControl: true, worldCopyJump: true });
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution:
      '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> ' + S.t("contributors") + " · " +
      // The instance's registries and their publishers ("ATLAS: opentransportdata.swiss").
      escapeText(mapEl.dataset.registryCredit || ""),
  }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  var clusters = L.markerClusterGroup({
    chunkedLoading: true,
    maxClusterRadius: 45,
    disableClusteringAtZoom: 17,
    spiderfyOnMaxZoom: false,
    showCoverageOnHover: false,
    iconCreateFunction: clusterIcon,
    // Called after each chunk of addLayers(); the last call means every marker is on the map.
    chunkProgress: function (processed, total) {
      if (processed === total) markersAdded();
    },
  });
  var lines = L.layerGroup();
  var cellLayer = L.layerGroup(); // counted cells below stops_min_zoom: not clustered, they are counts already
  map.addLayer(clusters);
  map.addLayer(cellLayer);

  var markersById = {};
  var shown = null; // the collection being drawn
  var pendingSelect = null; // feature id to select once it is loaded (after a search jump)
  var selected = null; // { id, feature, popup }: the stop shown in the popup or the bottom sheet
  var tiles = null; // the tile layer of the current filters (null while no side or status is ticked)
  var tileData = {}; // tile key -> { coords, stops: [feature], cells: [cell] } of the loaded tiles
  var tileQuery = null; // the filters the tile layer answers, as a query string
  var inflight = null; // the TileJSON request of the latest filter change
  var debounceTimer = null;

  // ---- markers ------------------------------------------------------------------------------

  var iconCache = {};

  function markerClasses(p, isSelected) {
    var classes = ["stop-icon", "kind-" + (p.kind === "atlas" ? "atlas" : "osm")];
    if (p.status === "matched") {
      classes.push("method-" + (knownMethods[p.method] ? p.method : "other"));
    } else {
      classes.push("unmatched-" + p.kind);
    }
    if (p.priority) classes.push("has-problem", "prio-" + (parseInt(p.priority, 10) || 0));
    if (isSelected) classes.push("is-selected");
    return classes.join(" ");
  }

  // 24 x 24 px: the touch target (WCAG 2.2 target size); the dot drawn inside stays 14 px (app.css).
  var MARKER_SIZE = 24;

  function iconFor(p, isSelected) {
    var classes = markerClasses(p, isSelected);
    if (!iconCache[classes]) {
      iconCache[classes] = L.divIcon({ className: classes, iconSize: [MARKER_SIZE, MARKER_SIZE], html: "" });
    }
    return iconCache[classes];
  }

  function clusterIcon(cluster) {
    var children = cluster.getAllChildMarkers();
    var count = children.length;
    var withProblems = 0;
    for (var i = 0; i < children.length; i++) {
      if (children[i].options.hasProblem) withProblems++;
    }
    var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
    var classes = "marker-cluster marker-cluster-" + size + (withProblems ? " cluster-has-problems" : "");
    var label = String(count);
    return L.divIcon({
      // The count is a number we computed, so building the markup as a string is safe here.
      html: "<div><span>" + label + "</span></div>",
      className: classes,
      iconSize: L.point(40, 40),
    });
  }

  // A counted cell: the same bubble as a cluster (its count is what the tile says, never capped).
  function cellIcon(cell) {
    var count = cell.count;
    var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
    var classes = "marker-cluster marker-cluster-" + size + " stop-cell" + (cell.with_problems ? " cluster-has-problems" : "");
    return L.divIcon({
      // Numbers from the tile, so building the markup as a string is safe here.
      html: "<div><span>" + String(count) + "</span></div>",
      className: classes,
      iconSize: L.point(40, 40),
    });
  }

  function cellTitle(cell) {
    return S.t("{count} stops: {matched} matched, {unmatched} unmatched, {problems} with problems", {
      count: S.formatNumber(cell.count),
      matched: S.formatNumber(cell.matched),
      unmatched: S.formatNumber(cell.unmatched),
      problems: S.formatNumber(cell.with_problems),
    });
  }

  // Editor links come with the stop's detail (GET /api/v1/stops/...), asked for when a popup first
  // opens: the map's GeoJSON stays small, and the URLs (with the tags for a missing stop) have one
  // builder, on the server. A failed request is asked again the next time the stop is selected.
  function fillEditorLinks(container, p, grown) {
    var pending = S.el("span", { class: "muted popup-loading", text: S.t("Loading editor links…") });
    container.appendChild(pending);
    var url = S.stopApiUrl(p.kind, p.key);
    (url ? S.api(url) : Promise.resolve({ links: [] }))
      .then(function (detail) {
        S.editorLinkButtons(detail.links).forEach(function (a) {
          container.insertBefore(a, pending);
        });
        pending.remove();
      })
      .catch(function (error) {
        pending.textContent = S.t("Editor links unavailable: {error}", { error: error.message });
      })
      .finally(grown);
  }

  function popupContent(feature, grown) {
    var p = feature.properties;
    var isAtlas = p.kind === "atlas";
    var rows = [];
    function row(term, value) {
      if (value === null || value === undefined || value === "") return;
      rows.push(S.el("dt", { text: term }), S.el("dd", {}, [value]));
    }
    row(S.t("Operator"), p.operator);
    row("UIC", p.uic);
    row(S.t("Platform"), p.local_ref || p.platform_code);
    if (p.status === "matched") {
      row(
        S.t("Match"),
        catalog.label("methods", p.method) + (p.distance_m !== null && p.distance_m !== undefined ? ", " + S.formatDistance(p.distance_m) : ""),
      );
    } else {
      row(S.t("Match"), isAtlas ? S.t("no OSM object matched") : S.t("no registry stop matched"));
    }

    var partners = (p.partner_keys || []).map(function (key) {
      var partnerKind = isAtlas ? "osm" : "atlas";
      return S.el("li", {}, [S.el("a", { href: S.stopUrl(partnerKind, key), text: key })]);
    });
    var problems = (p.problem_types || []).map(function (type) {
      return S.el("li", { text: catalog.label("problems", type) });
    });

    var links = S.el("div", { class: "popup-links" }, [
      S.el("a", { href: S.stopUrl(p.kind, p.key), class: "button button-small", text: S.t("Stop page") }),
    ]);
    fillEditorLinks(links, p, grown);

    return S.el("div", { class: "popup" }, [
      S.el("div", { class: "popup-kind" }, [
        S.el("span", { class: "badge badge-" + p.kind, text: isAtlas ? registryName(p.source) : "OSM" }),
        " ",
        S.el("code", { text: p.key }),
      ]),
      S.el("h3", { class: "popup-title", text: p.name || S.t("(no name)") }),
      rows.length ? S.el("dl", { class: "popup-facts" }, rows) : null,
      partners.length
        ? S.el("div", { class: "popup-section" }, [
            S.el("strong", { text: isAtlas ? S.t("Matched OSM objects") : S.t("Matched registry stops") }),
            S.el("ul", { class: "plain-list" }, partners),
          ])
        : null,
      problems.length
        ? S.el("div", { class: "popup-section popup-problems" }, [
            S.el("strong", { text: S.t("Problems") + (p.priority ? " (P" + p.priority + ")" : "") }),
            S.el("ul", { class: "plain-list" }, problems),
          ])
        : null,
      links,
    ]);
  }

  // A click, or Enter on the focused marker: Leaflet makes markers focusable buttons but fires only
  // `keypress` for Enter (it opens bound popups; ours are opened by hand).
  function onActivate(marker, action) {
    marker.on("click", action);
    marker.on("keypress", function (event) {
      var key = event.originalEvent;
      if (key.key === "Enter" || key.keyCode === 13) action();
    });
  }

  function render(collection) {
    clusters.clearLayers();
    cellLayer.clearLayers();
    lines.clearLayers();
    markersById = {};
    (collection.cells || []).forEach(function (cell) {
      var marker = L.marker(cell.latlng, { icon: cellIcon(cell), title: cellTitle(cell), keyboard: true });
      // A cell opens by zooming in on it: two levels at a time, and stops one by one at stops_min_zoom.
      onActivate(marker, function () {
        map.setView(cell.latlng, Math.min(map.getZoom() + 2, collection.stopsMinZoom));
      });
      cellLayer.addLayer(marker);
    });
    var markers = [];
    var features = collection.features || [];
    features.forEach(function (feature) {
      var p = feature.properties;
      var c = feature.geometry.coordinates;
      var isSelected = selected !== null && selected.id === feature.id;
      var marker = L.marker([c[1], c[0]], {
        icon: iconFor(p, isSelected),
        title: (p.name || p.key) + (p.kind === "atlas" ? " (" + registryName(p.source) + ")" : " (OSM)"),
        keyboard: true,
        hasProblem: Boolean(p.priority),
      });
      marker.feature = feature;
      onActivate(marker, function () {
        select(feature, marker.getLatLng());
      });
      markersById[feature.id] = marker;
      markers.push(marker);
    });
    features.forEach(function (feature) {
      var p = feature.properties;
      if (p.kind !== "atlas" || !p.partner_keys) return;
      p.partner_keys.forEach(function (key) {
        var partner = markersById["osm:" + key];
        if (!partner) return;
        var from = feature.geometry.coordinates;
        var to = partner.feature.geometry.coordinates;
        var hasDistanceProblem = (p.problem_types || []).indexOf("distance") >= 0;
        lines.addLayer(
          L.polyline(
            [
              [from[1], from[0]],
              [to[1], to[0]],
            ],
            { className: "match-line" + (hasDistanceProblem ? " match-line-problem" : ""), interactive: false },
          ),
        );
      });
    });
    shown = collection;
    clusters.addLayers(markers);
  }

  // ---- the selected stop: popup (wide screens) or bottom sheet (phones) ---------------------------

  function setMarkerSelected(id, isSelected) {
    var marker = markersById[id];
    if (marker) marker.setIcon(iconFor(marker.feature.properties, isSelected));
  }

  function select(feature, latlng) {
    var previous = selected;
    if (previous && previous.id !== feature.id) setMarkerSelected(previous.id, false);
    var current = { id: feature.id, feature: feature, latlng: latlng, popup: null };
    selected = current;
    setMarkerSelected(feature.id, true);
    mapEl.dataset.selected = feature.id;
    var content = popupContent(feature, function () {
      // The content grew (editor links arrived): let Leaflet re-measure the popup.
      if (current.popup && current.popup.isOpen()) current.popup.update();
    });
    if (phone.matches) {
      if (previous && previous.popup) map.closePopup(previous.popup);
      S.clear(sheetBody);
      sheetBody.appendChild(content);
      sheet.hidden = false;
      mapEl.classList.add("has-sheet");
      keepAboveSheet(latlng);
    } else {
      hideSheet();
      current.popup = L.popup({ maxWidth: 320, offset: L.point(0, -4), autoPanPadding: L.point(16, 16) })
        .setLatLng(latlng)
        .setContent(content);
      current.popup.openOn(map);
    }
  }

  // The sheet covers the lower part of the map: one pan brings a stop it hides into the part above.
  // The reload this pan may start redraws the markers only; the selection stays as it is.
  function keepAboveSheet(latlng) {
    var height = map.getSize().y;
    var visible = height - sheet.offsetHeight;
    var y = map.latLngToContainerPoint(latlng).y;
    var margin = 24;
    if (visible > 2 * margin && (y > visible - margin || y < margin)) map.panBy([0, y - visible / 2]);
  }

  function hideSheet() {
    sheet.hidden = true;
    S.clear(sheetBody);
    mapEl.classList.remove("has-sheet");
  }

  function deselect() {
    if (!selected) return;
    var previous = selected;
    selected = null;
    delete mapEl.dataset.selected;
    setMarkerSelected(previous.id, false);
    if (previous.popup && previous.popup.isOpen()) map.closePopup(previous.popup);
    hideSheet();
  }

  // A search jump selects its stop once the stop's marker is loaded (now, or after the request).
  function selectPending() {
    if (!pendingSelect) return;
    var marker = markersById[pendingSelect];
    if (!marker) return;
    pendingSelect = null;
    select(marker.feature, marker.getLatLng());
  }

  function markersAdded() {
    if (!shown) return;
    var collection = shown;
    var count = (collection.features || []).length;
    (collection.cells || []).forEach(function (cell) {
      count += cell.count;
    });
    updateLinesVisibility();
    var text = S.t("{count} stops in view", { count: S.formatNumber(count) });
    setStatus(text, "");
    // For people and tests alike: the features of the latest request are all on the map now.
    mapEl.dataset.loaded = String(count);

    if (pendingSelect && !markersById[pendingSelect]) {
      pendingSelect = null;
      setStatus(text + " · " + S.t("the stop you searched for is hidden by the filters"), "warning");
    }
    selectPending();
  }

  function updateLinesVisibility() {
    var show = map.getZoom() >= LINES_MIN_ZOOM;
    if (show && !map.hasLayer(lines)) map.addLayer(lines);
    if (!show && map.hasLayer(lines)) map.removeLayer(lines);
  }

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = "map-status" + (kind ? " map-status-" + kind : "");
  }

  // ---- filters and URL state ---------------------------------------------------------------

  function checkedValues(name) {
    return Array.prototype.slice
      .call(filtersForm.querySelectorAll('input[name="' + name + '"]:checked'))
      .map(function (input) {
        return input.value;
      });
  }

  function filterParams() {
    var params = {};
    // Both boxes ticked means "no filter"; none ticked means "show nothing", which we keep explicit.
    var status = checkedValues("status");
    if (status.length === 1) params.status = status[0];
    var side = checkedValues("side");
    if (side.length === 1) params.side = side[0];
    ["method", "problem_type", "priority", "operator", "transport"].forEach(function (name) {
      var field = filtersForm.elements[name];
      if (field && field.value.trim()) params[name] = field.value.trim();
    });
    return { params: params, empty: status.length === 0 || side.length === 0 };
  }

  function applyUrlToFilters() {
    var search = new URLSearchParams(window.location.search);
    ["status", "side"].forEach(function (name) {
      var value = search.get(name);
      if (!value) return;
      var wanted = value.split(",");
      filtersForm.querySelectorAll('input[name="' + name + '"]').forEach(function (input) {
        input.checked = wanted.indexOf(input.value) >= 0;
      });
    });
    ["method", "problem_type", "priority", "operator", "transport"].forEach(function (name) {
      var field = filtersForm.elements[name];
      var value = search.get(name);
      if (!field || !value) return;
      if (field.tagName === "SELECT" && !field.querySelector('option[value="' + CSS.escape(value) + '"]')) {
        field.appendChild(S.el("option", { value: value, text: value }));
      }
      field.value = value;
    });
  }

  function viewFromHash() {
    var m = /map=(\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)/.exec(window.location.hash);
    return m ? { zoom: parseFloat(m[1]), lat: parseFloat(m[2]), lon: parseFloat(m[3]) } : null;
  }

  function writeUrl() {
    var center = map.getCenter();
    var zoom = map.getZoom();
    var digits = Math.max(0, Math.ceil(Math.log(zoom) / Math.LN2));
    var hash = "#map=" + zoom + "/" + center.lat.toFixed(digits + 1) + "/" + center.lng.toFixed(digits + 1);
    history.replaceState(null, "", window.location.pathname + S.query(filterParams().params) + hash);
  }

  // ---- loading: the tiles -----------------------------------------------------------------

  // The features of one decoded tile (Leaflet.VectorGrid's VectorTile), positioned from tile units.
  function tileFeatures(vectorTile, coords) {
    var out = { stops: [], cells: [] };
    function latlngOf(layer, feature) {
      var point = feature.geometry[0][0];
      var extent = layer.extent || 4096;
      var pixel = L.point((coords.x + point.x / extent) * TILE_SIZE, (coords.y + point.y / extent) * TILE_SIZE);
      return map.unproject(pixel, coords.z);
    }
    function list(value) {
      try {
        return value ? JSON.parse(value) : [];
      } catch (error) {
        return [];
      }
    }
    var stopsLayer = vectorTile.layers && vectorTile.layers.stops;
    (stopsLayer ? stopsLayer.features : []).forEach(function (feature) {
      var p = feature.properties;
      var latlng = latlngOf(stopsLayer, feature);
      out.stops.push({
        type: "Feature",
        id: p.kind + ":" + p.key,
        geometry: { type: "Point", coordinates: [latlng.lng, latlng.lat] },
        properties: {
          kind: p.kind,
          key: p.key,
          source: p.source === undefined ? null : p.source,
          name: p.name === undefined ? null : p.name,
          operator: p.operator === undefined ? null : p.operator,
          status: p.status,
          method: p.method === undefined ? null : p.method,
          methods: list(p.methods),
          partner_keys: list(p.partner_keys),
          distance_m: p.distance_m === undefined ? null : p.distance_m,
          problem_types: list(p.problem_types),
          priority: p.priority === undefined ? null : p.priority,
          local_ref: p.local_ref === undefined ? null : p.local_ref,
          uic: p.uic === undefined ? null : p.uic,
          transports: list(p.transports),
        },
      });
    });
    var cellsLayer = vectorTile.layers && vectorTile.layers.cells;
    (cellsLayer ? cellsLayer.features : []).forEach(function (feature) {
      var cell = L.extend({}, feature.properties);
      cell.latlng = latlngOf(cellsLayer, feature);
      out.cells.push(cell);
    });
    return out;
  }

  var StopTiles = L.VectorGrid.Protobuf.extend({
    // A tile is data here, not a picture: its features go to the marker layers (see the top).
    createTile: function (coords, done) {
      var tile = document.createElement("div");
      var layer = this;
      var key = this._tileCoordsToKey(coords);
      var url = this._url;
      this._getVectorTilePromise(coords).then(
        function (vectorTile) {
          // A tile of an older filter set (or one dropped meanwhile) answers nothing.
          if (layer._url === url && layer === tiles) tileData[key] = L.extend({ coords: coords }, tileFeatures(vectorTile, coords));
          done(null, tile);
        },
        function (error) {
          done(error, tile);
        },
      );
      return tile;
    },

    // Ask for the tiles of the view plus PAD beyond each edge...
    _getTiledPixelBounds: function (center) {
      var bounds = L.GridLayer.prototype._getTiledPixelBounds.call(this, center);
      var pad = bounds.getSize().multiplyBy(PAD);
      return L.bounds(bounds.min.subtract(pad), bounds.max.add(pad));
    },

    // ...but only when the view itself reaches beyond the tiles there are: a move that stays inside
    // them changes nothing.
    _update: function (center) {
      if (this._map && this._tileZoom !== undefined && this._coversView(center)) return;
      L.GridLayer.prototype._update.call(this, center);
    },

    _coversView: function (center) {
      if (this._clampZoom(this._map.getZoom()) !== this._tileZoom) return false;
      var view = L.GridLayer.prototype._getTiledPixelBounds.call(this, center === undefined ? this._map.getCenter() : center);
      var range = this._pxBoundsToTileRange(view);
      for (var y = range.min.y; y <= range.max.y; y++) {
        for (var x = range.min.x; x <= range.max.x; x++) {
          var coords = L.point(x, y);
          coords.z = this._tileZoom;
          if (this._isValidTile(coords) && !this._tiles[this._tileCoordsToKey(coords)]) return false;
        }
      }
      return true;
    },
  });

  // Everything the loaded tiles of the current zoom hold, drawn at once (as one response was before).
  function collect() {
    var collection = { features: [], cells: [], stopsMinZoom: tiles ? tiles.options.stopsMinZoom : 14 };
    if (!tiles) return collection;
    var zoom = tiles._tileZoom;
    var seen = {};
    Object.keys(tileData).forEach(function (key) {
      var data = tileData[key];
      if (data.coords.z !== zoom) return;
      data.stops.forEach(function (feature) {
        if (seen[feature.id]) return;
        seen[feature.id] = true;
        collection.features.push(feature);
      });
      collection.cells = collection.cells.concat(data.cells);
    });
    return collection;
  }

  // The TileJSON's template as a path on this site: the document names PUBLIC_BASE_URL's host, and
  // the page may be reached under another name (or a test server's port).
  function templatePath(template) {
    return template.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]+/i, "");
  }

  function showTiles(tilejson) {
    var template = templatePath(tilejson.tiles[0]);
    if (tiles && tiles._url === template) {
      selectPending();
      return;
    }
    tileData = {};
    if (tiles) map.removeLayer(tiles);
    tiles = new StopTiles(template, {
      maxNativeZoom: tilejson.maxzoom,
      minZoom: 0,
      maxZoom: map.getMaxZoom(),
      // Tiles named by snapshot: the browser's HTTP cache keeps each one (Cache-Control: immutable).
      fetchOptions: { credentials: "same-origin" },
      stopsMinZoom: tilejson.stops_min_zoom,
      // Nothing to draw on the grid itself; the tiles stay out of the way of clicks and screen readers.
      className: "stop-tiles",
    });
    tiles.on("loading", function () {
      mapEl.classList.add("is-loading");
      setStatus(S.t("Loading stops…"), "");
    });
    tiles.on("load", function () {
      mapEl.classList.remove("is-loading");
      render(collect());
    });
    tiles.on("tileunload", function (event) {
      delete tileData[tiles._tileCoordsToKey(event.coords)];
    });
    tiles.on("tileerror", function (event) {
      setStatus(S.t("Could not load stops: {error}", { error: event.error ? event.error.message : "?" }), "error");
    });
    map.addLayer(tiles);
  }

  function load() {
    var filters = filterParams();
    writeUrl();
    var query = S.query(filters.params);
    if (filters.empty) {
      if (inflight) inflight.abort();
      if (tiles) map.removeLayer(tiles);
      tiles = null;
      tileData = {};
      tileQuery = null;
      mapEl.classList.remove("is-loading");
      render({ features: [], cells: [] });
      setStatus(S.t("Tick at least one side and one status to see stops."), "warning");
      return;
    }
    if (tiles && !inflight && tileQuery === query) {
      // A move: the tile layer loads what the view needs by itself.
      selectPending();
      return;
    }
    if (inflight) inflight.abort();
    var controller = new AbortController();
    inflight = controller;
    mapEl.classList.add("is-loading");
    setStatus(S.t("Loading stops…"), "");
    // The TileJSON names the published snapshot: fetched again at every filter change, so a map
    // open across an import moves on to the new snapshot (older tiles redirect to it meanwhile).
    S.api(tilejsonUrl + query, { signal: controller.signal })
      .then(function (tilejson) {
        if (inflight !== controller) return;
        tileQuery = query;
        showTiles(tilejson);
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        mapEl.classList.remove("is-loading");
        setStatus(S.t("Could not load stops: {error}", { error: error.message }), "error");
      })
      .finally(function () {
        if (inflight === controller) inflight = null;
      });
  }

  function scheduleLoad() {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(load, DEBOUNCE_MS);
  }

  // ---- search --------------------------------------------------------------------------------

  function setupSearch() {
    var input = document.getElementById("search-input");
    var results = document.getElementById("search-results");
    if (!input || !results) return;
    var timer = null;
    var controller = null;

    function jumpTo(result) {
      pendingSelect = result.kind + ":" + result.key;
      map.setView([result.lat, result.lon], Math.max(map.getZoom(), 18));
      S.clear(results);
      // Selected now if its tile is loaded already, else once the tiles of the new view are.
      selectPending();
    }

    // Registry stops under their OSM objects show at most this many; the stop page lists them all.
    var CHILDREN_SHOWN = 4;

    function resultLink(result, isChild) {
      var isAtlas = result.kind === "atlas";
      var meta = [isChild ? null : result.operator, result.municipality, result.key].filter(Boolean);
      var link = S.el("a", { href: S.stopUrl(result.kind, result.key), class: "search-link" }, [
        S.el("span", { class: "badge badge-" + (isAtlas ? "atlas" : "osm"), text: isAtlas ? S.t("Registry") : "OSM" }),
        " ",
        S.el("span", { class: "search-name", text: result.name || result.key }),
        // Many objects share a name (platforms of one stop): the operator, place and key tell them apart.
        S.el("span", { class: "search-meta", text: meta.join(" · ") }),
      ]);
      link.addEventListener("click", function (event) {
        if (result.lat === null || result.lat === undefined) return;
        event.preventDefault();
        jumpTo(result);
      });
      return link;
    }

    function show(list) {
      S.clear(results);
      if (!list.length) {
        results.appendChild(S.el("li", { class: "search-empty", text: S.t("Nothing found") }));
        return;
      }
      list.forEach(function (result) {
        var children = result.osm || [];
        var nested = null;
        if (children.length) {
          var items = children.slice(0, CHILDREN_SHOWN).map(function (child) {
            return S.el("li", {}, [resultLink(child, true)]);
          });
          if (children.length > CHILDREN_SHOWN) {
            items.push(
              S.el("li", { class: "search-more muted", text: S.t("+ {count} more OSM objects", { count: children.length - CHILDREN_SHOWN }) }),
            );
          }
          nested = S.el("ul", { class: "search-children", "aria-label": S.t("Matched OSM objects") }, items);
        }
        results.appendChild(S.el("li", { class: "search-result" }, [resultLink(result, false), nested]));
      });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) {
        S.clear(results);
        return;
      }
      timer = setTimeout(function () {
        if (controller) controller.abort();
        controller = new AbortController();
        S.api("/api/v1/search" + S.query({ q: q, limit: 10 }), { signal: controller.signal })
          .then(function (body) {
            show(body.results || []);
          })
          .catch(function (error) {
            if (error.name !== "AbortError") {
              S.clear(results);
              results.appendChild(S.el("li", { class: "search-empty", text: error.message }));
            }
          });
      }, DEBOUNCE_MS);
    });
    input.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var first = results.querySelector("a");
      if (first) first.click();
    });
  }

  // ---- filter option lists from the stats -------------------------------------------------------

  function fillOptions(select, entries) {
    if (!select) return;
    var current = select.value;
    entries.forEach(function (entry) {
      var existing = select.querySelector('option[value="' + CSS.escape(entry.value) + '"]');
      if (existing) existing.textContent = entry.label;
      else select.appendChild(S.el("option", { value: entry.value, text: entry.label }));
    });
    select.value = current;
  }

  function loadFilterOptions() {
    S.api("/api/v1/stats")
      .then(function (stats) {
        var list = document.getElementById("operator-options");
        (stats.operators || []).forEach(function (o) {
          if (o.operator) list.appendChild(S.el("option", { value: o.operator, label: o.operator + " (" + S.t("{count} stops", { count: S.formatNumber(o.registry_stops) }) + ")" }));
        });
        fillOptions(
          filtersForm.elements.transport,
          (stats.modes || []).map(function (t) {
            return {
              value: t.transport,
              label: catalog.label("transports", t.transport) + " (" + S.formatNumber(t.registry_stops) + ")",
            };
          }),
        );
      })
      .catch(function () {
        // The lists are a convenience; typing a value still works without them.
      });
  }

  // ---- start ---------------------------------------------------------------------------------

  applyUrlToFilters();
  var view = viewFromHash();
  if (view) {
    map.setView([view.lat, view.lon], view.zoom);
  } else {
    var b = (mapEl.dataset.bounds || "5.96,45.82,10.49,47.81").split(",").map(parseFloat);
    map.fitBounds([
      [b[1], b[0]],
      [b[3], b[2]],
    ]);
  }
  map.on("moveend", scheduleLoad);
  map.on("zoomend", updateLinesVisibility);
  map.on("popupclose", function (event) {
    // Only the person closes the selected stop's popup: the close button or a click on the map.
    if (selected && selected.popup === event.popup) deselect();
  });
  map.on("click", deselect); // a click on the map itself; a marker's click selects instead
  document.getElementById("stop-sheet-close").addEventListener("click", deselect);
  sheet.addEventListener("keydown", function (event) {
    if (event.key === "Escape") deselect();
  });
  // Turning a phone (or resizing a window) across the breakpoint moves the selection along.
  phone.addEventListener("change", function () {
    if (selected) select(selected.feature, selected.latlng);
  });
  filtersForm.addEventListener("change", scheduleLoad);
  filtersForm.addEventListener("submit", function (event) {
    event.preventDefault();
    load();
  });
  filtersForm.addEventListener("reset", function () {
    setTimeout(load, 0); // after the browser has reset the fields
  });
  setupSearch();
  loadFilterOptions();
  load();
})();

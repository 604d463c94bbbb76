/* StopSync page helpers shared by every page script: API calls, DOM building, links.
 *
 * Everything that shows data goes through el()/text nodes, never innerHTML: names and notes come from
 * OpenStreetMap and other people, and the CSP forbids inline handlers anyway.
 */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /** An error from the API, carrying the JSON error shape's status, code and details. */
  function ApiError(status, code, message, details) {
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.message = message;
    this.details = details || {};
  }
  ApiError.prototype = Object.create(Error.prototype);

  /**
   * fetch() for our JSON API: sends the session cookie and, for writes, the CSRF header.
   * Resolves with the parsed body; rejects with ApiError (or an AbortError when aborted).
   */
  function api(url, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    var init = { method: options.method || "GET", credentials: "same-origin", headers: headers };
    if (options.signal) init.signal = options.signal;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (init.method !== "GET" && init.method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
    return fetch(url, init).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var parsed = type.indexOf("json") >= 0 ? response.json() : Promise.resolve(null);
      return parsed.then(function (body) {
        if (response.ok) return body;
        var err = (body && body.error) || {};
        throw new ApiError(
          response.status,
          err.code || "http_" + response.status,
          err.message || response.statusText || "Request failed",
          err.details,
        );
      });
    });
  }

  /** Build a query string from an object, skipping empty values. Arrays become comma lists. */
  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      if (Array.isArray(value)) value = value.join(",");
      if (value === undefined || value === null || value === "") return;
      parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  /**
   * Create an element: el("a", {href: "/x", class: "btn", dataset: {key: "1"}}, ["text", child]).
   * Attributes are set with setAttribute; children are strings (text nodes) or nodes.
   */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    attrs = attrs || {};
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null || value === false) return;
      if (name === "dataset") {
        Object.keys(value).forEach(function (k) {
          node.dataset[k] = value[k];
        });
      } else if (name === "text") {
        node.textContent = value;
      } else {
        node.setAttribute(name === "className" ? "class" : name, value === true ? "" : value);
      }
    });
    (children || []).forEach(function (child) {
      if (child === undefined || child === null || child === false) return;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // ---- links to the stop pages, OpenStreetMap and JOSM -------------------------------------

  /** "node/123" -> {type: "node", id: "123"}; null for anything else. */
  function parseOsmKey(key) {
    var m = /^(node|way|relation)\/(\d+)$/.exec(key || "");
    return m ? { type: m[1], id: m[2] } : null;
  }

  function stopUrl(kind, key) {
    if (kind === "atlas") return "/stops/atlas/" + encodeURI(key);
    var osm = parseOsmKey(key);
    return osm ? "/stops/osm/" + osm.type + "/" + osm.id : "#";
  }

  function osmObjectUrl(key) {
    return "https://www.openstreetmap.org/" + key;
  }

  function osmLocationUrl(lat, lon) {
    return "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=19/" + lat + "/" + lon;
  }

  /** JOSM remote control: load these objects (n123, w45) into the running editor. */
  function josmLoadObjectUrl(keys) {
    var objects = keys
      .map(parseOsmKey)
      .filter(Boolean)
      .map(function (o) {
        return o.type.charAt(0) + o.id;
      });
    return "http://127.0.0.1:8111/load_object?objects=" + objects.join(",") + "&relation_members=true";
  }

  /** JOSM remote control: download and zoom to ~60 m around a point (to add a missing stop). */
  function josmZoomUrl(lat, lon) {
    var d = 0.0006;
    return (
      "http://127.0.0.1:8111/load_and_zoom?left=" + (lon - d).toFixed(6) + "&right=" + (lon + d).toFixed(6) +
      "&top=" + (lat + d).toFixed(6) + "&bottom=" + (lat - d).toFixed(6)
    );
  }

  function formatDistance(metres) {
    if (metres === null || metres === undefined) return "";
    return metres < 10 ? metres.toFixed(1) + " m" : Math.round(metres) + " m";
  }

  function formatNumber(n) {
    return n === null || n === undefined ? "" : Number(n).toLocaleString("en-GB");
  }

  /** Labels from a <script type="application/json"> block rendered from app/pages/catalog.py. */
  function catalog() {
    var node = document.getElementById("catalog");
    var data = node ? JSON.parse(node.textContent) : {};
    var lookup = {};
    Object.keys(data).forEach(function (table) {
      lookup[table] = {};
      data[table].forEach(function (entry) {
        lookup[table][entry.code] = entry;
      });
    });
    return {
      lists: data,
      label: function (table, code) {
        var entry = lookup[table] && lookup[table][code];
        return entry ? entry.label : code;
      },
    };
  }

  window.StopSync = {
    ApiError: ApiError,
    api: api,
    query: query,
    csrfToken: csrfToken,
    el: el,
    clear: clear,
    parseOsmKey: parseOsmKey,
    stopUrl: stopUrl,
    osmObjectUrl: osmObjectUrl,
    osmLocationUrl: osmLocationUrl,
    josmLoadObjectUrl: josmLoadObjectUrl,
    josmZoomUrl: josmZoomUrl,
    formatDistance: formatDistance,
    formatNumber: formatNumber,
    catalog: catalog,
    user: function () {
      return { username: document.body.dataset.user || null, role: document.body.dataset.role || null };
    },
  };
})();

/* StopSync page helpers shared by every page script: API calls, DOM building, links.
 *
 * Everything that shows data goes through el()/text nodes, never innerHTML: names and notes come from
 * OpenStreetMap and other people, and the CSP forbids inline handlers anyway.
 */
(function () {
  "use strict";

  // ---- translations -------------------------------------------------------------------------

  var messages = null;

  /**
   * The interface text for an English message in the page's language (<html lang>), from the
   * JSON block base.html renders (app/i18n.py). `{name}` placeholders are filled from `params`.
   * Data values (stop names, operators, tags) are never passed through here.
   */
  function t(message, params) {
    if (messages === null) {
      var node = document.getElementById("i18n");
      try {
        messages = node ? JSON.parse(node.textContent) : {};
      } catch (e) {
        messages = {};
      }
    }
    var text = Object.prototype.hasOwnProperty.call(messages, message) ? messages[message] : message;
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole;
    });
  }

  /** The page's language ("en", "de", "fr", "it"), for number and date formatting. */
  function locale() {
    return document.documentElement.getAttribute("lang") || "en";
  }

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
          err.message || response.statusText || t("Request failed"),
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

  // ---- links to the stop pages and the editors ----------------------------------------------

  /** "node/123" -> {type: "node", id: "123"}; null for anything else. */
  function parseOsmKey(key) {
    var m = /^(node|way|relation)\/(\d+)$/.exec(key || "");
    return m ? { type: m[1], id: m[2] } : null;
  }

  function stopUrl(kind, key, source) {
    // Every character a stop_id may not hold is encoded (a "?" or "#" would cut the path); ":" stays readable.
    // `source`: the registry of a registry stop (kind "atlas", the registry side); the page of a stop
    // asked under another registry's name redirects to its own.
    if (kind === "atlas") {
      return "/stops/" + encodeURIComponent(source || "atlas") + "/" + encodeURIComponent(key || "").replace(/%3A/gi, ":");
    }
    var osm = parseOsmKey(key);
    return osm ? "/stops/osm/" + osm.type + "/" + osm.id : "#";
  }

  /** The stop API's URL for a stop (its detail carries the editor links); null for a bad key. */
  function stopApiUrl(kind, key) {
    var page = stopUrl(kind, key);
    return page === "#" ? null : "/api/v1" + page;
  }

  // Editor URLs are built once, on the server (app/services/editor_links.py), and reach the pages as
  // the stop API's `links`. Only these two destinations are ever turned into a link.
  var EDITOR_URL = /^(https:\/\/www\.openstreetmap\.org\/|http:\/\/127\.0\.0\.1:8111\/)/;

  // The editor links' labels (app/services/editor_links.py) in the page's language; the API answers in English.
  var EDITOR_LABELS = {
    "View on openstreetmap.org": t("View on openstreetmap.org"),
    "Edit in iD": t("Edit in iD"),
    "Open in JOSM": t("Open in JOSM"),
    "Edit here in iD": t("Edit here in iD"),
    "Load area in JOSM": t("Load area in JOSM"),
    "Add in JOSM": t("Add in JOSM"),
  };

  // The editor links' labels (app/services/editor_links.py) in the page's language; the API answers in English.
  var EDITOR_LABELS = {
    "View on openstreetmap.org": t("View on openstreetmap.org"),
    "Edit in iD": t("Edit in iD"),
    "Open in JOSM": t("Open in JOSM"),
    "Edit here in iD": t("Edit here in iD"),
    "Load area in JOSM": t("Load area in JOSM"),
    "Add in JOSM": t("Add in JOSM"),
  };

  /** Buttons for the API's editor links ({editor, action, label, title, url}), each opening a new tab. */
  function editorLinkButtons(links) {
    return (links || [])
      .filter(function (link) {
        return link && typeof link.url === "string" && EDITOR_URL.test(link.url);
      })
      .map(function (link) {
        return el("a", {
          href: link.url,
          target: "_blank",
          rel: "noopener",
          class: "button button-small",
          title: link.title,
          dataset: { editor: link.editor, action: link.action },
          text: EDITOR_LABELS[link.label] || link.label,
        });
      });
  }

  function formatDistance(metres) {
    if (metres === null || metres === undefined) return "";
    return metres < 10 ? metres.toFixed(1) + " m" : Math.round(metres) + " m";
  }

  // Swiss conventions in every language (1'234 in German, 1 234 in French); English keeps 1,234.
  var NUMBER_LOCALES = { en: "en-GB", de: "de-CH", fr: "fr-CH", it: "it-CH" };

  function formatNumber(n) {
    return n === null || n === undefined ? "" : Number(n).toLocaleString(NUMBER_LOCALES[locale()] || "en-GB");
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

  // Every map's zoom buttons (their title is also their accessible name) in the page's language.
  if (window.L && window.L.Control && window.L.Control.Zoom) {
    window.L.Control.Zoom.prototype.options.zoomInTitle = t("Zoom in");
    window.L.Control.Zoom.prototype.options.zoomOutTitle = t("Zoom out");
  }

  window.StopSync = {
    t: t,
    locale: locale,
    ApiError: ApiError,
    api: api,
    query: query,
    csrfToken: csrfToken,
    el: el,
    clear: clear,
    parseOsmKey: parseOsmKey,
    stopUrl: stopUrl,
    stopApiUrl: stopApiUrl,
    editorLinkButtons: editorLinkButtons,
    formatDistance: formatDistance,
    formatNumber: formatNumber,
    catalog: catalog,
    user: function () {
      return { username: document.body.dataset.user || null, role: document.body.dataset.role || null };
    },
  };
})();

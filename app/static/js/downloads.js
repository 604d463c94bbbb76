/* The downloads page: each form builds its export's link as its fields change.
 *
 * The link is the form's chosen file (the `data-path` select, else the form's action) plus every
 * named field that holds a value, in the form's order; empty fields are left out, so the link holds
 * only the filters in use. Fields marked `data-csv-only` count only for a CSV file, fields marked
 * `data-only-path` only for that file: the API refuses a parameter the chosen file does not take.
 */
(function () {
  "use strict";

  var S = window.StopSync;
  var root = document.getElementById("downloads");
  if (!root) return;

  function chosenPath(form) {
    var select = form.querySelector("select[data-path]");
    return select ? select.value : form.getAttribute("action");
  }

  function applies(field, path) {
    var label = field.closest("label");
    if (label && label.hasAttribute("data-csv-only") && !/\.csv$/.test(path)) return false;
    if (label && label.dataset.onlyPath && label.dataset.onlyPath !== path) return false;
    return true;
  }

  function linkFor(form) {
    var path = chosenPath(form);
    var params = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled) return;
      if ((field.type === "checkbox" || field.type === "radio") && !field.checked) return;
      var value = field.value.trim();
      if (value === "" || !applies(field, path)) return;
      params[field.name] = value;
    });
    return path + S.query(params);
  }

  function update(form) {
    var href = linkFor(form);
    var link = form.querySelector(".download-link");
    link.setAttribute("href", href);
    link.textContent = href;
    // Fields the chosen file does not take are greyed out, not hidden: the form keeps its shape.
    Array.prototype.forEach.call(form.querySelectorAll("label[data-csv-only], label[data-only-path]"), function (label) {
      var input = label.querySelector("input, select");
      var on = applies(input, chosenPath(form));
      label.classList.toggle("muted", !on);
      input.disabled = !on;
    });
  }

  Array.prototype.forEach.call(root.querySelectorAll("form.download-form"), function (form) {
    form.addEventListener("input", function () {
      update(form);
    });
    form.addEventListener("change", function () {
      update(form);
    });
    form.addEventListener("submit", function (event) {
      // The built link, not the browser's form encoding: it leaves out empty fields and the
      // parameters the chosen file does not take.
      event.preventDefault();
      window.location.assign(linkFor(form));
    });
    update(form);
  });
  root.dataset.ready = "true";
})();

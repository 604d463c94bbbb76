/* The header menu on narrow screens: one button shows and hides the page links and the account.
 *
 * Loaded right after the header (no inline script: the CSP forbids it). Without this script the
 * header simply wraps and shows every link; with it, phones get a "Menu" button.
 */
(function () {
  "use strict";

  var header = document.querySelector(".site-header");
  var toggle = document.getElementById("nav-toggle");
  if (!header || !toggle) return;
  header.classList.add("has-menu-toggle");

  function setOpen(open) {
    header.classList.toggle("menu-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  toggle.addEventListener("click", function () {
    setOpen(!header.classList.contains("menu-open"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && header.classList.contains("menu-open")) {
      setOpen(false);
      toggle.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (header.classList.contains("menu-open") && !header.contains(event.target)) setOpen(false);
  });
})();

// Regions that scroll sideways (a wide table in its card, a zoomed canvas) must be reachable with the
// keyboard: they get a tab stop and a name, when and while they actually scroll.
(function () {
  "use strict";
  function label(region) {
    var card = region.closest("section, .card, main");
    var heading = card && card.querySelector("h1, h2, h3");
    return heading ? heading.textContent.trim() : "Scrollable content";
  }
  function mark() {
    document.querySelectorAll(".table-wrap, .canvas-frame").forEach(function (region) {
      var scrolls = region.scrollWidth > region.clientWidth + 1 || region.scrollHeight > region.clientHeight + 1;
      if (scrolls && !region.hasAttribute("tabindex")) {
        region.setAttribute("tabindex", "0");
        region.setAttribute("data-scroll-region", "");
        if (!region.getAttribute("role")) region.setAttribute("role", "region");
        if (!region.getAttribute("aria-label")) region.setAttribute("aria-label", label(region));
      }
    });
  }
  mark();
  window.addEventListener("resize", mark);
  document.body.addEventListener("htmx:afterSettle", mark);
  window.setTimeout(mark, 500); // after images and the canvas have their size
})();

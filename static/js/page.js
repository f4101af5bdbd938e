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

// Live pages (agency.live): the page's parts refresh when its event stream says something changed
// (hx-trigger="sse:order"). Where the stream cannot be opened or breaks, the parts that are waiting for
// something (data-live-poll: a delivery being packed, images being checked) ask every 2 seconds instead, until the
// stream is back.
(function () {
  "use strict";
  var timer = null;
  function poll() {
    document.querySelectorAll("[data-live-poll]").forEach(function (part) { htmx.trigger(part, "refresh"); });
  }
  document.body.addEventListener("htmx:sseError", function () {
    if (!timer) timer = window.setInterval(poll, 2000);
  });
  document.body.addEventListener("htmx:sseOpen", function () {
    if (timer) { window.clearInterval(timer); timer = null; }
  });
  // a page that must not redraw itself under the reader (a review being written) says that something changed
  document.body.addEventListener("htmx:sseMessage", function (e) {
    var news = e.target && e.target.closest ? e.target.closest("[data-live-news]") : null;
    if (news) news.hidden = false;
  });
})();

// Every click is safe: a POST form carries a one-time key from its first sending (the server acts on a
// key once: agency.idempotency), and its buttons rest while the request runs. A form htmx keeps on the
// page gets a new key after each answer; a page restored from the back-forward cache starts afresh.
(function () {
  "use strict";
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }
  function isPost(form) { return (form.getAttribute("method") || "").toLowerCase() === "post" || form.hasAttribute("hx-post"); }
  function buttons(form) {
    return Array.prototype.slice.call(form.querySelectorAll("button:not([type=button]), input[type=submit]"))
      .concat(form.id ? Array.prototype.slice.call(document.querySelectorAll("button[form='" + form.id + "']")) : []);
  }
  function rest(form, resting) {
    buttons(form).forEach(function (button) {
      if (resting) { button.setAttribute("data-resting", ""); button.disabled = true; button.setAttribute("aria-busy", "true"); }
      else if (button.hasAttribute("data-resting")) { button.removeAttribute("data-resting"); button.disabled = false; button.removeAttribute("aria-busy"); }
    });
  }
  function forget(form) {
    var input = form.querySelector("input[name=form_key]");
    if (input) input.remove();
    rest(form, false);
  }
  var LOOK_MS = 1000, shownAt = Date.now(), typed = false;
  ["input", "change", "keydown"].forEach(function (name) {
    document.addEventListener(name, function () { typed = true; }, true);
  });
  function cameFromSubmit(previous) {
    // the answer of a form post: the redirect after it, from the page it was sent from (not a reload)
    var nav = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    return Boolean(nav && nav.type === "navigate" && nav.redirectCount > 0 && document.referrer &&
                   document.referrer === previous.from);
  }
  window.addEventListener("pageshow", function () { shownAt = Date.now(); typed = false; });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !isPost(form)) return;
    // On a form marked data-look-first (a decision on what the page shows: QC's pass, a client's review,
    // a payment), the second click of a double click that lands on the page the first one brought back
    // (the server answered within the double click) is not an action: nobody has looked at that page yet. It is a
    // submit less than a second after this page appeared, on the page that answered the previous submit
    // of this tab (its referrer is the page that submit was sent from), less than a second after it, with
    // nothing typed on this page in between.
    var now = Date.now(), previous = {};
    try { previous = JSON.parse(window.sessionStorage.getItem("loupe-submit") || "{}"); } catch (e) { previous = {}; }
    if (form.hasAttribute("data-look-first") && !typed && now - shownAt < LOOK_MS && now - (previous.at || 0) < LOOK_MS && cameFromSubmit(previous)) {
      event.preventDefault();
      return;
    }
    window.sessionStorage.setItem("loupe-submit", JSON.stringify({at: now, from: window.location.href}));
    if (!form.querySelector("input[name=form_key]")) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "form_key"; input.value = newKey();
      form.appendChild(input);
    }
    // after the browser has read the clicked button's name and value
    window.setTimeout(function () { if (!event.defaultPrevented || form.hasAttribute("hx-post")) rest(form, true); }, 0);
  }, true);
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail && event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (form) forget(form);
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) document.querySelectorAll("form").forEach(forget);
  });
})();

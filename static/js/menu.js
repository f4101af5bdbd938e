// The top bar collapses into a menu on phones. Without JavaScript the links simply stay visible.
(function () {
  document.documentElement.classList.add("js");
  var bar = document.currentScript.closest(".topbar");
  var toggle = bar && bar.querySelector(".menu-toggle");
  if (!toggle) return;
  toggle.addEventListener("click", function () {
    var open = bar.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && bar.classList.contains("open")) {
      bar.classList.remove("open");
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  });
})();

/* Loupe's review canvas (UI.md "The review canvas"): one layout for QC, client proofing and the
 * retoucher's workspace. Progressive: without JavaScript the original and the version are shown one
 * under the other and the forms still post; with it the canvas compares them (slider, side by side),
 * zooms (fit, 100 %, 200 %), follows the pointer with a loupe, switches the background (white, black,
 * checkerboard) and, where the page asks for it, drops numbered marks that the form sends as JSON: W3C
 * Web Annotation targets in the version's own pixels (data-width × data-height), numbered after the
 * image's existing marks (data-next), as the server will number them.
 * Keys: ←/→ image, S compare mode, B background, Z zoom, L loupe, A approve, R request changes. */
(function () {
  "use strict";
  var MODES = ["slider", "side", "after", "before"];
  var BACKGROUNDS = ["white", "black", "checker"];
  var ZOOMS = ["fit", "100", "200"];

  function press(group, attr, value) {
    group.forEach(function (b) { b.setAttribute("aria-pressed", String(b.getAttribute(attr) === value)); });
  }

  function Canvas(root) {
    this.root = root;
    this.stage = root.querySelector(".canvas-stage");
    this.layers = root.querySelector(".canvas-layers");
    this.after = root.querySelector(".layer.after");
    this.before = root.querySelector(".layer.before");
    this.split = root.querySelector("input.split");
    this.loupe = root.querySelector(".loupe");
    this.pinsLayer = root.querySelector(".pins-new");
    this.field = root.dataset.pinField ? document.getElementById(root.dataset.pinField) : null;
    this.list = root.dataset.pinList ? document.getElementById(root.dataset.pinList) : null;
    this.pins = [];
    this.first = Number(root.dataset.next) || 1;
    this.mode = this.after ? "slider" : "before";
    this.bg = "white";
    this.zoom = "fit";
    this.loupeOn = false;
    this.factor = 1;
    root.classList.add("js");
    this.bind();
    this.setMode(this.mode);
    this.setBackground(this.bg);
  }

  Canvas.prototype.bind = function () {
    var self = this;
    this.modeButtons = Array.prototype.slice.call(this.root.querySelectorAll("[data-mode]"));
    this.bgButtons = Array.prototype.slice.call(this.root.querySelectorAll("[data-bg]"));
    this.zoomButtons = Array.prototype.slice.call(this.root.querySelectorAll("[data-zoom]"));
    this.loupeButton = this.root.querySelector("[data-loupe]");
    this.modeButtons.forEach(function (b) { b.addEventListener("click", function () { self.setMode(b.dataset.mode); }); });
    this.bgButtons.forEach(function (b) { b.addEventListener("click", function () { self.setBackground(b.dataset.bg); }); });
    this.zoomButtons.forEach(function (b) { b.addEventListener("click", function () { self.setZoom(b.dataset.zoom); }); });
    if (this.loupeButton) this.loupeButton.addEventListener("click", function () { self.toggleLoupe(); });
    if (this.split) this.split.addEventListener("input", function () { self.setSplit(self.split.value); });
    if (this.layers) {
      this.layers.addEventListener("pointermove", function (e) { self.moveLoupe(e); });
      this.layers.addEventListener("pointerleave", function () { if (self.loupe) self.loupe.hidden = true; });
      if (this.field) this.layers.addEventListener("click", function (e) { self.addPin(e); });
    }
  };

  Canvas.prototype.setMode = function (mode) {
    if (!this.after && mode !== "before") mode = "before";
    this.mode = mode;
    MODES.forEach(function (m) { this.stage.classList.toggle("mode-" + m, m === mode); }, this);
    press(this.modeButtons, "data-mode", mode);
    if (this.split) this.split.hidden = mode !== "slider";
    this.setSplit(this.split ? this.split.value : 50);
  };

  Canvas.prototype.setSplit = function (value) {
    if (!this.after) return;
    var v = Math.max(0, Math.min(100, Number(value)));
    var slider = this.mode === "slider";
    // Both sides are clipped: a cut-out version's transparent area shows the chosen background, not
    // the original underneath.
    this.after.style.clipPath = slider ? "inset(0 0 0 " + v + "%)" : "";
    if (this.before) this.before.style.clipPath = slider ? "inset(0 " + (100 - v) + "% 0 0)" : "";
    this.stage.style.setProperty("--split", v + "%");
  };

  Canvas.prototype.setBackground = function (bg) {
    this.bg = bg;
    BACKGROUNDS.forEach(function (b) { this.stage.classList.toggle("bg-" + b, b === bg); }, this);
    press(this.bgButtons, "data-bg", bg);
  };

  Canvas.prototype.setZoom = function (zoom) {
    this.zoom = zoom;
    var img = this.after || this.before;
    if (!img || !this.layers) return;
    var natural = img.naturalWidth || 1600;
    this.layers.style.width = zoom === "fit" ? "" : (natural * (zoom === "200" ? 2 : 1)) + "px";
    this.stage.classList.toggle("zoomed", zoom !== "fit");
    press(this.zoomButtons, "data-zoom", zoom);
  };

  Canvas.prototype.toggleLoupe = function () {
    this.loupeOn = !this.loupeOn;
    if (this.loupeButton) this.loupeButton.setAttribute("aria-pressed", String(this.loupeOn));
    if (!this.loupeOn && this.loupe) this.loupe.hidden = true;
  };

  Canvas.prototype.shownImage = function (x) {
    if (this.mode === "before" || !this.after) return this.before;
    if (this.mode === "slider" && this.split) return x < Number(this.split.value) ? this.before : this.after;
    return this.after;
  };

  Canvas.prototype.moveLoupe = function (e) {
    if (!this.loupeOn || !this.loupe) return;
    var target = e.target.closest(".layer") || this.after || this.before;
    var rect = target.getBoundingClientRect();
    var fx = (e.clientX - rect.left) / rect.width, fy = (e.clientY - rect.top) / rect.height;
    if (fx < 0 || fy < 0 || fx > 1 || fy > 1) { this.loupe.hidden = true; return; }
    var img = this.mode === "side" ? target : this.shownImage(fx * 100);
    // 100 % of the preview's own pixels, doubled at 200 % zoom.
    var scale = (img.naturalWidth / rect.width) * (this.zoom === "200" ? 2 : 1) || 2;
    var size = 180, w = rect.width * scale, h = rect.height * scale;
    this.loupe.hidden = false;
    this.loupe.style.backgroundImage = "url('" + img.currentSrc + "')";
    this.loupe.style.backgroundSize = w + "px " + h + "px";
    this.loupe.style.backgroundPosition = (size / 2 - fx * w) + "px " + (size / 2 - fy * h) + "px";
    var stage = this.stage.getBoundingClientRect();
    this.loupe.style.left = (e.clientX - stage.left - size / 2) + "px";
    this.loupe.style.top = (e.clientY - stage.top - size / 2) + "px";
  };

  // Pins ------------------------------------------------------------------------------------------
  Canvas.prototype.addPin = function (e) {
    var img = this.after || this.before;
    var rect = img.getBoundingClientRect();
    var x = (e.clientX - rect.left) / rect.width, y = (e.clientY - rect.top) / rect.height;
    if (x < 0 || y < 0 || x > 1 || y > 1) return;
    if (this.pins.length >= 50) { window.alert("At most 50 marks per image and round."); return; }
    var w = Number(this.root.dataset.width), h = Number(this.root.dataset.height);
    if (!w || !h) return;
    // The pixel under the pointer: the version's own pixels, whatever size its preview is shown at.
    var px = Math.min(w - 1, Math.floor(x * w)), py = Math.min(h - 1, Math.floor(y * h));
    this.pins.push({px: px, py: py, x: (px + 0.5) / w, y: (py + 0.5) / h, text: ""});
    this.renderPins(this.pins.length - 1);
    var decision = document.querySelector("input[name='decision_" + this.root.dataset.image + "'][value='revise']");
    if (decision) { decision.checked = true; decision.dispatchEvent(new Event("change", {bubbles: true})); }
  };

  Canvas.prototype.renderPins = function (focus) {
    var self = this;
    if (this.pinsLayer) {
      this.pinsLayer.innerHTML = "";
      this.pins.forEach(function (pin, i) {
        var mark = document.createElement("li");
        mark.className = "pin pin-new";
        mark.style.left = (pin.x * 100) + "%";
        mark.style.top = (pin.y * 100) + "%";
        mark.textContent = String(self.first + i);
        mark.title = pin.text || "Mark " + (self.first + i);
        self.pinsLayer.appendChild(mark);
      });
    }
    if (this.list) {
      this.list.innerHTML = "";
      this.pins.forEach(function (pin, i) {
        var row = document.createElement("li");
        var label = document.createElement("label");
        label.className = "pin-label";
        label.textContent = "Mark " + (self.first + i);
        var text = document.createElement("textarea");
        text.rows = 2;
        text.maxLength = 2000;
        text.required = true;
        text.value = pin.text;
        text.placeholder = "What should change here?";
        text.id = self.root.dataset.image + "-pin-" + i;
        label.htmlFor = text.id;
        text.addEventListener("input", function () { pin.text = text.value; self.save(); });
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "btn btn-small";
        remove.textContent = "Remove";
        remove.addEventListener("click", function () { self.pins.splice(i, 1); self.renderPins(); });
        row.appendChild(label); row.appendChild(text); row.appendChild(remove);
        self.list.appendChild(row);
        if (i === focus) text.focus();
      });
    }
    this.save();
  };

  Canvas.prototype.save = function () {
    if (this.field) this.field.value = JSON.stringify(this.pins.map(function (pin) {
      return {text: pin.text, target: {selector: {type: "FragmentSelector", conformsTo: "http://www.w3.org/TR/media-frags/",
                                                  value: "xywh=pixel:" + pin.px + "," + pin.py + ",0,0"}}};
    }));
  };

  // The filmstrip: one image panel at a time when JavaScript runs ----------------------------------
  function Strip(root) {
    var links = Array.prototype.slice.call(root.querySelectorAll("[data-target]"));
    if (!links.length) return;
    var panels = links.map(function (a) { return document.getElementById(a.dataset.target); });
    var current = 0;
    function show(i) {
      current = (i + links.length) % links.length;
      panels.forEach(function (p, n) { if (p) p.hidden = n !== current; });
      links.forEach(function (a, n) { a.setAttribute("aria-current", n === current ? "true" : "false"); });
    }
    links.forEach(function (a, n) { a.addEventListener("click", function (e) { e.preventDefault(); show(n); }); });
    document.body.classList.add("has-strip");
    var start = links.findIndex(function (a) { return "#" + a.dataset.target === window.location.hash; });
    show(start >= 0 ? start : 0);
    return {next: function () { show(current + 1); }, prev: function () { show(current - 1); },
            panel: function () { return panels[current]; }};
  }

  var canvases = Array.prototype.slice.call(document.querySelectorAll("[data-canvas]")).map(function (el) {
    return new Canvas(el);
  });
  var strip = document.querySelector("[data-strip]") ? Strip(document.querySelector("[data-strip]")) : null;

  function active() {
    var panel = strip ? strip.panel() : document;
    var el = panel && panel.querySelector("[data-canvas]");
    return canvases.find(function (c) { return c.root === el; }) || canvases[0];
  }

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "textarea" || tag === "input" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) return;
    var c = active();
    var key = e.key.toLowerCase();
    if (key === "arrowright" && strip) { strip.next(); e.preventDefault(); }
    else if (key === "arrowleft" && strip) { strip.prev(); e.preventDefault(); }
    else if (c && key === "s") c.setMode(MODES[(MODES.indexOf(c.mode) + 1) % (c.after ? MODES.length : 1)]);
    else if (c && key === "b") c.setBackground(BACKGROUNDS[(BACKGROUNDS.indexOf(c.bg) + 1) % BACKGROUNDS.length]);
    else if (c && key === "z") c.setZoom(ZOOMS[(ZOOMS.indexOf(c.zoom) + 1) % ZOOMS.length]);
    else if (c && key === "l") c.toggleLoupe();
    else if (c && (key === "a" || key === "r")) {
      var value = key === "a" ? "approve" : "revise";
      var radio = document.querySelector("input[name='decision_" + c.root.dataset.image + "'][value='" + value + "']");
      if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", {bubbles: true})); }
    }
  });

  // "Approve all remaining" and the revise fields that only matter when changes are requested.
  var all = document.querySelector("[data-approve-all]");
  if (all) all.addEventListener("click", function () {
    document.querySelectorAll("input[type=radio][value=approve]").forEach(function (r) {
      var chosen = document.querySelector("input[name='" + r.name + "']:checked");
      if (!chosen) { r.checked = true; r.dispatchEvent(new Event("change", {bubbles: true})); }
    });
  });
  document.querySelectorAll("[data-decision]").forEach(function (group) {
    function sync() {
      var chosen = group.querySelector("input:checked");
      var box = document.getElementById(group.dataset.decision);
      if (box) box.hidden = !chosen || chosen.value !== "revise";
      var tag = document.querySelector("[data-strip-state='" + group.dataset.image + "']");
      if (tag) tag.textContent = chosen ? (chosen.value === "approve" ? "Approve" : "Changes") : "Waiting";
    }
    group.addEventListener("change", sync);
    sync();
  });
})();

/* Loupe's review canvas (UI.md "The review canvas"): one layout for QC, client proofing and the
 * retoucher's workspace, on OpenSeadragon (deep zoom from the tile pyramid the worker makes; the preview
 * until it is there). Every picture is shown whole, in its own proportions: single, side by side with
 * mirrored zoom and pan, wipe, or difference (the last two only for pictures of the same shape; the
 * canvas says so otherwise). Marks are kept and drawn in the pixels of the file they were made on:
 * one viewport unit is the file's width, so file pixel (x, y) sits at (x / W, y / W) at every zoom.
 * Where the page allows it, the Mark tool drops a point (click) or a rectangle (drag): into the
 * proofing form's field (sent with the review) or straight to the API (QC, the studio).
 * Keys: ← → image, S compare mode, B background, Z zoom (fit, 100 %, 200 %, 400 %), + − zoom, 0 fit,
 * M mark tool, N next open mark, A approve, R request changes. Without JavaScript the previews are
 * shown one under the other and the forms still post. */
(function () {
  "use strict";
  var OSD = window.OpenSeadragon;
  var MODES = ["single", "side", "wipe", "difference"];
  var BACKGROUNDS = ["white", "black", "checker"];
  var ZOOMS = ["fit", "1", "2", "4"];
  var SAME_SHAPE = 0.005;
  var SHAPE_WORDS = {rect: " (area)", ellipse: " (ellipse)", arrow: " (arrow)", freehand: " (freehand)"};  // aspect ratios closer than this are one shape: wipe and difference align them
  var sources = {};

  // Geometry: the only two functions that turn file pixels into the viewer's space and back.
  function toViewport(file, x, y) { return {x: x / file.width, y: y / file.width}; }
  function toPixel(file, point) { return {x: point.x * file.width, y: point.y * file.width}; }
  window.LoupeCanvas = {toViewport: toViewport, toPixel: toPixel, canvases: []};

  function press(group, attr, value) {
    group.forEach(function (b) { b.setAttribute("aria-pressed", String(b.getAttribute(attr) === value)); });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgEl(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function csrf() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return match ? decodeURIComponent(match[1]) : (field ? field.value : "");
  }

  // The tile source of a file: its Deep Zoom pyramid (carried by the page when it is made; asked for
  // otherwise: a held order's watermarked pyramid is made when first asked), or its preview while the
  // pyramid is being made.
  function deepZoom(d) {
    return {width: d.width, height: d.height, tileSize: d.tile_size, tileOverlap: d.overlap,
            getTileUrl: function (level, x, y) {
              return d.tiles.replace("{level}", level).replace("{col}", x).replace("{row}", y);
            }};
  }
  function tileSource(file) {
    if (!sources[file.tiles]) {
      sources[file.tiles] = file.source ? Promise.resolve(deepZoom(file.source)) :
        fetch(file.tiles, {credentials: "same-origin", headers: {Accept: "application/json"}})
          .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
          .then(deepZoom)
          .catch(function () { return {type: "image", url: file.preview}; });
    }
    return sources[file.tiles];
  }

  function Canvas(root) {
    this.root = root;
    this.data = JSON.parse(document.getElementById(root.dataset.json).textContent);
    this.files = {};
    this.data.files.forEach(function (f) { this.files[f.key] = f; }, this);
    var keys = this.data.files.map(function (f) { return f.key; });
    this.main = this.files[root.dataset.main] ? root.dataset.main : keys[keys.length - 1];
    this.left = this.main;
    var others = keys.filter(function (k) { return k !== this.main; }, this);
    this.right = this.files.o && this.main !== "o" ? "o" : others[others.length - 1] || null;
    this.mode = this.right ? "side" : "single";
    this.bg = "white";
    this.zoom = "fit";
    this.tool = false;
    this.shape = "rect";
    this.fresh = [];
    this.first = Number(root.dataset.next) || 1;
    this.stage = root.querySelector(".canvas-stage");
    this.panes = [root.querySelector(".viewer-left"), root.querySelector(".viewer-right")];
    this.note = root.querySelector(".canvas-note");
    this.split = root.querySelector("input.split");
    this.field = root.dataset.pinField ? document.getElementById(root.dataset.pinField) : null;
    this.list = root.dataset.pinList ? document.getElementById(root.dataset.pinList) : null;
    this.api = root.dataset.marksApi || null;
    this.viewers = [];
    this.started = false;
    root.classList.add("js");
    this.bind();
    window.LoupeCanvas.canvases.push(this);
  }

  Canvas.prototype.bind = function () {
    var self = this, root = this.root;
    function all(selector) { return Array.prototype.slice.call(root.querySelectorAll(selector)); }
    this.modeButtons = all("[data-mode]");
    this.bgButtons = all("[data-bg]");
    this.zoomButtons = all("[data-zoom]");
    this.toolButton = root.querySelector("[data-mark-tool]");
    this.leftSelect = root.querySelector("select[data-left]");
    this.rightSelect = root.querySelector("select[data-right]");
    this.colour = root.querySelector("input[data-bg-colour]");
    this.modeButtons.forEach(function (b) { b.addEventListener("click", function () { self.setMode(b.dataset.mode); }); });
    this.bgButtons.forEach(function (b) { b.addEventListener("click", function () { self.setBackground(b.dataset.bg); }); });
    this.zoomButtons.forEach(function (b) { b.addEventListener("click", function () { self.setZoom(b.dataset.zoom); }); });
    if (this.toolButton) this.toolButton.addEventListener("click", function () { self.setTool(!self.tool); });
    this.shapeSelect = root.querySelector("select[data-shape]");
    if (this.shapeSelect) this.shapeSelect.addEventListener("change", function () {
      self.shape = self.shapeSelect.value;
      self.setTool(true);
    });
    if (this.colour) this.colour.addEventListener("input", function () { self.setBackground("colour"); });
    if (this.split) this.split.addEventListener("input", function () { self.clip(); });
    [this.leftSelect, this.rightSelect].forEach(function (select, side) {
      if (!select) return;
      select.value = side ? (self.right || "") : self.left;
      select.addEventListener("change", function () {
        if (side) self.right = select.value || null; else self.left = select.value;
        self.render();
      });
    });
    this.setBackground(this.bg);
  };

  // Viewers are made when their panel is first shown (a filmstrip of 200 images opens one).
  Canvas.prototype.start = function () {
    if (this.started || !OSD) return;
    this.started = true;
    this.render();
  };

  Canvas.prototype.viewer = function (n) {
    if (this.viewers[n]) return this.viewers[n];
    var self = this;
    var viewer = OSD({
      element: this.panes[n], drawer: "canvas", showNavigationControl: false, animationTime: 0.2,
      visibilityRatio: 0.6, minZoomImageRatio: 0.8, maxZoomPixelRatio: 64, preserveImageSizeOnResize: true,
      gestureSettingsMouse: {clickToZoom: false, dblClickToZoom: true, scrollToZoom: true},
      gestureSettingsTouch: {clickToZoom: false, dblClickToZoom: true, pinchToZoom: true},
      crossOriginPolicy: false,
    });
    viewer.addHandler("canvas-key", function (e) { e.preventDefaultAction = true; });  // Loupe's keys, below
    viewer.addHandler("viewport-change", function () { self.mirror(n); });
    this.drawing(viewer, n);
    this.viewers[n] = viewer;
    return viewer;
  };

  // Side by side: each viewer follows the other's zoom and pan. Both files are one viewport unit wide, so
  // the zoom carries over as it is; the centre carries over as the same fraction of each picture's width
  // and height, which is the same pixel for pictures of one shape and keeps both whole at fit otherwise.
  Canvas.prototype.mirror = function (from) {
    var source = this.viewers[from], other = this.viewers[1 - from];
    if (this.shown !== "side" || this.mirroring || !other || !source.shownFile || !other.shownFile) return;
    var a = source.shownFile, b = other.shownFile, centre = source.viewport.getCenter();
    this.mirroring = true;
    other.viewport.zoomTo(source.viewport.getZoom(), null, true);
    other.viewport.panTo(new OSD.Point(centre.x, centre.y * (a.width / a.height) * (b.height / b.width)), true);
    this.mirroring = false;
  };

  Canvas.prototype.sameShape = function () {
    var a = this.files[this.left], b = this.right && this.files[this.right];
    return !!b && Math.abs(a.width / a.height - b.width / b.height) < SAME_SHAPE;
  };

  Canvas.prototype.setMode = function (mode) {
    this.mode = mode;
    this.render();
  };

  Canvas.prototype.render = function () {
    var self = this, left = this.files[this.left], right = this.right && this.right !== this.left ? this.files[this.right] : null;
    var mode = right ? this.mode : "single", note = "";
    if ((mode === "wipe" || mode === "difference") && !this.sameShape()) {
      note = left.label + " (" + left.width + " × " + left.height + ") and " + right.label + " (" + right.width + " × " +
        right.height + ") differ in shape: shown side by side, each whole, not laid over each other.";
      mode = "side";
    }
    this.shown = mode;
    this.stage.classList.toggle("two", mode === "side");
    MODES.forEach(function (m) { this.stage.classList.toggle("mode-" + m, m === mode); }, this);
    press(this.modeButtons, "data-mode", mode);
    this.modeButtons.forEach(function (b) {
      var overlay = b.dataset.mode === "wipe" || b.dataset.mode === "difference";
      b.disabled = !right || (overlay && !self.sameShape());
      b.title = b.disabled && right ? "Only for pictures of the same shape" : "";
    });
    if (this.note) { this.note.textContent = note; this.note.hidden = !note; }
    if (this.split) this.split.hidden = mode !== "wipe";
    this.panes[1].hidden = mode !== "side";
    if (!this.started) return;
    this.fit();
    var layers = [{file: left}];
    if (right && (mode === "wipe" || mode === "difference")) {
      layers.push({file: right, composite: mode === "difference" ? "difference" : null});
    }
    this.open(0, layers);
    if (mode === "side") this.open(1, [{file: right}]);
  };

  // The panes take the shape of the tallest picture shown (within 240 px and 70 % of the window).
  Canvas.prototype.fit = function () {
    var files = this.shown === "side" ? [this.files[this.left], this.files[this.right]] : [this.files[this.left]];
    var tall = Math.max.apply(null, files.map(function (f) { return f.height / f.width; }));
    var width = this.panes[0].getBoundingClientRect().width || 1;
    var height = Math.round(Math.max(240, Math.min(window.innerHeight * 0.7, width * tall)));
    this.panes.forEach(function (pane) { pane.style.height = height + "px"; });
  };

  Canvas.prototype.open = function (n, layers) {
    var self = this, viewer = this.viewer(n);
    Promise.all(layers.map(function (layer) { return tileSource(layer.file); })).then(function (found) {
      var keep = viewer.world.getItemCount() ? viewer.viewport.getBounds() : null;
      viewer.world.removeAll();
      viewer.shownFile = layers[0].file;
      var waiting = layers.length;
      layers.forEach(function (layer, i) {
        viewer.addTiledImage({
          tileSource: found[i], x: 0, y: 0, width: 1, index: i, compositeOperation: layer.composite || null,
          success: function () {
            waiting -= 1;
            if (waiting) return;
            if (keep) viewer.viewport.fitBounds(keep, true); else viewer.viewport.goHome(true);
            self.limits(viewer);
            self.clip();
            self.drawMarks(viewer, n);
            if (n === 0 && self.zoom !== "fit") self.setZoom(self.zoom);
            self.root.dataset.ready = String((Number(self.root.dataset.ready) || 0) + 1);
          },
          error: function () { self.fail(viewer); },
        });
      });
    });
  };

  Canvas.prototype.fail = function (viewer) {
    if (this.note) { this.note.textContent = "This picture could not be shown; reload the page."; this.note.hidden = false; }
  };

  // Up to 400 % of the files' own pixels, whatever the source (a watermarked or preview source is smaller);
  // the widest file sets it, so a pane mirroring another is never stopped short.
  Canvas.prototype.limits = function (viewer) {
    var width = viewer.viewport.getContainerSize().x || 1;
    var widest = Math.max.apply(null, this.data.files.map(function (f) { return f.width; }));
    viewer.viewport.maxZoomLevel = 4.05 * widest / width;
  };

  Canvas.prototype.clip = function () {
    var viewer = this.viewers[0];
    if (!viewer || this.shown !== "wipe" || viewer.world.getItemCount() < 2) return;
    var top = viewer.world.getItemAt(1), size = top.source.dimensions;
    var v = Math.max(0, Math.min(100, Number(this.split.value))) / 100;
    top.setClip(new OSD.Rect(v * size.x, 0, size.x * (1 - v) + 1, size.y));
    this.stage.style.setProperty("--split", (v * 100) + "%");
  };

  Canvas.prototype.setBackground = function (bg) {
    this.bg = bg;
    BACKGROUNDS.concat(["colour"]).forEach(function (b) { this.stage.classList.toggle("bg-" + b, b === bg); }, this);
    this.stage.style.backgroundColor = bg === "colour" && this.colour ? this.colour.value : "";
    press(this.bgButtons, "data-bg", bg);
  };

  Canvas.prototype.setZoom = function (zoom) {
    this.zoom = zoom;
    press(this.zoomButtons, "data-zoom", zoom);
    var viewer = this.viewers[0];  // side by side, the other pane mirrors this one
    if (!viewer || !viewer.world.getItemCount()) return;
    // A chosen zoom is reached at once (the wheel and pinch glide): the tiles of the new view are asked
    // for straight away, not after an animation through the levels between.
    if (zoom === "fit") { viewer.viewport.goHome(true); return; }
    // zoom z shows one viewport unit (the file's width, W pixels) over z × the pane's width
    var width = viewer.viewport.getContainerSize().x || 1;
    viewer.viewport.zoomTo(Number(zoom) * viewer.shownFile.width / width, null, true);
  };

  Canvas.prototype.step = function (factor) {
    var viewer = this.viewers[0];
    if (viewer) viewer.viewport.zoomBy(factor);
  };

  // Marks --------------------------------------------------------------------------------------------
  function arrowhead() {  // one marker for every arrow on the page
    if (document.getElementById("arrowhead")) return;
    var svg = svgEl("svg", {width: "0", height: "0", "aria-hidden": "true", style: "position: absolute"});
    var defs = svgEl("defs", {}), marker = svgEl("marker", {id: "arrowhead", viewBox: "0 0 10 10", refX: "9", refY: "5",
                                                          markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse"});
    marker.appendChild(svgEl("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "currentColor"}));
    defs.appendChild(marker);
    svg.appendChild(defs);
    document.body.appendChild(svg);
  }

  function markElement(mark, file) {
    var box = mark.box, node = el("div", {"class": "mark mark-" + mark.shape + (mark.resolved ? " mark-resolved" : "") +
                                                   (mark.studio ? " mark-studio" : "") + (mark.fresh ? " mark-new" : ""),
                                          "data-number": mark.number, title: mark.text || ""});
    if (mark.draw && mark.draw.tag) {
      var w = Math.max(box[2], 1), h = Math.max(box[3], 1);
      var svg = svgEl("svg", {viewBox: [box[0], box[1], w, h].join(" "), preserveAspectRatio: "none", "aria-hidden": "true"});
      var attrs = {"vector-effect": "non-scaling-stroke"};
      Object.keys(mark.draw.attrs).forEach(function (k) { attrs[k] = mark.draw.attrs[k]; });
      if (mark.shape === "arrow") { arrowhead(); attrs["marker-end"] = "url(#arrowhead)"; }
      svg.appendChild(svgEl(mark.draw.tag, attrs));
      node.appendChild(svg);
    }
    node.appendChild(el("span", {"class": "mark-number"}, String(mark.number)));
    return node;
  }

  Canvas.prototype.marksOf = function (file) {
    return this.data.marks.concat(this.fresh).filter(function (m) { return m.file === file.key && m.shape !== "whole"; });
  };

  Canvas.prototype.drawMarks = function (viewer, n) {
    viewer.clearOverlays();
    var file = viewer.shownFile;
    this.marksOf(file).forEach(function (mark) {
      var box = mark.box, element = markElement(mark, file);
      if (mark.shape === "point") {
        var at = toViewport(file, box[0] + 0.5, box[1] + 0.5);
        viewer.addOverlay({element: element, location: new OSD.Point(at.x, at.y), placement: OSD.Placement.CENTER,
                           checkResize: false});
      } else {
        var corner = toViewport(file, box[0], box[1]);
        viewer.addOverlay({element: element, location: new OSD.Rect(corner.x, corner.y, Math.max(box[2], 1) / file.width,
                                                                       Math.max(box[3], 1) / file.width)});
      }
    });
  };

  Canvas.prototype.redraw = function () {
    this.viewers.forEach(function (viewer, n) { if (viewer && viewer.shownFile) this.drawMarks(viewer, n); }, this);
  };

  Canvas.prototype.setTool = function (on) {
    this.tool = on && !!(this.field || this.api);
    if (this.toolButton) this.toolButton.setAttribute("aria-pressed", String(this.tool));
    this.stage.classList.toggle("marking", this.tool);
    if (this.tool && this.left !== this.main && this.shown !== "side") { this.left = this.main; this.render(); }
  };

  // The pixel of the file under a point of the pane, or null off the picture.
  Canvas.prototype.pixelAt = function (viewer, position) {
    var file = viewer.shownFile, p = toPixel(file, viewer.viewport.pointFromPixel(position));
    if (p.x < 0 || p.y < 0 || p.x >= file.width || p.y >= file.height) return null;
    return {x: Math.floor(p.x), y: Math.floor(p.y)};
  };

  // What a drag draws, by the shape chosen beside the Mark button: an area (rectangle), an ellipse in the
  // dragged box, an arrow from where the drag started to where it ended, or the freehand line dragged.
  // A click is always a point. Every point is a pixel of the file, inside it.
  function dragged(shape, path) {
    var a = path[0], b = path[path.length - 1];
    var box = [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(b.x - a.x), Math.abs(b.y - a.y)];
    if (shape === "ellipse") {
      var rx = Math.max(1, Math.floor(box[2] / 2)), ry = Math.max(1, Math.floor(box[3] / 2));
      return {shape: "ellipse", box: [box[0] + box[2] / 2 - rx, box[1] + box[3] / 2 - ry, 2 * rx, 2 * ry],
              draw: {tag: "ellipse", attrs: {cx: String(box[0] + box[2] / 2), cy: String(box[1] + box[3] / 2),
                                             rx: String(rx), ry: String(ry)}}};
    }
    if (shape === "arrow") {
      return {shape: "arrow", box: box, draw: {tag: "line", attrs: {x1: String(a.x), y1: String(a.y),
                                                                    x2: String(b.x), y2: String(b.y)}}};
    }
    if (shape === "freehand") {
      var xs = path.map(function (p) { return p.x; }), ys = path.map(function (p) { return p.y; });
      var left = Math.min.apply(null, xs), top = Math.min.apply(null, ys);
      return {shape: "freehand", box: [left, top, Math.max.apply(null, xs) - left, Math.max.apply(null, ys) - top],
              draw: {tag: "polyline", attrs: {points: path.map(function (p) { return p.x + "," + p.y; }).join(" ")}}};
    }
    return {shape: "rect", box: box};
  }

  Canvas.prototype.drawing = function (viewer, n) {
    var self = this, path = null, ghost = null;
    function allowed() { return self.tool && viewer.shownFile && viewer.shownFile.key === self.main; }
    viewer.addHandler("canvas-press", function (e) {
      var at = allowed() ? self.pixelAt(viewer, e.position) : null;
      path = at ? [at] : null;
    });
    viewer.addHandler("canvas-drag", function (e) {
      if (!path) return;
      e.preventDefaultAction = true;
      var at = self.pixelAt(viewer, e.position), last = path[path.length - 1], file = viewer.shownFile;
      if (at && (Math.abs(at.x - last.x) >= 2 || Math.abs(at.y - last.y) >= 2) && path.length < 2000) path.push(at);
      var outline = dragged(self.shape, path.length > 1 ? path : [path[0], path[0]]);
      outline.number = "";
      outline.fresh = true;
      if (ghost) viewer.removeOverlay(ghost);
      ghost = markElement(outline, file);
      ghost.classList.add("mark-ghost");
      viewer.addOverlay({element: ghost, location: new OSD.Rect(outline.box[0] / file.width, outline.box[1] / file.width,
                                                                 Math.max(outline.box[2], 1) / file.width,
                                                                 Math.max(outline.box[3], 1) / file.width)});
    });
    viewer.addHandler("canvas-drag-end", function (e) {
      if (!path) return;
      e.preventDefaultAction = true;
      if (ghost) { viewer.removeOverlay(ghost); ghost = null; }
      var at = self.pixelAt(viewer, e.position), last = path[path.length - 1];
      if (at && (at.x !== last.x || at.y !== last.y)) path.push(at);
      var first = path[0], end = path[path.length - 1];
      if (Math.abs(end.x - first.x) > 1 || Math.abs(end.y - first.y) > 1 || (self.shape === "freehand" && path.length > 2)) {
        self.add(dragged(self.shape, path));
      }
      path = null;
    });
    viewer.addHandler("canvas-click", function (e) {
      if (!allowed()) return;
      e.preventDefaultAction = true;
      var at = e.quick ? self.pixelAt(viewer, e.position) : null;
      if (at) self.add({shape: "point", box: [at.x, at.y, 0, 0]});
      path = null;
    });
  };

  Canvas.prototype.add = function (mark) {
    if (this.fresh.length >= 50) { window.alert("At most 50 marks per image and round."); return; }
    mark.file = this.main;
    mark.fresh = true;
    mark.text = "";
    mark.number = this.first + this.fresh.length;
    this.fresh.push(mark);
    this.redraw();
    this.renderList(this.fresh.length - 1);
    var decision = document.querySelector("input[name='decision_" + this.root.dataset.image + "'][value='revise']");
    if (decision) { decision.checked = true; decision.dispatchEvent(new Event("change", {bubbles: true})); }
  };

  Canvas.prototype.renderList = function (focus) {
    var self = this;
    if (!this.list) return;
    this.list.innerHTML = "";
    this.fresh.forEach(function (mark, i) {
      var row = el("li"), id = self.root.dataset.image + "-mark-" + i;
      var label = el("label", {"class": "pin-label", "for": id}, "Mark " + mark.number + (SHAPE_WORDS[mark.shape] || ""));
      var text = el("textarea", {id: id, rows: "2", maxlength: "2000", placeholder: "What should change here?"});
      text.required = !self.api;
      text.value = mark.text;
      text.addEventListener("input", function () { mark.text = text.value; self.save(); });
      row.appendChild(label);
      row.appendChild(text);
      var remove = el("button", {type: "button", "class": "btn btn-small"}, "Remove");
      remove.addEventListener("click", function () { self.fresh.splice(i, 1); self.renumber(); });
      if (self.api) {
        var send = el("button", {type: "button", "class": "btn btn-small btn-primary"}, "Save mark");
        var said = el("p", {"class": "small error", role: "alert"});
        send.addEventListener("click", function () { self.send(mark, send, said); });
        row.appendChild(send);
        row.appendChild(said);
      }
      row.appendChild(remove);
      self.list.appendChild(row);
      if (i === focus) text.focus();
    });
    this.save();
  };

  Canvas.prototype.renumber = function () {
    this.fresh.forEach(function (mark, i) { mark.number = this.first + i; }, this);
    this.redraw();
    this.renderList();
  };

  // A new mark as the W3C target the API and the review take: points and areas as a FragmentSelector,
  // drawings as an SvgSelector of their one element, all in the file's pixels.
  function target(mark) {
    if (!mark.draw || !mark.draw.tag) {
      return {selector: {type: "FragmentSelector", conformsTo: "http://www.w3.org/TR/media-frags/",
                         value: "xywh=pixel:" + mark.box.join(",")}};
    }
    var attrs = Object.keys(mark.draw.attrs).map(function (k) { return k + '="' + mark.draw.attrs[k] + '"'; }).join(" ");
    return {selector: {type: "SvgSelector", value: "<svg><" + mark.draw.tag + " " + attrs + "/></svg>"}};
  }

  Canvas.prototype.save = function () {
    if (this.field) this.field.value = JSON.stringify(this.fresh.map(function (mark) {
      return {text: mark.text, target: target(mark)};
    }));
  };

  // Studio pages: a mark is saved at once (POST …/annotations/); the server numbers it.
  Canvas.prototype.send = function (mark, button, said) {
    var self = this;
    button.disabled = true;
    fetch(this.api, {method: "POST", credentials: "same-origin",
                     headers: {"Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json"},
                     body: JSON.stringify({text: mark.text, target: target(mark)})})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (answer) {
        if (!answer.ok) {
          var errors = answer.body.errors || {};
          var first = Object.keys(errors)[0];
          said.textContent = answer.body.detail || (first ? [].concat(errors[first])[0] : "The mark was not saved.");
          button.disabled = false;
          return;
        }
        var saved = answer.body;
        self.data.marks.push({id: saved.id, number: saved.number, file: self.main, shape: saved.shape, box: mark.box,
                              draw: mark.draw || {}, resolved: false, studio: saved.audience !== "client",
                              text: saved.body[0].value});
        self.fresh.splice(self.fresh.indexOf(mark), 1);
        self.first = saved.number + 1;
        self.renumber();
        self.announce("Mark " + saved.number + " saved.");
      })
      .catch(function () { said.textContent = "The mark was not saved; check your connection."; button.disabled = false; });
  };

  Canvas.prototype.announce = function (text) {
    var live = this.root.querySelector(".canvas-live");
    if (live) live.textContent = text;
  };

  // N: the next mark not yet resolved, centred at 200 %.
  Canvas.prototype.nextOpen = function () {
    var viewer = this.viewers[0];
    if (!viewer || !viewer.shownFile) return;
    var file = viewer.shownFile, open = this.marksOf(file).filter(function (m) { return !m.resolved; });
    if (!open.length) { this.announce("No open marks on this picture."); return; }
    this.cursor = ((this.cursor === undefined ? -1 : this.cursor) + 1) % open.length;
    var mark = open[this.cursor], box = mark.box, at = toViewport(file, box[0] + box[2] / 2, box[1] + box[3] / 2);
    this.setZoom("2");
    viewer.viewport.panTo(new OSD.Point(at.x, at.y));
    this.announce("Mark " + mark.number + ": " + mark.text);
  };

  // The filmstrip: one image panel at a time when JavaScript runs ----------------------------------
  function Strip(root, canvases) {
    var links = Array.prototype.slice.call(root.querySelectorAll("[data-target]"));
    if (!links.length) return null;
    var panels = links.map(function (a) { return document.getElementById(a.dataset.target); });
    var current = 0;
    function show(i) {
      current = (i + links.length) % links.length;
      panels.forEach(function (p, n) { if (p) p.hidden = n !== current; });
      links.forEach(function (a, n) { a.setAttribute("aria-current", n === current ? "true" : "false"); });
      var shown = panels[current] && panels[current].querySelector("[data-canvas]");
      canvases.forEach(function (c) { if (c.root === shown) c.start(); });
    }
    links.forEach(function (a, n) { a.addEventListener("click", function (e) { e.preventDefault(); show(n); }); });
    document.body.classList.add("has-strip");
    var start = links.findIndex(function (a) { return "#" + a.dataset.target === window.location.hash; });
    show(start >= 0 ? start : 0);
    return {next: function () { show(current + 1); }, prev: function () { show(current - 1); },
            panel: function () { return panels[current]; }};
  }

  var canvases = Array.prototype.slice.call(document.querySelectorAll("[data-canvas]")).map(function (root) {
    return new Canvas(root);
  });
  var strip = document.querySelector("[data-strip]") ? Strip(document.querySelector("[data-strip]"), canvases) : null;
  if (!strip) canvases.forEach(function (c) { c.start(); });
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { canvases.forEach(function (c) { if (c.started) c.fit(); }); }, 150);
  });

  function active() {
    var panel = strip ? strip.panel() : document;
    var root = panel && panel.querySelector("[data-canvas]");
    return canvases.find(function (c) { return c.root === root; }) || canvases[0];
  }

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "textarea" || tag === "input" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) return;
    var c = active(), key = e.key.toLowerCase();
    if (key === "arrowright" && strip) { strip.next(); e.preventDefault(); }
    else if (key === "arrowleft" && strip) { strip.prev(); e.preventDefault(); }
    else if (!c) return;
    else if (key === "s") c.setMode(MODES[(MODES.indexOf(c.mode) + 1) % MODES.length]);
    else if (key === "b") c.setBackground(BACKGROUNDS[(BACKGROUNDS.indexOf(c.bg) + 1) % BACKGROUNDS.length]);
    else if (key === "z") c.setZoom(ZOOMS[(ZOOMS.indexOf(c.zoom) + 1) % ZOOMS.length]);
    else if (key === "+" || key === "=") c.step(1.5);
    else if (key === "-") c.step(1 / 1.5);
    else if (key === "0") c.setZoom("fit");
    else if (key === "m") c.setTool(!c.tool);
    else if (key === "n") c.nextOpen();
    else if (key === "a" || key === "r") {
      var value = key === "a" ? "approve" : "revise";
      var radio = document.querySelector("input[name='decision_" + c.root.dataset.image + "'][value='" + value + "']");
      if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", {bubbles: true})); }
    }
  });

  // "Approve all remaining" and the revise fields that only matter when changes are requested.
  var approveAll = document.querySelector("[data-approve-all]");
  if (approveAll) approveAll.addEventListener("click", function () {
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

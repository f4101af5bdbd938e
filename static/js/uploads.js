/* Loupe's upload area: Uppy's Dashboard with its AwsS3 plugin driven by Loupe's upload-target API.
 * The same code serves S3 (presigned URLs) and the local backend (signed Loupe URLs). */
(function () {
  "use strict";
  var root = document.getElementById("uploader");
  if (!root || !window.Uppy) return;
  var MULTIPART_THRESHOLD = 64 * 1024 * 1024;
  var csrf = root.dataset.csrf;
  var uploadsUrl = root.dataset.uploadsUrl;
  // Originals are declared in batches on the order; a retoucher's version is one file on its image.
  var isVersion = root.dataset.kind === "version";
  var declareUrl = root.dataset.declareUrl;
  var targets = {}; // uppy file id -> {id, upload}

  function api(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var detail = data.detail || "The server refused the upload.";
          if (data.errors) detail += " " + JSON.stringify(data.errors);
          throw new Error(detail);
        }
        return data;
      });
    });
  }

  function sha256(file) {
    return file.data.arrayBuffer().then(function (buffer) {
      return crypto.subtle.digest("SHA-256", buffer);
    }).then(function (digest) {
      return Array.prototype.map.call(new Uint8Array(digest), function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
    });
  }

  // Files dropped together are declared together, in the order they were dropped, so the order's
  // grid keeps that order (declaring each file as its upload starts would race). Checksums are taken
  // one file at a time. If the studio refuses the batch (one bad file), each file is declared alone.
  var batches = {}; // uppy file id -> promise of the batch declaration
  var BATCH = 200;

  function spec(file) {
    return sha256(file).then(function (hex) {
      return {name: file.name, size: file.size, content_type: file.type || "application/octet-stream", sha256: hex};
    });
  }

  function declareBatch(files) {
    var specs = [];
    var chain = Promise.resolve();
    files.forEach(function (file) {
      chain = chain.then(function () { return spec(file).then(function (s) { specs.push(s); }); });
    });
    return chain.then(function () {
      var sent = Promise.resolve();
      for (var start = 0; start < specs.length; start += BATCH) {
        (function (offset) {
          sent = sent.then(function () {
            return api("POST", uploadsUrl, {files: specs.slice(offset, offset + BATCH)}).then(function (data) {
              data.images.forEach(function (entry, k) {
                targets[files[offset + k].id] = {id: entry.image.id, upload: entry.upload};
              });
            });
          });
        })(start);
      }
      return sent;
    }).catch(function () {
      var alone = Promise.resolve();
      files.forEach(function (file) {
        alone = alone.then(function () { return declareOne(file).catch(function () {}); });
      });
      return alone;
    });
  }

  function declare(file) {
    if (targets[file.id]) return Promise.resolve(targets[file.id]);
    if (batches[file.id]) {
      return batches[file.id].then(function () {
        delete batches[file.id];
        return targets[file.id] || declareOne(file);
      });
    }
    return declareOne(file);
  }

  function declareOne(file) {
    if (targets[file.id]) return Promise.resolve(targets[file.id]);
    return sha256(file).then(function (hex) {
      var spec = {name: file.name, size: file.size, content_type: file.type || "application/octet-stream", sha256: hex};
      return isVersion ? api("POST", declareUrl, spec) : api("POST", uploadsUrl, {files: [spec]});
    }).then(function (data) {
      var entry = isVersion ? data : data.images[0];
      targets[file.id] = {id: (entry.version || entry.image).id, upload: entry.upload};
      return targets[file.id];
    });
  }

  // The local backend hands out Loupe-relative URLs; S3 gives absolute ones. Uppy needs absolute.
  function absolute(url) { return new URL(url, window.location.href).href; }

  function partSize(size) {
    return Math.max(16 * 1024 * 1024, Math.ceil(size / 10000));
  }

  var uppy = new Uppy.Uppy({
    autoProceed: true,
    restrictions: {maxFileSize: parseInt(root.dataset.maxBytes, 10) || null, maxNumberOfFiles: isVersion ? 1 : null},
  });
  uppy.use(Uppy.Dashboard, {
    inline: true, target: root, height: isVersion ? 220 : 320, width: "100%", proudlyDisplayPoweredByUppy: false,
    showProgressDetails: true, hideRetryButton: false, fileManagerSelectionType: isVersion ? "files" : "both",
    note: isVersion ? "Your retouched master: PNG, TIFF, PSD, JPEG or WebP, as the style guide asks."
                    : "JPEG, TIFF, PSD/PSB, PNG, WebP or camera RAW. Drop files or a whole folder.",
  });
  uppy.use(Uppy.AwsS3, {
    limit: 4,
    shouldUseMultipart: function (file) { return file.size > MULTIPART_THRESHOLD; },
    getChunkSize: function (file) { return partSize(file.size); },
    getUploadParameters: function (file) {
      return declare(file).then(function (entry) {
        return {method: "PUT", url: absolute(entry.upload.url), headers: entry.upload.headers || {}};
      });
    },
    createMultipartUpload: function (file) {
      return declare(file).then(function (entry) {
        return {uploadId: entry.upload.upload_id, key: entry.id};
      });
    },
    signPart: function (file, options) {
      var entry = targets[file.id];
      return Promise.resolve({url: absolute(entry.upload.parts[options.partNumber - 1].url)});
    },
    listParts: function () { return Promise.resolve([]); },
    completeMultipartUpload: function (file, options) {
      var entry = targets[file.id];
      var parts = options.parts.map(function (p) { return {number: p.PartNumber, etag: p.ETag}; });
      return api("POST", entry.upload.complete_url, {parts: parts}).then(function () {
        entry.completed = true;
        return {};
      });
    },
    abortMultipartUpload: function (file) {
      var entry = targets[file.id];
      if (entry && !isVersion) return api("DELETE", "/api/v1/images/" + entry.id + "/").catch(function () {});
      return Promise.resolve();
    },
  });
  if (!isVersion) {
    uppy.on("files-added", function (files) {
      var batch = declareBatch(files);
      files.forEach(function (file) { batches[file.id] = batch; });
    });
  }
  uppy.on("upload-success", function (file) {
    var entry = targets[file.id];
    if (entry && !entry.completed) {
      entry.completed = true;
      api("POST", entry.upload.complete_url, {}).catch(function (error) { uppy.info(error.message, "error", 8000); });
    }
    refreshImages();
  });
  uppy.on("complete", function (result) {
    if (isVersion) {
      // The version is being checked in the background; the page shows it with its checks.
      uppy.info("Uploaded. Loupe checks the file and hands it to QC.", "success", 4000);
      window.setTimeout(function () { window.location.reload(); }, 2500);
      return;
    }
    refreshImages();
    if (result.failed && result.failed.length) return; // keep the widget open: its retry buttons are needed
    collapse(result.successful ? result.successful.length : 0);
  });

  // A finished batch folds into one line: the grid below shows each file with its checks.
  var summary = document.createElement("div");
  summary.className = "upload-summary";
  summary.hidden = true;
  summary.setAttribute("role", "status");
  root.parentNode.insertBefore(summary, root.nextSibling);

  function collapse(count) {
    summary.innerHTML = "";
    var text = document.createElement("span");
    text.textContent = count + " file" + (count === 1 ? "" : "s") + " uploaded. Loupe checks each one; " +
      "the results appear in the images below.";
    var more = document.createElement("button");
    more.type = "button";
    more.className = "btn btn-small";
    more.textContent = "Upload more";
    more.addEventListener("click", function () {
      uppy.cancelAll();
      summary.hidden = true;
      root.hidden = false;
    });
    summary.appendChild(text);
    summary.appendChild(more);
    summary.hidden = false;
    root.hidden = true;
  }

  function refreshImages() {
    var grid = document.getElementById("images");
    if (grid && window.htmx) window.htmx.trigger(grid, "refresh");
  }
})();

/* Loupe's upload area: Uppy's Dashboard with its AwsS3 plugin driven by Loupe's upload-target API.
 * The same code serves S3 (presigned URLs) and the local backend (signed Loupe URLs).
 *
 * Large files (above 64 MiB) go in parts, and nothing ever holds a whole file in memory: each part's
 * SHA-256 is taken from that part alone and Loupe signs the part's URL with it (storage refuses other
 * bytes). Uploads survive a reload, a crash or a closed laptop: Golden Retriever keeps Uppy's state,
 * the multipart "key" is the image's parts URL, and on resume Uppy lists the parts storage already
 * holds (GET parts_url) and sends only the others. Small files restart; their declarations are kept
 * here (localStorage), so a reload never declares the same file twice. */
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
  var targets = {}; // uppy file id -> {id, upload, at}; kept in localStorage (see loadTargets)

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

  function hex(bytes) {
    return Array.prototype.map.call(new Uint8Array(bytes), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // The incremental SHA-256 (static/js/sha256.js, an ES module: it may load after this script).
  var hasher = new Promise(function (resolve) {
    if (window.LoupeSha256) return resolve(window.LoupeSha256);
    window.addEventListener("loupe:sha256", function () { resolve(window.LoupeSha256); }, {once: true});
  });

  // The SHA-256 of a Blob (a part of a large file), fed as it is read: never a whole part in memory.
  function streamDigest(blob) {
    return hasher.then(function (sha256) {
      var hash = sha256.create();
      var reader = blob.stream().getReader();
      function pump() {
        return reader.read().then(function (step) {
          if (step.done) return hex(hash.digest());
          hash.update(step.value);
          return pump();
        });
      }
      return pump();
    });
  }

  // A file sent in one PUT (64 MiB at most) is hashed in one go by the browser's own SHA-256.
  function digest(blob) {
    return blob.arrayBuffer().then(function (buffer) {
      return crypto.subtle.digest("SHA-256", buffer);
    }).then(hex);
  }

  function sha256(file) {
    // Above the threshold each part carries its own checksum instead (signPart).
    return file.size > MULTIPART_THRESHOLD ? Promise.resolve("") : digest(file.data);
  }

  // Declarations survive a reload: Uppy file id -> {id, upload, at}. A multipart upload is resumed
  // with its parts; a single PUT whose URL may have expired is declared again (its old row removed).
  var storeKey = "loupe-upload-targets:" + (uploadsUrl || declareUrl);
  function loadTargets() {
    try { return JSON.parse(window.localStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; }
  }
  function saveTargets() {
    try { window.localStorage.setItem(storeKey, JSON.stringify(targets)); } catch (e) { /* private mode */ }
  }
  function forget(fileId) {
    delete targets[fileId];
    saveTargets();
  }
  var PUT_URL_LIFETIME_MS = 12 * 60 * 1000; // the server's is 15 minutes
  function remembered(file) {
    var entry = targets[file.id];
    if (!entry) return null;
    if (entry.upload.method === "MULTIPART" || Date.now() - (entry.at || 0) < PUT_URL_LIFETIME_MS) return entry;
    if (!isVersion && !entry.completed) api("DELETE", "/api/v1/images/" + entry.id + "/").catch(function () {});
    forget(file.id);
    return null;
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
                targets[files[offset + k].id] = {id: entry.image.id, upload: entry.upload, at: Date.now()};
              });
              saveTargets();
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
    if (remembered(file)) return Promise.resolve(targets[file.id]);
    if (batches[file.id]) {
      return batches[file.id].then(function () {
        delete batches[file.id];
        return targets[file.id] || declareOne(file);
      });
    }
    return declareOne(file);
  }

  function declareOne(file) {
    if (remembered(file)) return Promise.resolve(targets[file.id]);
    return sha256(file).then(function (hex) {
      var spec = {name: file.name, size: file.size, content_type: file.type || "application/octet-stream", sha256: hex};
      return isVersion ? api("POST", declareUrl, spec) : api("POST", uploadsUrl, {files: [spec]});
    }).then(function (data) {
      var entry = isVersion ? data : data.images[0];
      targets[file.id] = {id: (entry.version || entry.image).id, upload: entry.upload, at: Date.now()};
      saveTargets();
      return targets[file.id];
    });
  }

  // The local backend hands out Loupe-relative URLs; S3 gives absolute ones. Uppy needs absolute.
  function absolute(url) { return new URL(url, window.location.href).href; }

  function partSize(size) {
    return Math.max(16 * 1024 * 1024, Math.ceil(size / 10000));
  }

  var maxBytes = parseInt(root.dataset.maxBytes, 10) || null;
  var uppy = new Uppy.Uppy({
    // One id per upload area, so what Golden Retriever keeps for one order is never offered on another.
    id: "loupe:" + (uploadsUrl || declareUrl),
    autoProceed: true,
    restrictions: {maxFileSize: maxBytes, maxNumberOfFiles: isVersion ? 1 : null},
  });
  uppy.use(Uppy.Dashboard, {
    // Lower on a phone: the area is a target for the file picker there, not for dragging.
    inline: true, target: root, width: "100%", proudlyDisplayPoweredByUppy: false,
    height: isVersion || window.matchMedia("(max-width: 600px)").matches ? 220 : 320,
    showProgressDetails: true, hideRetryButton: false, hidePauseResumeButton: false,
    fileManagerSelectionType: isVersion ? "files" : "both",
    // What is accepted and the largest file are said by the page under the area (#upload-limits): Uppy
    // shows its own note only in areas taller than ours.
  });
  // Uppy's state across reloads; files too large to keep in the browser come back as "ghosts" the
  // person drops again, and their uploads continue from the parts storage holds.
  uppy.use(Uppy.GoldenRetriever, {serviceWorker: false});

  // The parts URL is the multipart "key" (kept by Golden Retriever); complete and remove are its siblings.
  function sibling(partsUrl, name) { return partsUrl.replace(/parts\/$/, name); }

  uppy.use(Uppy.AwsS3, {
    limit: 4,
    retryDelays: [1000, 3000], // three tries per request, then the file shows its error and a Retry button
    shouldUseMultipart: function (file) { return file.size > MULTIPART_THRESHOLD; },
    getChunkSize: function (file) { return partSize(file.size); },
    getUploadParameters: function (file) {
      return declare(file).then(function (entry) {
        return {method: "PUT", url: absolute(entry.upload.url), headers: entry.upload.headers || {}};
      });
    },
    createMultipartUpload: function (file) {
      return declare(file).then(function (entry) {
        return {uploadId: entry.upload.upload_id, key: absolute(entry.upload.parts_url)};
      });
    },
    signPart: function (file, options) {
      return streamDigest(options.body).then(function (sum) {
        return api("POST", options.key, {number: options.partNumber, sha256: sum});
      }).then(function (signed) {
        return {url: absolute(signed.url), headers: signed.headers || {}};
      });
    },
    listParts: function (file, options) {
      return api("GET", options.key).then(function (data) {
        return data.parts.map(function (p) { return {PartNumber: p.number, Size: p.size, ETag: p.etag}; });
      }).catch(function (error) {
        forget(file.id);
        throw new Error("This upload can no longer be resumed (" + error.message + "). Remove the file and drop it again.");
      });
    },
    completeMultipartUpload: function (file, options) {
      var parts = options.parts.map(function (p) { return {number: p.PartNumber, etag: p.ETag}; });
      return api("POST", sibling(options.key, "complete/"), {parts: parts}).then(function () {
        if (targets[file.id]) targets[file.id].completed = true;
        forget(file.id);
        return {};
      });
    },
    // Uppy calls this when a file is removed and also after a part failed its three tries: the image
    // and its stored parts are deleted on "file-removed" only, so Retry after a failure resumes.
    abortMultipartUpload: function () { return Promise.resolve(); },
  });
  uppy.on("upload-error", function (file, error) {
    var entry = targets[file.id];
    if (entry && entry.upload && entry.upload.parts_url) {
      // Uppy forgot the multipart upload when it gave up; Retry lists the parts storage holds instead.
      uppy.setFileState(file.id, {s3Multipart: {uploadId: entry.upload.upload_id, key: absolute(entry.upload.parts_url)}});
    }
    var size = file.size > MULTIPART_THRESHOLD ? " The parts already sent are kept: Retry sends only the rest." : "";
    uppy.info(file.name + " could not be sent after three tries: " + (error && error.message || "the connection failed") +
              "." + size, "error", 15000);
  });
  targets = loadTargets();
  if (!isVersion) {
    uppy.on("files-added", function (files) {
      // A file dropped again to resume an upload is declared already.
      var fresh = files.filter(function (file) { return !remembered(file) && !(file.s3Multipart && file.s3Multipart.key); });
      if (!fresh.length) return;
      var batch = declareBatch(fresh);
      fresh.forEach(function (file) { batches[file.id] = batch; });
    });
  }
  uppy.on("file-removed", function (file) {
    var entry = targets[file.id];
    forget(file.id);
    // A file the person removed before it arrived: its image (and any stored parts) goes too.
    if (entry && !entry.completed && !isVersion && entry.id) {
      api("DELETE", "/api/v1/images/" + entry.id + "/").catch(function () {}).then(refreshImages);
    }
  });
  uppy.on("upload-success", function (file) {
    var entry = targets[file.id];
    if (entry && !entry.completed) {
      entry.completed = true;
      api("POST", entry.upload.complete_url, {}).catch(function (error) { uppy.info(error.message, "error", 8000); });
    }
    forget(file.id);
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

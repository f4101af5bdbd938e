// An incremental SHA-256 for the upload page (uploads.js, a classic script, waits for it): a large
// file's parts are hashed as they are read, never held whole (see static/vendor/README.md).
import { sha256 } from "../vendor/noble-hashes/sha2.js";

window.LoupeSha256 = sha256;
window.dispatchEvent(new Event("loupe:sha256"));

"""Receiving a file through the upload contract (DESIGN.md §6), for any kind of stored image.

One path for originals (``jobs.uploads``) and retouched versions (``jobs.production``):
``targets`` hands out upload targets → the client sends the bytes to storage → ``complete`` claims the
row, checks what storage holds (size, multipart assembly) and pins it (ETag) → the task ``process``
reads exactly that object, checks its SHA-256, decodes it in the sandbox, moves it to its immutable key
and lets the kind accept it (or rejects it with a reason anyone can read). ``sweep`` re-queues work
whose worker died and gives up on uploads never completed within a day.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import F, Q
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted
from agency.statemachine import StateTable
from agency.tasks import enqueue, enqueue_on_commit
from agency.uploads import MULTIPART_THRESHOLD, UploadError, get_backend
from jobs.imaging.sandbox import Outcome, inspect_file

logger = logging.getLogger("loupe.images")

ACCEPTED_EXTENSIONS = {"jpg", "jpeg", "png", "tif", "tiff", "psd", "psb", "webp", "cr2", "cr3", "nef", "arw", "dng"}
MAX_ATTEMPTS = 3
COMPLETING = "completing"
CLAIM_STALE = timezone.timedelta(minutes=10)
_BIDI_AND_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def safe_filename(name: str) -> str:
    """The client's file name for display: no path, no control or direction characters, ≤ 255 chars."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _BIDI_AND_CONTROL.sub("", name).strip().strip(".") or "unnamed"
    name = re.sub(r"\s+", " ", name)
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:255]
    return name


def key_extension(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if ext in ACCEPTED_EXTENSIONS else "bin"


def max_upload_bytes() -> int:
    return int(getattr(settings, "LOUPE_MAX_UPLOAD_BYTES", 2 * 1024**3))


@dataclass(frozen=True)
class IngestKind:
    """What differs between originals and versions; everything else is this module."""

    name: str                                  # "image" or "version", for messages and logs
    model: Any                                 # OrderImage or Version (both ``StoredImage``)
    table: StateTable                          # its ``receive`` and ``reject_file`` edges
    task: str                                  # the django-q2 task that calls ``process``
    file_field: str                            # where the validated file is kept
    prefix: Callable[[Any], str]               # the row's storage prefix (server-made)
    final_key: Callable[[Any], str]            # the immutable key of the validated file
    may_complete: Callable[[Any, Any], bool]   # permissions function (user, row)
    accept: Callable[[Any, Any, dict[str, Any]], str]  # (row, outcome, fields) → final status


def upload_key(kind: IngestKind, row: Any, filename: str) -> str:
    token = hashlib.sha256(f"{row.pk}".encode()).hexdigest()[:16]
    return f"{kind.prefix(row)}/upload/{token}.{key_extension(filename)}"


def target(row: Any, backend: Any, base_url: str, complete_path: str) -> dict[str, Any]:
    """The upload target for a declared row (sets ``row.upload_id`` for a multipart plan)."""
    complete_url = urljoin(base_url, complete_path)
    if row.declared_size > MULTIPART_THRESHOLD:
        plan = backend.start_multipart(row.upload_key, size=row.declared_size, content_type=row.content_type,
                                       base_url=base_url)
        row.upload_id = plan["upload_id"]
        return {"method": "MULTIPART", **plan, "complete_url": complete_url}
    put = backend.single_target(row.upload_key, size=row.declared_size, sha256=row.declared_sha256,
                                content_type=row.content_type, base_url=base_url)
    return {**put, "complete_url": complete_url}


def reject(kind: IngestKind, row_id: Any, reason: str) -> bool:
    """Refuse the file with a reason; only while it is uploading (a conditional update)."""
    done = kind.table.claim(kind.model.objects.filter(pk=row_id), "reject_file", reason=reason[:300])
    if done:
        logger.info("%s %s rejected: %s", kind.name, row_id, reason)
    return bool(done)


def discard(key: str, upload_id: str = "") -> None:
    backend = get_backend()
    if upload_id:
        backend.abort_multipart(key, upload_id)
    backend.delete(key)


def complete(kind: IngestKind, row: Any, *, by: Any, parts: list[dict[str, Any]] | None, label: str) -> Any:
    """Finish an upload: assemble a multipart upload, check the stored size against the declared
    one, pin the object (ETag) and queue processing. A size mismatch or a bad part list rejects the
    file with the reason; a file that has not arrived yet answers 409 and can be completed later.

    The row is claimed first with a conditional update that commits at once, so two ``complete``
    calls cannot both talk to storage, and no row lock is held while storage answers.
    """
    if not kind.may_complete(by, row):
        raise NotPermitted(f"You cannot complete this {kind.name}'s upload.")
    now = timezone.now()
    uploading = kind.table.sources("reject_file")
    claimed = kind.model.objects.filter(
        Q(upload_etag="") | Q(upload_etag=COMPLETING, processing_started_at__lt=now - CLAIM_STALE),
        pk=row.pk, status__in=uploading, uploaded_at__isnull=True,
    ).update(upload_etag=COMPLETING, processing_started_at=now)
    if not claimed:
        row.refresh_from_db()
        if row.upload_etag == COMPLETING:
            raise InvalidTransition(f"{label} is being completed already.")
        state = "being processed" if row.is_processing else row.get_status_display().lower()
        raise InvalidTransition(f"{label} is already {state}.")
    release = kind.model.objects.filter(pk=row.pk, upload_etag=COMPLETING)
    backend = get_backend()
    try:
        if row.upload_id:
            if not parts:
                raise UploadError("a multipart upload needs its list of parts to be completed")
            backend.complete_multipart(row.upload_key, row.upload_id, parts)
        stat = backend.stat(row.upload_key)
        if stat is None:
            if row.upload_id:
                raise UploadError("storage holds no file after assembling the parts")
            raise InvalidTransition(f"{label} has not arrived in storage yet; send it, then complete again.")
        if stat.size != row.declared_size:
            raise UploadError(f"the stored file has {stat.size} bytes but {row.declared_size} were declared")
    except UploadError as exc:
        release.update(upload_etag="", processing_started_at=None)
        reject(kind, row.pk, exc.reason)
        discard(row.upload_key, row.upload_id)
        row.refresh_from_db()
        return row
    except Exception:
        release.update(upload_etag="", processing_started_at=None)
        raise
    release.update(upload_etag=stat.etag, uploaded_at=timezone.now(), size_bytes=stat.size, processing_started_at=None)
    enqueue_on_commit(kind.task, str(row.pk), group="images")
    row.refresh_from_db()
    return row


def _claim(kind: IngestKind, row_id: Any) -> bool:
    """Count an attempt before the heavy work (committed at once), so a worker killed by a hostile
    file cannot loop forever: the third attempt is the last."""
    uploading = kind.table.sources("reject_file")
    claimed = kind.model.objects.filter(
        pk=row_id, status__in=uploading, uploaded_at__isnull=False, attempts__lt=MAX_ATTEMPTS,
    ).update(attempts=F("attempts") + 1, processing_started_at=timezone.now())
    if not claimed and kind.model.objects.filter(pk=row_id, status__in=uploading, attempts__gte=MAX_ATTEMPTS).exists():
        reject(kind, row_id, f"the file could not be processed after {MAX_ATTEMPTS} attempts")
    return bool(claimed)


class _HashingWriter:
    def __init__(self, out: Any, digest: Any) -> None:
        self.out, self.digest = out, digest

    def write(self, chunk: bytes) -> int:
        self.digest.update(chunk)
        return self.out.write(chunk)


def store(key: str, data: bytes) -> str:
    # Deterministic keys: a task that runs twice replaces its own output instead of adding files.
    if default_storage.exists(key):
        default_storage.delete(key)
    return default_storage.save(key, ContentFile(data))


def metadata(info: dict[str, Any]) -> dict[str, Any]:
    """The decoded file's facts as model fields."""
    return {"format": info.get("format", "")[:10], "width": info.get("width"), "height": info.get("height"),
            "mode": info.get("mode", "")[:10], "bit_depth": info.get("bit_depth"),
            "icc_profile": (info.get("icc_profile") or "")[:200], "has_alpha": bool(info.get("has_alpha")),
            "dpi": info.get("dpi")}


def too_small(info: dict[str, Any]) -> str:
    """The hard floor for any photograph (``LOUPE_MIN_LONG_EDGE_PX``): below it nothing can be retouched,
    so the file is refused; above it, a style guide's resolution is only a pre-flight warning."""
    minimum = settings.LOUPE_MIN_LONG_EDGE_PX
    width, height = info.get("width") or 0, info.get("height") or 0
    if max(width, height) < minimum:
        return (f"the image is only {width}×{height} px; photographs need at least {minimum} px on the long edge "
                "to be retouched")
    return ""


def process(kind: IngestKind, row_id: Any, *, label: Callable[[Any], str]) -> str:
    """Validate and preview one completed upload; returns the final status. Safe to run twice."""
    if not _claim(kind, row_id):
        return kind.model.objects.filter(pk=row_id).values_list("status", flat=True).first() or "missing"
    row = kind.model.objects.get(pk=row_id)
    backend = get_backend()
    rejected = kind.table.actions["reject_file"].to
    with tempfile.TemporaryDirectory(prefix="loupe-ingest-") as scratch:
        local = Path(scratch) / f"source.{key_extension(label(row))}"
        digest = hashlib.sha256()
        try:
            with local.open("wb") as out:
                backend.download_to(row.upload_key, _HashingWriter(out, digest), etag=row.upload_etag)
        except UploadError as exc:
            reject(kind, row.pk, exc.reason)
            return rejected
        if row.declared_sha256 and digest.hexdigest() != row.declared_sha256:
            reject(kind, row.pk, "the file's SHA-256 does not match the checksum declared for it")
            discard(row.upload_key)
            return rejected
        outcome: Outcome = inspect_file(local, extension=key_extension(label(row)),
                                        max_pixels=settings.LOUPE_MAX_IMAGE_PIXELS)
    reason = outcome.reason if not outcome.ok else too_small(outcome.inspection or {})
    if reason:
        reject(kind, row.pk, reason)
        discard(row.upload_key)
        return rejected
    final_key = kind.final_key(row)
    try:
        backend.promote(row.upload_key, final_key, etag=row.upload_etag)
    except UploadError as exc:
        reject(kind, row.pk, exc.reason)
        return rejected
    prefix = kind.prefix(row)
    fields = {kind.file_field: final_key, "reason": "", "sha256": digest.hexdigest(),
              "thumbnail": store(f"{prefix}/previews/256.webp", outcome.thumbnail),
              "preview": store(f"{prefix}/previews/1600.webp", outcome.preview),
              **metadata(outcome.inspection or {})}
    return kind.accept(row, outcome, fields)


def sweep(kind: IngestKind, *, stuck_after_minutes: int = 15, abandoned_after_hours: int = 24) -> dict[str, int]:
    """Re-queue rows whose processing never finished (a killed worker), reject those out of attempts,
    and give up on uploads never completed within a day (aborting their multipart upload)."""
    now = timezone.now()
    uploading = kind.table.sources("reject_file")
    cutoff = now - timezone.timedelta(minutes=stuck_after_minutes)
    stuck = kind.model.objects.filter(
        Q(processing_started_at__lt=cutoff) | Q(processing_started_at__isnull=True, uploaded_at__lt=cutoff),
        status__in=uploading, uploaded_at__isnull=False)
    requeued = failed = abandoned = 0
    for row in stuck:
        if row.attempts >= MAX_ATTEMPTS:
            failed += reject(kind, row.pk, f"the file could not be processed after {MAX_ATTEMPTS} attempts")
        else:
            enqueue(kind.task, str(row.pk), group="images")
            requeued += 1
    created = "created_at"
    for row in kind.model.objects.filter(status__in=uploading, uploaded_at__isnull=True,
                                         **{f"{created}__lt": now - timezone.timedelta(hours=abandoned_after_hours)}):
        if reject(kind, row.pk, "the upload was never completed"):
            discard(row.upload_key, row.upload_id)
            abandoned += 1
    return {"requeued": requeued, "failed": failed, "abandoned": abandoned}

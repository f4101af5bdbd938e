"""Receiving a file through the upload contract (DESIGN.md §6), for any kind of stored image.

One path for originals (``jobs.intake.uploads``) and retouched versions (``jobs.production.versions``):
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
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agency import live
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.statemachine import StateTable
from agency.tasks import enqueue, enqueue_on_commit
from agency.uploads import (
    MULTIPART_THRESHOLD,
    MiB,
    UploadError,
    composite_sha256,
    get_backend,
    max_upload_bytes,
    part_plan,
    size_words,
)
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
    live: Callable[[Any], tuple[str, str]] | None = None  # (row) → the live topic told of the outcome, its audience
    grade: bool = False                        # measure the picture's complexity (originals: the quote's grade)


def upload_key(kind: IngestKind, row: Any, filename: str) -> str:
    token = hashlib.sha256(f"{row.pk}".encode()).hexdigest()[:16]
    return f"{kind.prefix(row)}/upload/{token}.{key_extension(filename)}"


def target(row: Any, backend: Any, base_url: str, api_path: str) -> dict[str, Any]:
    """The upload target for a declared row (sets ``row.upload_id`` for a multipart plan). ``api_path``
    is the row's API address (``/api/v1/images/<id>/``): ``complete/`` finishes the upload, ``parts/``
    signs a part (with its SHA-256) and lists the parts storage holds."""
    complete_url = urljoin(base_url, api_path + "complete/")
    if row.declared_size > MULTIPART_THRESHOLD:
        plan = backend.start_multipart(row.upload_key, size=row.declared_size, content_type=row.content_type,
                                       base_url=base_url)
        row.upload_id = plan["upload_id"]
        return {"method": "MULTIPART", **plan, "parts_url": urljoin(base_url, api_path + "parts/"),
                "complete_url": complete_url}
    put = backend.single_target(row.upload_key, size=row.declared_size, sha256=row.declared_sha256,
                                content_type=row.content_type, base_url=base_url)
    return {**put, "complete_url": complete_url}


def check_declaration(name: str, size: int, sha256: str) -> None:
    """The largest accepted file (``LOUPE_MAX_UPLOAD_BYTES``), refused at declaration; a file sent in
    one PUT declares its SHA-256 (storage checks it), a larger one gives each part's when it sends it."""
    limit = max_upload_bytes()
    if size > limit:
        raise RuleViolation(f"{safe_filename(name)} is {size_words(size)}; the limit per file is {size_words(limit)}.",
                            field="files")
    if size <= MULTIPART_THRESHOLD and not sha256:
        raise RuleViolation(f"{safe_filename(name)}: give the file's SHA-256 (files of {MULTIPART_THRESHOLD // MiB} MiB "
                            "or less are sent in one piece, checked against it).", field="files")


def _uploading_in_parts(kind: IngestKind, row: Any, by: Any, label: str) -> None:
    if not kind.may_complete(by, row):
        raise NotPermitted(f"You cannot upload this {kind.name}'s file.")
    if row.status not in kind.table.sources("reject_file") or row.uploaded_at is not None or row.upload_etag:
        raise InvalidTransition(f"{label} is no longer being uploaded; its parts cannot be sent or listed.")
    if not row.upload_id:
        raise InvalidTransition(f"{label} is sent in one piece, not in parts.")


def sign_part(kind: IngestKind, row: Any, *, by: Any, number: int, sha256: str, label: str,
              base_url: str = "") -> dict[str, Any]:
    """A URL for one part of a multipart upload, signed with the SHA-256 of that part's bytes: storage
    refuses other bytes. The checksum is kept on the row, so ``complete`` and the worker check it too."""
    _uploading_in_parts(kind, row, by, label)
    plan = dict(part_plan(row.declared_size))
    if number not in plan:
        raise RuleViolation(f"{label} has parts 1 to {len(plan)}; there is no part {number}.", field="number")
    sha256 = sha256.lower()
    with transaction.atomic():  # concurrent parts of one file: each adds its own checksum
        locked = kind.model.objects.select_for_update().get(pk=row.pk)
        _uploading_in_parts(kind, locked, by, label)
        locked.part_checksums = {**locked.part_checksums, str(number): sha256}
        locked.save(update_fields=["part_checksums"])
    signed = get_backend().sign_part(row.upload_key, row.upload_id, number=number, size=plan[number],
                                     offset=(number - 1) * plan[1], sha256=sha256, base_url=base_url)
    return {"number": number, "size": plan[number], **signed}


def list_parts(kind: IngestKind, row: Any, *, by: Any, label: str) -> dict[str, Any]:
    """The parts storage holds whole for this upload (``ListParts``), for a client that resumes: it
    sends only the missing ones. A part is listed only where storage holds the bytes it was signed for."""
    _uploading_in_parts(kind, row, by, label)
    plan = dict(part_plan(row.declared_size))
    try:
        stored = get_backend().list_parts(row.upload_key, row.upload_id)
    except UploadError as exc:
        raise InvalidTransition(f"{label}: {exc.reason}.") from exc
    signed = row.part_checksums
    held = [p for p in stored if p["number"] in plan and p["size"] == plan[p["number"]]
            and str(p["number"]) in signed and p["sha256"] in ("", signed[str(p["number"])])]
    for part in held:
        part["sha256"] = signed[str(part["number"])]
    numbers = {p["number"] for p in held}
    return {"upload_id": row.upload_id, "part_size": plan[1], "parts": held,
            "missing": [n for n in plan if n not in numbers]}


def _assemble(kind: IngestKind, row: Any, backend: Any, client_parts: list[dict[str, Any]] | None) -> str:
    """Check every part against the plan and the checksum it was signed with, assemble them, and return
    the file's identity derived from the parts (``composite_sha256``)."""
    plan = dict(part_plan(row.declared_size))
    stored = {p["number"]: p for p in backend.list_parts(row.upload_key, row.upload_id)}
    if client_parts is not None:
        numbers = [int(p["number"]) for p in client_parts]
        if numbers != list(range(1, len(numbers) + 1)) or len(numbers) != len(plan):
            raise UploadError("the upload's parts are missing, repeated or out of order")
        for part in client_parts:
            held = stored.get(int(part["number"]))
            if held is None or str(part.get("etag", "")).strip('"') != str(held["etag"]).strip('"'):
                raise UploadError(f"part {part['number']} does not match its ETag")
    parts = []
    for number, size in plan.items():
        held, signed = stored.get(number), row.part_checksums.get(str(number))
        if held is None or not signed:
            raise UploadError(f"part {number} of {len(plan)} was never uploaded")
        if held["size"] != size:
            raise UploadError(f"part {number} has {held['size']} bytes; the plan gives it {size}")
        if held["sha256"] and held["sha256"] != signed:
            raise UploadError(f"part {number}'s bytes do not match the SHA-256 it was sent with")
        parts.append({"number": number, "etag": held["etag"], "sha256": signed})
    backend.complete_multipart(row.upload_key, row.upload_id, parts)
    return composite_sha256([p["sha256"] for p in parts])


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
    parts_sha256 = ""
    try:
        if row.upload_id:
            parts_sha256 = _assemble(kind, row, backend, parts)
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
    release.update(upload_etag=stat.etag, uploaded_at=timezone.now(), size_bytes=stat.size, processing_started_at=None,
                   parts_sha256=parts_sha256)
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
    """Writes the download through, hashing the whole file and, for a file sent in parts, each part
    (at the plan's boundaries), so neither needs the file in memory or a second read."""

    def __init__(self, out: Any, digest: Any, part_sizes: list[int]) -> None:
        self.out, self.digest = out, digest
        self.sizes, self.parts = list(part_sizes), [hashlib.sha256() for _ in part_sizes]
        self.index, self.left = 0, (part_sizes[0] if part_sizes else 0)

    def write(self, chunk: bytes) -> int:
        self.digest.update(chunk)
        view = memoryview(chunk)
        while view and self.index < len(self.parts):
            take = view[: self.left]
            self.parts[self.index].update(take)
            self.left -= len(take)
            view = view[len(take):]
            if self.left == 0:
                self.index += 1
                self.left = self.sizes[self.index] if self.index < len(self.sizes) else 0
        return self.out.write(chunk)

    def part_digests(self) -> list[str]:
        return [digest.hexdigest() for digest in self.parts]


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
    """Validate and preview one completed upload; returns the final status. Safe to run twice. Open pages of the
    row's order hear the outcome (``agency.live``)."""
    status = _process(kind, row_id, label=label)
    row = kind.model.objects.filter(pk=row_id).first() if kind.live else None
    if row is not None:
        topic, audience = kind.live(row)
        live.publish(topic, f"{kind.name}.{status}", ref=row_id, audience=audience)
    return status


def _process(kind: IngestKind, row_id: Any, *, label: Callable[[Any], str]) -> str:
    if not _claim(kind, row_id):
        return kind.model.objects.filter(pk=row_id).values_list("status", flat=True).first() or "missing"
    row = kind.model.objects.get(pk=row_id)
    backend = get_backend()
    rejected = kind.table.actions["reject_file"].to
    with tempfile.TemporaryDirectory(prefix="loupe-ingest-") as scratch:
        local = Path(scratch) / f"source.{key_extension(label(row))}"
        digest = hashlib.sha256()
        in_parts = [size for _, size in part_plan(row.declared_size)] if row.parts_sha256 else []
        writer = None
        try:
            with local.open("wb") as out:
                writer = _HashingWriter(out, digest, in_parts)
                backend.download_to(row.upload_key, writer, etag=row.upload_etag)
        except UploadError as exc:
            reject(kind, row.pk, exc.reason)
            return rejected
        reason = ""
        if in_parts:  # the most precise reason first: which part
            signed = [row.part_checksums.get(str(n), "") for n in range(1, len(in_parts) + 1)]
            wrong = [n for n, (a, b) in enumerate(zip(writer.part_digests(), signed, strict=True), 1) if a != b]
            if wrong:
                reason = f"part {wrong[0]}'s bytes do not match the SHA-256 it was sent with"
        if not reason and row.declared_sha256 and digest.hexdigest() != row.declared_sha256:
            reason = "the file's SHA-256 does not match the checksum declared for it"
        if reason:
            reject(kind, row.pk, reason)
            discard(row.upload_key)
            return rejected
        outcome: Outcome = inspect_file(local, extension=key_extension(label(row)),
                                        max_pixels=settings.LOUPE_MAX_IMAGE_PIXELS, grade=kind.grade)
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
    status = kind.accept(row, outcome, fields)
    if status != rejected:  # the deep-zoom tiles follow in a task of their own (jobs.intake.tiles)
        enqueue_on_commit("jobs.tasks.make_tiles", kind.name, str(row.pk), group="tiles")
    # Only now that the row names the final file: a worker killed before this line leaves the upload
    # where the next attempt finds it (promote kept it), instead of an image that can never be read.
    discard(row.upload_key)
    return status


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

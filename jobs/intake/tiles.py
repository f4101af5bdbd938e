"""Deep-zoom tiles of originals and versions (issue 21): the worker cuts a received file into its tile
pyramid in the sandboxed decoder (``jobs.imaging.tiles``), stores the pack beside the file and keeps its
index in a ``TilePyramid`` row; the tile endpoints read one tile at a time after the access check of
the file's own previews.

A version of an order held for payment reaches its client only as the watermarked pyramid, cut from
the watermarked preview (``jobs.review.payment_holds``): full resolution is what the payment releases.
Originals are the client's own photographs and are never held."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404

from agency.exceptions import InvalidTransition
from agency.uploads import UploadError, get_backend
from jobs.imaging import tiles as cutting
from jobs.imaging.sandbox import tile_file
from jobs.intake.ingest import IngestKind, key_extension
from jobs.models import OrderImage, TilePyramid, Version
from jobs.review import payment_holds

logger = logging.getLogger("loupe.images")
PACK_TYPE = "application/octet-stream"


def pack_key(kind: IngestKind, row: Any, *, watermarked: bool = False) -> str:
    return f"{kind.prefix(row)}/tiles/{'held' if watermarked else 'pyramid'}.pack"


def _owner(row: Any) -> dict[str, Any]:
    return {"image_id": row.image_id, "version": row} if isinstance(row, Version) else {"image": row, "version": None}


def _keep(kind: IngestKind, row: Any, local: Path, pyramid: dict[str, Any], *, watermarked: bool) -> TilePyramid | None:
    """Store the pack and its row (replacing an earlier one: a task run twice makes one pyramid). A file
    deleted meanwhile takes its row with it; the pack just stored is deleted again."""
    key = pack_key(kind, row, watermarked=watermarked)
    backend = get_backend()
    backend.upload_file(local, key, content_type=PACK_TYPE)
    fields = {"pack": key, "width": pyramid["width"], "height": pyramid["height"], "tile_size": pyramid["tile_size"],
              "overlap": pyramid["overlap"], "format": pyramid["format"], "index": pyramid["index"],
              "size_bytes": local.stat().st_size}
    try:
        with transaction.atomic():
            made, _ = TilePyramid.objects.update_or_create(**_owner(row), watermarked=watermarked, defaults=fields)
    except IntegrityError:
        backend.delete(key)
        return None
    return made


def make_tiles(kind: IngestKind, row_id: Any) -> str:
    """The task's body: cut the received file of ``row_id`` into its pyramid. Returns "made", "failed"
    (the reason is logged; the canvas shows the preview instead) or "missing". Safe to run twice."""
    row = kind.model.objects.select_related(*(("image__order",) if kind.model is Version else ("order",))) \
        .filter(pk=row_id).first()
    stored = getattr(row, kind.file_field, None) if row is not None else None
    if not stored:
        return "missing"
    with tempfile.TemporaryDirectory(prefix="loupe-tiles-") as scratch:
        local = Path(scratch) / f"source.{key_extension(stored.name)}"
        with default_storage.open(stored.name, "rb") as source, local.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        packed = Path(scratch) / "pyramid.pack"
        outcome = tile_file(local, packed, extension=key_extension(stored.name),
                            max_pixels=settings.LOUPE_MAX_IMAGE_PIXELS)
        if not outcome.ok:
            logger.warning("no tiles for %s %s: %s", kind.name, row_id, outcome.reason)
            return "failed"
        assert outcome.pyramid is not None
        return "made" if _keep(kind, row, packed, outcome.pyramid, watermarked=False) else "missing"


def _watermarked(kind: IngestKind, version: Version) -> TilePyramid:
    """The held client's pyramid of a version, cut once from its watermarked preview (in this process:
    the preview is Loupe's own WebP, already decoded once in the sandbox)."""
    import pyvips

    kept = TilePyramid.objects.filter(version=version, watermarked=True).first()
    if kept is not None:
        return kept
    if not version.preview:
        raise InvalidTransition(f"v{version.number} of {version.image.filename} has no preview yet.")
    with default_storage.open(payment_holds.held_preview(version.preview.name), "rb") as source:
        proof = pyvips.Image.new_from_buffer(source.read(), "")
    with tempfile.TemporaryDirectory(prefix="loupe-tiles-") as scratch:
        packed = Path(scratch) / "held.pack"
        pyramid = cutting.pack(proof, packed)
        made = _keep(kind, version, packed, pyramid.as_dict(), watermarked=True)
    if made is None:
        raise InvalidTransition(f"v{version.number} of {version.image.filename} was removed.")
    return made


def pyramid_for(*, image: OrderImage | None = None, version: Version | None = None, by: Any) -> TilePyramid:
    """The pyramid ``by`` sees of a file the caller already read through its scoped selector: the full
    one, or for the client of a held order a version's watermarked one. Refused while none is made."""
    from jobs.production.versions import VERSION_FILES

    if version is not None:
        if payment_holds.is_held(version.image.order, by):
            return _watermarked(VERSION_FILES, version)
        found = TilePyramid.objects.filter(version=version, watermarked=False).first()
        label = f"v{version.number} of {version.image.filename}"
    else:
        assert image is not None
        found = TilePyramid.objects.filter(image=image, version__isnull=True, watermarked=False).first()
        label = image.filename
    if found is None:
        raise InvalidTransition(f"{label} has no deep-zoom tiles yet: they are made a moment after the file is "
                                "received; the preview shows it until then.")
    return found


def shown_pyramids(*, images: list[OrderImage], versions: list[Version], by: Any) -> dict[tuple[Any, Any], TilePyramid]:
    """What ``pyramid_for`` answers, for many files at once (read through their scoped selectors), in one
    query and without the tile indexes: by ``(image id, version id or None)``. A held order's client is
    given a version's watermarked pyramid when it is made; until then none (asking ``pyramid_for`` makes it)."""
    held = {v.pk for v in versions if payment_holds.is_held(v.image.order, by)}
    rows = TilePyramid.objects.filter(Q(image__in=images, version__isnull=True, watermarked=False)
                                      | Q(version__in=versions)).defer("index")
    return {(p.image_id, p.version_id): p for p in rows
            if p.version_id is None or p.watermarked == (p.version_id in held)}


def descriptor(pyramid: TilePyramid, *, file_width: int | None, file_height: int | None, url: str) -> dict[str, Any]:
    """What a viewer needs (OpenSeadragon's Deep Zoom tile source): the pyramid's size, its tiles' size
    and overlap, and where tile ``level/col_row`` is. Marks are kept in the file's pixels: a watermarked
    pyramid is smaller than the file, and ``file_width``/``file_height`` say by how much."""
    return {"width": pyramid.width, "height": pyramid.height, "tile_size": pyramid.tile_size,
            "overlap": pyramid.overlap, "format": pyramid.format, "watermarked": pyramid.watermarked,
            "file_width": file_width or pyramid.width, "file_height": file_height or pyramid.height,
            "tiles": f"{url}{{level}}/{{col}}_{{row}}.{pyramid.format}/"}


def read_tile(pyramid: TilePyramid, *, level: int, col: int, row: int) -> bytes:
    """One tile's bytes out of the pack (one ranged read)."""
    place = pyramid.index.get(f"{level}/{col}_{row}")
    if place is None:
        raise Http404(f"This picture has no tile {col}_{row} at level {level}.")
    try:
        return get_backend().read_range(pyramid.pack, place[0], place[1])
    except UploadError as exc:
        raise InvalidTransition(f"The tiles could not be read: {exc.reason}.") from exc


def pack_keys(images: list[OrderImage]) -> list[str]:
    """The packs of these images' pyramids (originals and versions), to delete with their files."""
    return list(TilePyramid.objects.filter(image__in=images).values_list("pack", flat=True))


def queue_missing(*, limit: int = 1000, settled_minutes: int = 10) -> int:
    """Queue the tiles of stored files that have none: files received before Loupe made tiles, or whose
    task was lost. Files received in the last ``settled_minutes`` are left to the task their processing
    queued. Returns how many were queued (at most ``limit`` per call)."""
    from datetime import timedelta

    from django.db.models import Exists, OuterRef, Q
    from django.utils import timezone

    from agency.tasks import enqueue

    full = TilePyramid.objects.filter(watermarked=False)
    settled = Q(uploaded_at__isnull=True) | Q(uploaded_at__lt=timezone.now() - timedelta(minutes=settled_minutes))
    originals = (OrderImage.objects.exclude(original="").filter(settled).exclude(
        Exists(full.filter(image=OuterRef("pk"), version__isnull=True))).values_list("pk", flat=True)[:limit])
    versions = (Version.objects.exclude(file="").filter(settled).exclude(Exists(full.filter(version=OuterRef("pk"))))
                .values_list("pk", flat=True)[:limit])
    queued = ([("image", pk) for pk in originals] + [("version", pk) for pk in versions])[:limit]
    for kind, pk in queued:
        enqueue("jobs.tasks.make_tiles", kind, str(pk), group="tiles")
    return len(queued)

"""Decide what a file is from its first bytes, never from its name or declared content type."""

from __future__ import annotations

from dataclasses import dataclass

ACCEPTED = "JPEG, PNG, TIFF, PSD/PSB, WebP and camera RAW (CR2, CR3, NEF, ARW, DNG)"
RAW_EXTENSIONS = {"cr2", "cr3", "nef", "arw", "dng"}


@dataclass(frozen=True)
class Kind:
    """What the signature says. ``family`` is one of the accepted decoders, or ``None`` with the
    user-readable ``reason`` why the file is refused before any decoder runs."""

    family: str | None
    label: str
    reason: str = ""


def _refuse(label: str, reason: str) -> Kind:
    return Kind(None, label, reason)


def sniff(head: bytes, *, size: int, extension: str = "") -> Kind:
    """``head`` is at least the first 64 bytes of the file (fewer if the file is shorter)."""
    ext = extension.lower().lstrip(".")
    if size == 0 or not head:
        return _refuse("empty", "the file is empty")
    if head.startswith(b"\xff\xd8\xff"):
        return Kind("JPEG", "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind("PNG", "PNG")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        if head[8:11] == b"CR\x02" or ext in RAW_EXTENSIONS:
            return Kind("RAW", "camera RAW")
        big = head[2:4] in (b"+\x00", b"\x00+")
        return Kind("TIFF", "BigTIFF" if big else "TIFF")
    if head.startswith(b"8BPS"):
        version = int.from_bytes(head[4:6], "big")
        if version == 1:
            return Kind("PSD", "PSD")
        if version == 2:
            return Kind("PSB", "PSB")
        return _refuse("PSD", "the Photoshop file has an unknown version and cannot be read")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Kind("WEBP", "WebP")
    if head[4:12] in (b"ftypcrx ",):
        return Kind("RAW", "Canon CR3")
    return _identify_refused(head)


def _identify_refused(head: bytes) -> Kind:
    lowered = head[:64].lstrip().lower()
    signatures = [
        (b"PK\x03\x04", "ZIP archive"), (b"PK\x05\x06", "ZIP archive"), (b"Rar!", "RAR archive"),
        (b"7z\xbc\xaf", "7-Zip archive"), (b"\x1f\x8b", "gzip archive"), (b"%PDF", "PDF document"),
        (b"%!PS", "PostScript/EPS file"), (b"\xc5\xd0\xd3\xc6", "EPS file"), (b"GIF87a", "GIF image"),
        (b"GIF89a", "GIF image"), (b"BM", "BMP image"), (b"\x00\x00\x01\x00", "ICO icon"),
        (b"\x00\x00\x00\x0cjP  ", "JPEG 2000 image"), (b"\xff\x4f\xff\x51", "JPEG 2000 codestream"),
        (b"\x01\xda", "SGI image"), (b"SIMPLE  =", "FITS file"), (b"\x7fELF", "program"), (b"MZ", "program"),
    ]
    for magic, label in signatures:
        if head.startswith(magic):
            kind = "not an image" if "image" not in label and "icon" not in label and "codestream" not in label else None
            if kind:
                return _refuse(label, f"not an image: the file is a {label}")
            return _refuse(label, f"unsupported format: {label} (Loupe accepts {ACCEPTED})")
    if lowered.startswith((b"<svg", b"<?xml", b"<!doctype html", b"<html", b"<script")) or b"<svg" in lowered:
        return _refuse("markup", "not an image: the file is HTML/SVG markup")
    if head[4:8] == b"ftyp":
        return _refuse("video or HEIF", f"unsupported format: HEIF/video container (Loupe accepts {ACCEPTED})")
    if _looks_like_text(head):
        return _refuse("text", "not an image: the file is text")
    return _refuse("unknown", f"not a recognised image (Loupe accepts {ACCEPTED})")


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)

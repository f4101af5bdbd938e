"""Test helpers that upload a file the way a client does: declare → PUT (or parts) → complete."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import requests


def put(url: str, data: bytes, headers: dict[str, str], web: Any = None) -> tuple[int, str]:
    """PUT to a target: a Loupe URL (on the test client's ``testserver``) goes through the Django
    test client, any other absolute URL (S3, a live server) over HTTP."""
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != "testserver":
        response = requests.put(url, data=data, headers=headers, timeout=60)
        return response.status_code, response.headers.get("ETag", "")
    url = parts.path
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
    response = web.generic("PUT", url, data, content_type=headers.get("Content-Type", "application/octet-stream"),
                           **extra)
    return response.status_code, response.headers.get("ETag", "")


def declare(api: Any, order: Any, name: str, data: bytes, *, content_type: str = "image/jpeg",
            sha256: str | None = None, size: int | None = None) -> Any:
    return api.post(f"/api/v1/orders/{order.pk}/uploads/", {"files": [{
        "name": name, "size": len(data) if size is None else size, "content_type": content_type,
        "sha256": sha256 or hashlib.sha256(data).hexdigest()}]}, format="json")


def upload(api: Any, web: Any, order: Any, name: str, data: bytes, **kwargs: Any) -> dict[str, Any]:
    """The whole client flow; returns the image as ``complete`` answers it."""
    declared = declare(api, order, name, data, **kwargs)
    assert declared.status_code == 201, declared.content
    target = declared.json()["images"][0]["upload"]
    completed = api.post(target["complete_url"], send(api, web, target, data), format="json")
    assert completed.status_code in (200, 202), completed.content
    return completed.json()


def sign(api: Any, target: dict[str, Any], number: int, chunk: bytes) -> dict[str, Any]:
    """Ask Loupe for part ``number``'s URL, signed with the SHA-256 of ``chunk``."""
    signed = api.post(target["parts_url"], {"number": number, "sha256": hashlib.sha256(chunk).hexdigest()},
                      format="json")
    assert signed.status_code == 201, signed.content
    return signed.json()


def send_parts(api: Any, web: Any, target: dict[str, Any], data: bytes, numbers: Any = None) -> list[dict[str, Any]]:
    """Sign and PUT the parts of a multipart plan (``numbers``: only those); their numbers and ETags."""
    sent, offset = [], 0
    for part in target["parts"]:
        chunk = data[offset:offset + part["size"]]
        offset += part["size"]
        if numbers is not None and part["number"] not in numbers:
            continue
        signed = sign(api, target, part["number"], chunk)
        code, etag = put(signed["url"], chunk, signed["headers"], web)
        assert code == 200, code
        sent.append({"number": part["number"], "etag": etag})
    return sent


def send(api: Any, web: Any, target: dict[str, Any], data: bytes) -> dict[str, Any]:
    """PUT the bytes to a target (single or multipart) and return the body for ``complete``."""
    if target["method"] == "PUT":
        code, _ = put(target["url"], data, target["headers"], web)
        assert code == 200, code
        return {}
    return {"parts": send_parts(api, web, target, data)}


def upload_version(api: Any, web: Any, image: Any, name: str, data: bytes, *, content_type: str = "image/png") -> Any:
    """A retoucher's version through the same contract: declare → PUT → complete."""
    declared = api.post(f"/api/v1/images/{image.pk}/versions/", {
        "name": name, "size": len(data), "content_type": content_type, "sha256": hashlib.sha256(data).hexdigest()},
        format="json")
    assert declared.status_code == 201, declared.content
    target = declared.json()["upload"]
    completed = api.post(target["complete_url"], send(api, web, target, data), format="json")
    assert completed.status_code in (200, 202), completed.content
    return completed.json()

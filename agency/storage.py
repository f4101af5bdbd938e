"""Builds Django's ``STORAGES`` from the environment (DESIGN.md §6, CONVENTIONS.md §2.6).

``LOUPE_STORAGE=local`` (the embedded default) keeps files under ``var/media`` and never serves them
from a public URL: every file goes out through a permission-checked view. ``LOUPE_STORAGE=s3`` uses
one private bucket; keys are made by the server and never overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from agency.env import env_str


def build_storages(*, var_dir: Path, static_manifest: bool) -> dict[str, Any]:
    backend = env_str("LOUPE_STORAGE", "local")
    if backend == "local":
        default: dict[str, Any] = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            # base_url=None on purpose: there is no public media URL; files go through views.
            "OPTIONS": {"location": str(var_dir / "media"), "base_url": None},
        }
    elif backend == "s3":
        from botocore.config import Config

        addressing = env_str("LOUPE_S3_ADDRESSING_STYLE", "virtual")
        default = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env_str("LOUPE_S3_BUCKET"),
                "endpoint_url": env_str("LOUPE_S3_ENDPOINT_URL", None),
                "region_name": env_str("LOUPE_S3_REGION", "eu-central-1"),
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 600,
                "file_overwrite": False,
                "addressing_style": addressing,
                "signature_version": "s3v4",
                # Recent botocore adds CRC32 checksums to every request, which several S3-compatible
                # stores refuse; send checksums only where an operation needs one.
                "client_config": Config(s3={"addressing_style": addressing}, signature_version="s3v4",
                                        request_checksum_calculation="when_required",
                                        response_checksum_validation="when_required"),
                "object_parameters": {"ServerSideEncryption": "AES256"},
            },
        }
    else:
        raise ImproperlyConfigured(f"LOUPE_STORAGE={backend!r} is not 'local' or 's3'")
    static_backend = (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if static_manifest
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    )
    return {"default": default, "staticfiles": {"BACKEND": static_backend}}


def storage_origins(storages: dict[str, Any]) -> list[str]:
    """Origins the browser talks to directly for uploads and downloads (for the CSP)."""
    default = storages["default"]
    if not default["BACKEND"].endswith("S3Storage"):
        return []
    options = default["OPTIONS"]
    if options.get("endpoint_url"):
        from urllib.parse import urlsplit

        parts = urlsplit(options["endpoint_url"])
        origins = [f"{parts.scheme}://{parts.netloc}"]
        if options.get("addressing_style") == "virtual":
            origins.append(f"{parts.scheme}://{options['bucket_name']}.{parts.netloc}")
        return origins
    region = options.get("region_name") or "us-east-1"
    return [f"https://{options['bucket_name']}.s3.{region}.amazonaws.com", f"https://s3.{region}.amazonaws.com"]

"""An S3-compatible server over real HTTP on 127.0.0.1 (moto in server mode), never patched boto3."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BUCKET = "loupe-test"
REGION = "eu-central-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "1"})
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_storage(s3_server: str, settings: Any) -> Iterator[Any]:
    """Point STORAGES["default"] at the moto bucket for one test."""
    from botocore.config import Config

    from agency import uploads

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": BUCKET, "endpoint_url": s3_server, "region_name": REGION, "access_key": "testing",
            "secret_key": "testing", "default_acl": "private", "querystring_auth": True, "file_overwrite": False,
            "addressing_style": "path", "signature_version": "s3v4",
            "client_config": Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                    request_checksum_calculation="when_required",
                                    response_checksum_validation="when_required"),
        }},
    }
    uploads._backend_for.cache_clear()
    backend = uploads.get_backend()
    assert isinstance(backend, uploads.S3Backend)
    yield backend
    uploads._backend_for.cache_clear()

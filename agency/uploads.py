"""Upload targets and download links: one contract for S3 and the local file system (DESIGN.md §6).

Bytes never pass through the web process. The API hands out a target per file: a presigned ``PUT``
or, above ``MULTIPART_THRESHOLD``, a multipart plan (part numbers and sizes). Each part is signed on
its own, with the SHA-256 of its bytes (``sign_part``): storage refuses a part whose bytes do not match
(S3 ``x-amz-checksum-sha256``; the local backend checks it while writing), so no side ever needs the
whole file in memory, and an interrupted upload resumes from ``list_parts``. The client sends the
bytes straight to storage and calls ``complete``. The local backend serves the same shape with signed,
expiring Loupe URLs, so clients and the browser code are identical for both.

What was validated is pinned: ``stat`` returns an ETag, and ``download_to``/``promote`` refuse the
object if it changed since (a presigned URL can be replayed until it expires).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urljoin

from django.conf import settings
from django.core import signing
from django.urls import reverse

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 64 * MiB
PART_SIZE = 16 * MiB
MAX_PARTS = 10_000
UPLOAD_TTL = 15 * 60
DOWNLOAD_TTL = 10 * 60
CHUNK = 1 * MiB


class UploadError(Exception):
    """Storage refused or does not hold what the client said; ``reason`` is user-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Stat:
    size: int
    etag: str


def max_upload_bytes() -> int:
    """The largest file Loupe accepts (``LOUPE_MAX_UPLOAD_BYTES``), refused at declaration."""
    return int(getattr(settings, "LOUPE_MAX_UPLOAD_BYTES", 2 * 1024**3))


def size_words(size: int) -> str:
    """A file size as limits are said to people: 2 GiB, 1.5 GiB, 500 MiB, 48.8 KiB."""
    unit, name = (1024**3, "GiB") if size >= 1024**3 else (MiB, "MiB") if size >= MiB else (1024, "KiB")
    return f"{size / unit:.1f}".removesuffix(".0") + f" {name}"


def part_plan(size: int) -> list[tuple[int, int]]:
    """(part number, part size) for a multipart upload of ``size`` bytes."""
    part_size = max(PART_SIZE, -(-size // MAX_PARTS))
    count = max(1, -(-size // part_size))
    return [(n, min(part_size, size - (n - 1) * part_size)) for n in range(1, count + 1)]


def b64_sha256(hex_digest: str) -> str:
    """A SHA-256 as S3 writes it (base64 of the 32 bytes)."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def composite_sha256(part_digests: list[str]) -> str:
    """The whole file's identity from its parts' SHA-256 (hex, in part order), in S3's own form for a
    multipart object: base64 of the SHA-256 of the concatenated part digests, a dash, the part count."""
    joined = hashlib.sha256(b"".join(bytes.fromhex(d) for d in part_digests)).digest()
    return f"{base64.b64encode(joined).decode()}-{len(part_digests)}"


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and an RFC 6266 ``filename*``; no CR, LF or quotes survive."""
    cleaned = "".join(ch for ch in filename if ch.isprintable() and ch not in '"\\\r\n') or "download"
    ascii_name = cleaned.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


class LocalBackend:
    """Files under the local storage root, uploaded and downloaded through signed Loupe URLs."""

    UPLOAD_SALT = "loupe.uploads.put"
    DOWNLOAD_SALT = "loupe.files.get"
    DATA = "data"  # a multipart upload's parts, written in place in this file of its parts folder

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    # Paths and signatures -------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise UploadError("invalid storage key")
        return path

    def _parts_dir(self, key: str) -> Path:
        return self.path(key).with_name(self.path(key).name + ".parts")

    def _url(self, name: str, payload: dict[str, Any], salt: str, base_url: str = "") -> str:
        """A signed Loupe URL; absolute when ``base_url`` is given (upload targets are absolute, like
        S3's, so API clients need no base-URL logic)."""
        token = signing.dumps(payload, salt=salt, compress=True)
        return urljoin(base_url, reverse(name, args=[token]))

    def read_upload_token(self, token: str) -> dict[str, Any]:
        return signing.loads(token, salt=self.UPLOAD_SALT, max_age=UPLOAD_TTL)

    def read_download_token(self, token: str) -> dict[str, Any]:
        return signing.loads(token, salt=self.DOWNLOAD_SALT, max_age=DOWNLOAD_TTL)

    # The contract ---------------------------------------------------------------------------------
    def single_target(self, key: str, *, size: int, sha256: str, content_type: str, base_url: str = "") -> dict[str, Any]:
        url = self._url("local-upload", {"k": key, "n": 0, "s": size}, self.UPLOAD_SALT, base_url)
        return {"method": "PUT", "url": url, "headers": {"Content-Type": content_type}, "expires_in": UPLOAD_TTL}

    def start_multipart(self, key: str, *, size: int, content_type: str, base_url: str = "") -> dict[str, Any]:
        upload_id = hashlib.sha256(f"{key}:{time.time_ns()}".encode()).hexdigest()[:32]
        return _plan(upload_id, size)

    def sign_part(self, key: str, upload_id: str, *, number: int, size: int, offset: int, sha256: str,
                  base_url: str = "") -> dict[str, Any]:
        url = self._url("local-upload", {"k": key, "n": number, "s": size, "o": offset, "u": upload_id, "c": sha256},
                        self.UPLOAD_SALT, base_url)
        return {"url": url, "headers": {"x-amz-checksum-sha256": b64_sha256(sha256)}, "expires_in": UPLOAD_TTL}

    def receive(self, token_payload: dict[str, Any], stream: IO[bytes]) -> str:
        """Write one PUT body to disk, at most the signed size; return its ETag. Never buffers it."""
        if token_payload["n"]:
            return self._receive_part(token_payload, stream)
        key, limit = token_payload["k"], token_payload["s"]
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.{os.getpid()}.{time.time_ns()}.tmp")
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with temp.open("wb") as out:
                _write_checked(stream, out.fileno(), 0, limit, digest)
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return f'"{digest.hexdigest()}"'

    def _receive_part(self, token_payload: dict[str, Any], stream: IO[bytes]) -> str:
        """Write a part where it belongs in the assembled file (``DATA`` in the parts folder, at the
        part's offset), checked against the SHA-256 it was signed with while it is written, then mark
        it held: a marker whose name carries the number, size and checksum (as S3 keeps a part's).

        The part's old marker goes before its bytes are touched and the new one comes after they are
        checked, so a part is listed only while the file holds exactly its checked bytes; a lock per
        part serialises two PUTs of the same part (a retry racing its first attempt). Parts are
        written once, in place: ``complete_multipart`` is a rename, not a second copy of the file."""
        key, number, limit = token_payload["k"], token_payload["n"], token_payload["s"]
        offset, expected = token_payload.get("o"), token_payload["c"]
        if offset is None:  # signed by a release that kept parts in separate files
            raise UploadError(f"part {number}'s URL is from an older release; ask for the part's URL again")
        directory = self._parts_dir(key)
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / f"{number:05d}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for marker in self._markers(directory, number):
                marker.unlink(missing_ok=True)
            digest = hashlib.sha256()
            fd = os.open(directory / self.DATA, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                _write_checked(stream, fd, offset, limit, digest)
            finally:
                os.close(fd)
            if digest.hexdigest() != expected:
                raise UploadError(f"part {number}'s bytes do not match the SHA-256 it was signed with")
            (directory / f"{number:05d}.{limit}.{expected}").touch()
        return f'"{expected[:32]}"'

    @staticmethod
    def _markers(directory: Path, number: int | None = None) -> list[Path]:
        """The parts folder's markers (``NNNNN.size.sha256``), of one part or all."""
        pattern = f"{number:05d}.*.*" if number is not None else "[0-9]*.*.*"
        return sorted(directory.glob(pattern)) if directory.exists() else []

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        parts = []
        for marker in self._markers(self._parts_dir(key)):
            number, size, sha256 = marker.name.split(".")
            parts.append({"number": int(number), "size": int(size), "etag": f'"{sha256[:32]}"', "sha256": sha256})
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        """The parts were written in place and checked against their SHA-256 as they arrived; check each
        is still marked held with the checksum given, and rename the file into place. The worker, which
        reads the file anyway, checks every part's bytes once more."""
        directory = self._parts_dir(key)
        held = {p["number"]: p for p in self.list_parts(key, upload_id)}
        for part in parts:
            if held.get(int(part["number"]), {}).get("sha256") != part["sha256"]:
                raise UploadError(f"part {part['number']} does not hold the bytes it was signed for")
        data = directory / self.DATA
        end = sum(held[int(p["number"])]["size"] for p in parts)
        if not data.exists() or data.stat().st_size != end:
            raise UploadError(f"the parts hold {data.stat().st_size if data.exists() else 0} bytes, not {end}")
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(data, target)
        shutil.rmtree(directory, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        shutil.rmtree(self._parts_dir(key), ignore_errors=True)

    def stat(self, key: str) -> Stat | None:
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        return Stat(size=st.st_size, etag=f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}")

    def download_to(self, key: str, out: IO[bytes], *, etag: str) -> None:
        path = self.path(key)
        if not path.exists():
            raise UploadError("the uploaded file is no longer in storage")
        with path.open("rb") as src:
            st = os.fstat(src.fileno())
            if f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}" != etag:
                raise UploadError("the file changed after the upload was completed")
            shutil.copyfileobj(src, out, CHUNK)

    def promote(self, src: str, dst: str, *, etag: str) -> None:
        """Place the pinned file at ``dst`` (a hard link: the same bytes, no copy), keeping ``src``
        until the caller deletes it, so a worker killed half-way can run again from ``src``."""
        current = self.stat(src)
        if current is None or current.etag != etag:
            raise UploadError("the file changed after the upload was completed")
        target = self.path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.{time.time_ns()}.tmp")
        try:
            try:
                os.link(self.path(src), temp)
            except OSError:  # a file system without hard links: a copy, and the pin checked again after it
                shutil.copyfile(self.path(src), temp)
                if self.stat(src) != current:
                    raise UploadError("the file changed after the upload was completed") from None
            os.replace(temp, target)  # a run after a crash replaces its own earlier link
        finally:
            temp.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
        shutil.rmtree(self._parts_dir(key), ignore_errors=True)

    def delete_many(self, keys: list[str]) -> None:
        """Delete these objects (what is gone already is no error)."""
        for key in keys:
            self.path(key).unlink(missing_ok=True)

    def upload_file(self, path: Path, key: str, *, content_type: str) -> None:
        """Store a finished local file under ``key`` (copied to a temporary name, then renamed)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.{time.time_ns()}.tmp")
        try:
            shutil.copyfile(path, temp)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes of a stored object from ``offset`` (a tile out of its pyramid's pack)."""
        try:
            with self.path(key).open("rb") as src:
                src.seek(offset)
                data = src.read(length)
        except FileNotFoundError as exc:
            raise UploadError("the file is no longer in storage") from exc
        if len(data) != length:
            raise UploadError("the stored file is shorter than its index says")
        return data

    def download_url(self, key: str, *, filename: str, content_type: str, inline: bool = False) -> str:
        return self._url("local-file", {"k": key, "f": filename[:200], "t": content_type, "i": inline},
                         self.DOWNLOAD_SALT)

    def check(self) -> None:
        """Raise unless files can be stored (the health check)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UploadError("The storage folder cannot be created.") from exc
        if not os.access(self.root, os.W_OK):
            raise UploadError("The storage folder is missing or not writable.")

    def keys(self, prefix: str) -> Iterator[str]:
        base = self.path(prefix) if prefix else self.root
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file():
                    yield str(path.relative_to(self.root))


def _write_checked(stream: IO[bytes], fd: int, offset: int, limit: int, digest: Any) -> None:
    """Copy ``stream`` to ``fd`` at ``offset`` in ``CHUNK``s, feeding ``digest``; exactly ``limit`` bytes
    (nothing is written past them)."""
    written = 0
    while chunk := stream.read(CHUNK):
        if written + len(chunk) > limit:
            raise UploadError(f"the body is larger than the {limit} bytes this URL accepts")
        digest.update(chunk)
        view = memoryview(chunk)
        while view:
            done = os.pwrite(fd, view, offset + written)
            written += done
            view = view[done:]
    if written != limit:
        raise UploadError(f"the body has {written} bytes; this URL expects exactly {limit}")


def _plan(upload_id: str, size: int) -> dict[str, Any]:
    """A multipart plan: the parts' numbers and sizes; each part is signed when it is sent."""
    parts = [{"number": n, "size": s} for n, s in part_plan(size)]
    return {"upload_id": upload_id, "part_size": parts[0]["size"], "parts": parts, "expires_in": UPLOAD_TTL}


class S3Backend:
    """One private bucket; presigned URLs for the bytes, server-side calls for everything else."""

    def __init__(self, options: dict[str, Any]) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = options["bucket_name"]
        self.client = boto3.client(
            "s3",
            endpoint_url=options.get("endpoint_url"),
            region_name=options.get("region_name"),
            aws_access_key_id=options.get("access_key"),
            aws_secret_access_key=options.get("secret_key"),
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": options.get("addressing_style") or "virtual"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )

    def _error_code(self, exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def single_target(self, key: str, *, size: int, sha256: str, content_type: str, base_url: str = "") -> dict[str, Any]:
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
        params = {"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size,
                  "ChecksumSHA256": checksum}
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=UPLOAD_TTL)
        headers = {"Content-Type": content_type, "x-amz-checksum-sha256": checksum}
        return {"method": "PUT", "url": url, "headers": headers, "expires_in": UPLOAD_TTL}

    def start_multipart(self, key: str, *, size: int, content_type: str, base_url: str = "") -> dict[str, Any]:
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type,
                                                        ChecksumAlgorithm="SHA256")["UploadId"]
        return _plan(upload_id, size)

    def sign_part(self, key: str, upload_id: str, *, number: int, size: int, offset: int, sha256: str,
                  base_url: str = "") -> dict[str, Any]:
        checksum = b64_sha256(sha256)
        url = self.client.generate_presigned_url(
            "upload_part", ExpiresIn=UPLOAD_TTL,
            Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": number,
                    "ContentLength": size, "ChecksumSHA256": checksum},
        )
        return {"url": url, "headers": {"x-amz-checksum-sha256": checksum}, "expires_in": UPLOAD_TTL}

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        parts = []
        try:
            for page in self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                for part in page.get("Parts", []):
                    reported = part.get("ChecksumSHA256")
                    parts.append({"number": int(part["PartNumber"]), "size": int(part["Size"]), "etag": part["ETag"],
                                  "sha256": base64.b64decode(reported).hex() if reported else ""})
        except ClientError as exc:
            if self._error_code(exc) in ("NoSuchUpload", "404"):
                raise UploadError("storage no longer holds this upload (it was completed or given up)") from exc
            raise
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": int(p["number"]), "ETag": str(p["etag"]),
                                            "ChecksumSHA256": b64_sha256(p["sha256"])} for p in parts]},
            )
        except ClientError as exc:
            raise UploadError(f"storage refused to assemble the parts ({self._error_code(exc) or 'error'})") from exc

    def abort_multipart(self, key: str, upload_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError:
            pass  # already completed or aborted

    def stat(self, key: str) -> Stat | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if self._error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return Stat(size=int(head["ContentLength"]), etag=head["ETag"])

    def download_to(self, key: str, out: IO[bytes], *, etag: str) -> None:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)["Body"]
        except ClientError as exc:
            if self._error_code(exc) in ("PreconditionFailed", "412"):
                raise UploadError("the file changed after the upload was completed") from exc
            if self._error_code(exc) in ("NoSuchKey", "404"):
                raise UploadError("the uploaded file is no longer in storage") from exc
            raise
        for chunk in body.iter_chunks(CHUNK):
            out.write(chunk)

    def promote(self, src: str, dst: str, *, etag: str) -> None:
        """Copy the pinned object to ``dst``; ``src`` stays until the caller deletes it, so a worker killed
        half-way can run again from ``src`` (a copy that ran before is replaced)."""
        from botocore.exceptions import ClientError

        try:
            self.client.copy({"Bucket": self.bucket, "Key": src}, self.bucket, dst,
                             ExtraArgs={"CopySourceIfMatch": etag, "ServerSideEncryption": "AES256"})
        except ClientError as exc:
            if self._error_code(exc) in ("PreconditionFailed", "412"):
                raise UploadError("the file changed after the upload was completed") from exc
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_many(self, keys: list[str]) -> None:
        """Delete these objects, a thousand per request (``DeleteObjects``); a key S3 could not delete is an
        error naming it (what is gone already is no error)."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start:start + 1000]]
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise UploadError(f"{len(answer['Errors'])} objects could not be deleted, the first "
                                  f"{first.get('Key')}: {first.get('Message') or first.get('Code')}")

    def upload_file(self, path: Path, key: str, *, content_type: str) -> None:
        """Store a finished local file with boto3's managed transfer: multipart in 8 MiB parts, each
        part retried on failure, never more than a few parts in memory."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
        self.client.upload_file(str(path), self.bucket, key, Config=config,
                                ExtraArgs={"ContentType": content_type, "ServerSideEncryption": "AES256"})

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes of a stored object from ``offset``: one ranged GET."""
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")["Body"]
        except ClientError as exc:
            if self._error_code(exc) in ("NoSuchKey", "404", "InvalidRange", "416"):
                raise UploadError("the file is no longer in storage") from exc
            raise
        data = body.read()
        if len(data) != length:
            raise UploadError("the stored file is shorter than its index says")
        return data

    def download_url(self, key: str, *, filename: str, content_type: str, inline: bool = False) -> str:
        disposition = "inline" if inline else content_disposition(filename)
        return self.client.generate_presigned_url(
            "get_object", ExpiresIn=DOWNLOAD_TTL,
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": disposition,
                    "ResponseContentType": content_type},
        )

    def check(self) -> None:
        """Raise unless the bucket answers (the health check: one HEAD request)."""
        self.client.head_bucket(Bucket=self.bucket)

    def keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]


@cache
def _backend_for(backend: str, options_key: str) -> LocalBackend | S3Backend:
    options = settings.STORAGES["default"].get("OPTIONS", {})
    if backend.endswith("S3Storage"):
        return S3Backend(options)
    return LocalBackend(options.get("location") or settings.MEDIA_ROOT)


def get_backend() -> LocalBackend | S3Backend:
    """The backend matching ``STORAGES["default"]`` (cached per configuration)."""
    default = settings.STORAGES["default"]
    return _backend_for(default["BACKEND"], repr(sorted(default.get("OPTIONS", {}).items())))

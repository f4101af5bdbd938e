"""A logging filter that keeps secrets out of every log line (SECURITY.md §3.12)."""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    (re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"']+", re.I), r"\1[redacted]"),
    (re.compile(r"(\b(?:Token|Bearer)\s+)[A-Za-z0-9_\-\.]{16,}"), r"\1[redacted]"),
    (re.compile(r"((?:password|passwd|secret|token|signature|sig)=)[^&\s\"']+", re.I), r"\1[redacted]"),
    (re.compile(r"('(?:password|token|secret)'\s*:\s*')[^']*'", re.I), r"\1[redacted]'"),
    # The local backend's signed links carry their signature in the path (Loupe's presigned URLs).
    (re.compile(r"(/files/|/api/v1/uploads/local/)[^/\s\"'?]+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True

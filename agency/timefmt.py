"""Times inside stored text (timeline messages, promise notes) shown in the reader's zone.

Text that is written once and read by people in several zones must not carry a formatted time:
``stamp(moment)`` puts a UTC marker in the text, and ``render_times`` turns each marker into the
local time of whoever reads it (the active zone: the viewer's on pages and in the API, the recipient's
or the studio's in mail, where the zone is named).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.utils import dateformat, timezone
from rest_framework import serializers

MARK = re.compile(r"\[\[time:([0-9T:+\-.]+)\]\]")
FORMAT = "D j M Y, H:i"


def stamp(moment: datetime) -> str:
    return f"[[time:{moment.astimezone(UTC).isoformat(timespec='seconds')}]]"


def render_times(text: str, *, name_zone: bool = False) -> str:
    def local(match: re.Match[str]) -> str:
        try:
            moment = timezone.localtime(datetime.fromisoformat(match.group(1)))
        except ValueError:
            return match.group(0)
        return dateformat.format(moment, f"{FORMAT} T" if name_zone else FORMAT)

    return MARK.sub(local, text) if "[[time:" in text else text



class LocalTimesField(serializers.CharField):
    """A read-only text field whose stamped times come out in the reader's zone (the API reads the
    same words as the page)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Any) -> str:
        return render_times(super().to_representation(value))

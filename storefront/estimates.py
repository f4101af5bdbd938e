"""The instant estimate (issue 23): a visitor picks services and a turnaround, sends up to five sample photos and
says how many pictures like them they have; Loupe grades each sample in the sandbox (the same decoder, limits and
refusals as an order's uploads, and the same measure: ``jobs.imaging.complexity``), prices the set from the
studio's default price list exactly as a quote would (``billing.services.quote_lines``) and gives the date the live
schedule allows (``jobs.production.planning.earliest_ready``, the promise's rule).

``estimate_create`` is the one writer: the page and ``POST /api/v1/public/estimates/`` call it. The samples are
written to a private temporary directory, graded and deleted before it returns: nothing a visitor sends is kept or
shown to anyone. The figures are kept for a day (the trial refers to them) and then deleted
(``delete_expired``, hourly).
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from agency.exceptions import InvalidTransition, RuleViolation
from agency.uploads import size_words
from billing.pricing import round_money
from billing.services import default_price_list, quote_lines
from jobs.imaging.complexity import describe
from jobs.imaging.sandbox import inspect_file
from jobs.imaging.sniff import sniff
from jobs.intake.ingest import key_extension, too_small
from jobs.models import Complexity, Service, Turnaround
from jobs.production.capacity import estimated_minutes
from jobs.production.planning import earliest_ready
from jobs.selectors import service_list
from storefront.models import Estimate

MAX_SAMPLES = 5
MAX_COUNT = 5000  # more is a conversation with the studio, not a form
LIFETIME = timedelta(hours=24)
SAMPLE_FAMILIES = {"JPEG", "PNG", "TIFF"}
SAMPLE_MAX_PIXELS = 100_000_000
SAMPLE_MEMORY_BYTES = 1 << 30
SAMPLE_WALL_SECONDS = 60


def max_sample_bytes() -> int:
    return settings.LOUPE_SAMPLE_MAX_BYTES


def max_request_bytes() -> int:
    """The largest body an estimate may send: five samples at their limit and the form around them."""
    return MAX_SAMPLES * max_sample_bytes() + 64 * 1024


@dataclass(frozen=True)
class Sample:
    name: str
    grade: str
    score: float | None
    features: dict[str, float]


def checked_choice(*, services: list[str], turnaround: str, count: Any) -> tuple[list[Service], int]:
    """The form's choices, each refused with the field it concerns: known active services (at least one),
    a turnaround tier, and a whole number of pictures from 1 to ``MAX_COUNT``."""
    codes = [str(code).strip() for code in services if str(code).strip()]
    if not codes:
        raise RuleViolation("Choose at least one service.", field="services")
    found = {s.code: s for s in service_list().filter(code__in=codes)}
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise RuleViolation(f"There is no service “{unknown[0][:40]}”; choose from the list.", field="services")
    if turnaround not in Turnaround.values:
        raise RuleViolation("Choose a turnaround: standard, express or rush.", field="turnaround")
    try:
        number = int(str(count).strip())
    except (TypeError, ValueError):
        raise RuleViolation("Say how many pictures you have, as a whole number.", field="count") from None
    if number < 1:
        raise RuleViolation("Say how many pictures you have: at least 1.", field="count")
    if number > MAX_COUNT:
        raise RuleViolation(f"For more than {MAX_COUNT:,} pictures, ask the studio for a quote: the estimate prices up "
                            f"to {MAX_COUNT:,}.", field="count")
    return sorted(found.values(), key=lambda s: (s.position, s.name)), number


def _checked_files(files: list[Any]) -> None:
    if not files:
        raise RuleViolation("Add at least one sample photo (JPEG, PNG or TIFF).", field="files")
    if len(files) > MAX_SAMPLES:
        raise RuleViolation(f"Send at most {MAX_SAMPLES} sample photos; {len(files)} were sent.", field="files")
    limit = max_sample_bytes()
    for upload in files:
        if upload.size > limit:
            raise RuleViolation(f"{_name(upload)} is {size_words(upload.size)}; a sample may be at most "
                                f"{size_words(limit)}.", field="files")


def _name(upload: Any) -> str:
    return (Path(str(upload.name or "sample")).name or "sample")[:80]


def grade_samples(files: list[Any]) -> list[Sample]:
    """Each sample checked by its first bytes, decoded and graded in the sandbox, and deleted at once; a file that
    is not a JPEG, PNG or TIFF photograph, or is damaged, hostile or too small, is refused with its reason."""
    _checked_files(files)
    samples = []
    with tempfile.TemporaryDirectory(prefix="loupe-samples-") as scratch:
        for n, upload in enumerate(files, start=1):
            name, extension = _name(upload), key_extension(_name(upload))
            path = Path(scratch) / f"{n}.{extension}"
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            with path.open("rb") as head:
                kind = sniff(head.read(64), size=path.stat().st_size, extension=extension)
            if kind.family not in SAMPLE_FAMILIES:
                reason = kind.reason or f"it is a {kind.label} file"
                raise RuleViolation(f"{name} cannot be estimated: {reason}. Send JPEG, PNG or TIFF samples.",
                                    field="files")
            outcome = inspect_file(path, extension=extension, max_pixels=SAMPLE_MAX_PIXELS, grade=True,
                                   memory_bytes=SAMPLE_MEMORY_BYTES, wall_seconds=SAMPLE_WALL_SECONDS)
            reason = outcome.reason if not outcome.ok else too_small(outcome.inspection or {})
            if reason:
                raise RuleViolation(f"{name} cannot be estimated: {reason}.", field="files")
            measured = (outcome.inspection or {}).get("complexity") or {}
            # a measure that failed prices the sample as standard (said on the answer), never refuses it
            samples.append(Sample(name, measured.get("grade", Complexity.STANDARD), measured.get("score"),
                                  measured.get("features") or {}))
    return samples


def mix(grades: list[str], count: int) -> Counter[str]:
    """``count`` pictures shared among the grades as the samples are (largest remainder: the shares add up to
    ``count`` exactly, and with as many pictures as samples each sample is one picture)."""
    shares = Counter(grades)
    exact = {grade: count * n / len(grades) for grade, n in shares.items()}
    given = {grade: math.floor(value) for grade, value in exact.items()}
    left = count - sum(given.values())
    order = sorted(exact, key=lambda g: (-(exact[g] - given[g]), Complexity.values.index(g)))
    for grade in order[:left]:
        given[grade] += 1
    return Counter({grade: n for grade, n in given.items() if n})


def drivers(samples: list[Sample]) -> str:
    """What drives the price, in a line: how many samples are complex and what made them so."""
    unmeasured = sum(1 for s in samples if s.score is None)
    if unmeasured:
        return (f"{unmeasured} of {len(samples)} sample{'s' if len(samples) != 1 else ''} could not be measured and "
                f"{'is' if unmeasured == 1 else 'are'} priced as standard")
    hard = [s for s in samples if s.grade == Complexity.COMPLEX]
    if not hard:
        grades = Counter(s.grade for s in samples)
        return "; ".join(f"{n} of {len(samples)} {'is' if n == 1 else 'are'} {grade}"
                         for grade, n in sorted(grades.items(), key=lambda g: Complexity.values.index(g[0])))
    reasons: list[str] = []
    for sample in hard:
        words = describe(sample.features)
        if words and words[0] not in reasons:
            reasons.append(words[0])
    said = f"{len(hard)} of {len(samples)} sample{'s' if len(samples) != 1 else ''} {'is' if len(hard) == 1 else 'are'} complex"
    return said + (f": {'; '.join(reasons)}" if reasons else "")


def estimate_create(*, files: list[Any], services: list[str], turnaround: str, count: Any,
                    now: datetime | None = None) -> Estimate:
    """Grade the samples, price ``count`` pictures like them and date them; returns the kept figures. The cheap
    checks come first: nothing is decoded for a form that would be refused anyway."""
    chosen, number = checked_choice(services=services, turnaround=turnaround, count=count)
    price_list = default_price_list()
    if price_list is None:
        raise InvalidTransition("The studio has not published its prices yet; ask it for a quote.")
    samples = grade_samples(files)
    shares = mix([s.grade for s in samples], number)
    lines = quote_lines(price_list=price_list, services=chosen, complexities=shares, turnaround=turnaround,
                        minimum=price_list.minimum_order)
    price = round_money(sum((line.amount for line in lines), Decimal("0")), price_list.currency)
    now = now or timezone.now()
    minutes = [estimated_minutes(grade, chosen) for grade, n in shares.items() for _ in range(n)]
    ready_by, note = earliest_ready(minutes=minutes, services=chosen, turnaround=turnaround, now=now)
    return Estimate.objects.create(
        created_at=now, expires_at=now + LIFETIME, services=[s.code for s in chosen], turnaround=turnaround,
        count=number, price=price, currency=price_list.currency, ready_by=ready_by, schedule_note=note,
        samples=[asdict(s) for s in samples], mix=dict(shares))


def estimate_drivers(estimate: Estimate) -> str:
    return drivers([Sample(**sample) for sample in estimate.samples])


def live(pk: Any) -> Estimate | None:
    """An estimate while its day lasts, by its id (a malformed id is none), for its page and the trial that follows it."""
    try:
        return Estimate.objects.filter(pk=pk, expires_at__gt=timezone.now()).first()
    except (ValueError, ValidationError):
        return None


def delete_expired(*, now: datetime | None = None) -> int:
    """The hourly task's body: estimates past their day are deleted. Returns how many."""
    deleted, _ = Estimate.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted

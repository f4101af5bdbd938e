"""The quality report: first-time approval (delivered pictures approved without a defect round), QC reject rates,
and how often managers graded a picture otherwise than measured at intake, per retoucher, client and month, with
the counts behind each share.

Five years of a busy studio is millions of pictures and versions; the report must not count them all on every
view (issue 24, bench/scale.py). Closed months are counted once by the worker into ``QualityTally`` rows (per
month and client, per month and retoucher; ``tally_closed_months``, daily); the report adds up those rows and
counts live only what came after the last tallied month. Until the worker has tallied anything (a new studio, the
tests) everything is counted live, so the figures are the same either way; the last closed month is counted again
each day, so a late change to it (a grade changed on the first of the month) still reaches the report.

The tallies are the whole studio's: a viewer whose scope is narrower than the studio's reports (none is today:
``jobs.permissions.can_view_quality_report``) is counted live within their scope."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from clients.tenancy import scope
from jobs import permissions
from jobs.models import (
    ImageStatus,
    ItemKind,
    OrderImage,
    QualityTally,
    RevisionItem,
    Version,
    VersionStatus,
)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)  # months are the studio's, whoever views


@dataclass(frozen=True)
class Measure:
    """One of the report's three measures: its rows (with ``month``), what it counts, and how its rows reach a
    client and a retoucher."""

    rows: Callable[[], QuerySet[Any]]
    moment: str  # the field whose month the row belongs to
    total: Any
    hits: Any
    client: str
    retoucher: str | None  # the lookup to the retoucher's id, or None: not reported per retoucher
    retoucher_name: str | None


def _approved() -> QuerySet[OrderImage]:
    defect = RevisionItem.objects.filter(image=OuterRef("pk"), kind=ItemKind.DEFECT)
    first_version = Version.objects.filter(image=OuterRef("pk"), status=VersionStatus.PASSED).order_by("number")
    return OrderImage.objects.filter(status=ImageStatus.APPROVED).annotate(
        defect=Exists(defect), retoucher=Subquery(first_version.values("created_by")[:1]),
        retoucher_name=Subquery(first_version.values("created_by__full_name")[:1]),
        month=TruncMonth("approved_at", tzinfo=_zone()))


MEASURES = {
    "ftar": Measure(_approved, "approved_at", Count("id", distinct=True), Count("id", filter=Q(defect=False), distinct=True),
                    "order__client", "retoucher", "retoucher_name"),
    "qc": Measure(lambda: Version.objects.filter(qc_at__isnull=False).annotate(month=TruncMonth("qc_at", tzinfo=_zone())),
                  "qc_at", Count("id"), Count("id", filter=Q(status=VersionStatus.FAILED)), "image__order__client",
                  "created_by", "created_by__full_name"),
    "override": Measure(lambda: OrderImage.objects.exclude(complexity_estimate="").annotate(
                            month=TruncMonth("created_at", tzinfo=_zone())),
                        "created_at", Count("id"), Count("id", filter=~Q(complexity=F("complexity_estimate"))),
                        "order__client", None, None),
}
# The sections the page shows: (measure, per what), each with its share's words.
SECTIONS = {"ftar_retoucher": ("ftar", "retoucher"), "ftar_client": ("ftar", "client"), "ftar_month": ("ftar", "month"),
            "qc_retoucher": ("qc", "retoucher"), "qc_client": ("qc", "client"), "qc_month": ("qc", "month"),
            "override_client": ("override", "client"), "override_month": ("override", "month")}
WORDS = {"ftar": ("images", "first_time"), "qc": ("reviewed", "rejected"), "override": ("measured", "overridden")}


def _month_start(day: date) -> datetime:
    return datetime.combine(day.replace(day=1), time.min, tzinfo=_zone())


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def report(user: Any, only: Iterable[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The report's sections (``only``: the ones named; default all) as the page and the tests read them."""
    wanted = [name for name in SECTIONS if only is None or name in only]
    # the tallies are the whole studio's: only a viewer who sees the whole studio reads them
    through = (QualityTally.objects.order_by("-month").values_list("month", flat=True).first()
               if permissions.can_view_studio_reports(user) else None)
    live_from = _month_start(_next_month(through)) if through else None
    return {name: _section(user, *SECTIONS[name], through, live_from) for name in wanted}


def _section(user: Any, kind: str, per: str, through: date | None, live_from: datetime | None) -> list[dict[str, Any]]:
    measure = MEASURES[kind]
    sums: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    if through is not None:
        key = {"retoucher": "retoucher__full_name", "client": "client__name", "month": "month"}[per]
        tallies = QualityTally.objects.filter(kind=kind, per="retoucher" if per == "retoucher" else "client")
        for row in tallies.values(key).annotate(total=Sum("total"), hits=Sum("hits")).order_by():
            month = row[key]
            sums[_month_start(month) if per == "month" else month][0] += row["total"]
            sums[_month_start(month) if per == "month" else month][1] += row["hits"]
    live = scope(measure.rows(), user)
    if live_from is not None:
        live = live.filter(**{f"{measure.moment}__gte": live_from})
    key = {"retoucher": measure.retoucher_name, "client": f"{measure.client}__name", "month": "month"}[per]
    for row in live.values(key).annotate(total=measure.total, hits=measure.hits).order_by():
        sums[row[key]][0] += row["total"]
        sums[row[key]][1] += row["hits"]
    total_word, hits_word = WORDS[kind]
    rows = []
    for value, (total, hits) in sorted(sums.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        rows.append({"key": value, total_word: total, hits_word: hits,
                     "percent": round(100 * hits / total, 1) if total else None})
    return rows


def tally_closed_months(now: datetime | None = None) -> int:
    """Count every closed month not tallied yet, and the last closed month again; returns the rows written."""
    today = timezone.localtime(now or timezone.now(), _zone()).date()
    current = today.replace(day=1)
    last_closed = _month_start(current - timedelta(days=1)).date()
    through = QualityTally.objects.order_by("-month").values_list("month", flat=True).first()
    first = _first_month()
    if first is None or first >= current:
        return 0
    month = min(last_closed, _next_month(through)) if through else first
    written = 0
    while month < current:
        written += _tally(month)
        month = _next_month(month)
    return written


def _first_month() -> date | None:
    starts = []
    for measure in MEASURES.values():
        earliest = measure.rows().order_by(measure.moment).values_list(measure.moment, flat=True).first()
        if earliest is not None:
            starts.append(timezone.localtime(earliest, _zone()).date().replace(day=1))
    return min(starts, default=None)


@transaction.atomic
def _tally(month: date) -> int:
    """Replace one month's tallies with its counts now."""
    start, end = _month_start(month), _month_start(_next_month(month))
    QualityTally.objects.filter(month=month).delete()
    rows = []
    for kind, measure in MEASURES.items():
        facts = measure.rows().filter(**{f"{measure.moment}__gte": start, f"{measure.moment}__lt": end})
        for per, lookup in (("client", measure.client), ("retoucher", measure.retoucher)):
            if lookup is None:
                continue
            for row in facts.values(lookup).annotate(total=measure.total, hits=measure.hits).order_by():
                rows.append(QualityTally(kind=kind, per=per, month=month, total=row["total"], hits=row["hits"],
                                         **{f"{per}_id": row[lookup]}))
    QualityTally.objects.bulk_create(rows)
    return len(rows)

"""The storefront's reads. A person's reads start from ``clients.tenancy.scope``; the public page's reads
are the studio's own figures, computed over every client (nothing in them names a client who did not
choose to be named)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count
from django.utils import timezone

from clients.tenancy import scope
from jobs.models import Order, Version, VersionStatus
from jobs.selectors import quality_report
from storefront.models import Rating

PUBLIC_COMMENTS = 50


def twelve_months_before(moment: datetime) -> datetime:
    """The same instant twelve months earlier (29 February falls back to the 28th)."""
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:
        return moment.replace(year=moment.year - 1, day=28)


def _average(total: Any, count: int) -> Decimal | None:
    if not count:
        return None
    return (Decimal(total) / count).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class PublicRatings:
    """What the public page says about the studio: the average and count over **every** rating of the last
    twelve months (published or not), how many gave each score, and the comments their authors published."""

    since: datetime
    count: int
    average: Decimal | None
    stars: dict[int, int]
    comments: list[Rating] = field(default_factory=list)
    comments_total: int = 0

    def as_data(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "count": self.count,
                "average": str(self.average) if self.average is not None else None,
                "stars": {str(n): self.stars[n] for n in range(5, 0, -1)}, "comments_total": self.comments_total,
                "comments": [{"score": r.score, "comment": r.comment, "name": r.shown_name, "company": r.shown_company,
                              "rated_at": r.rated_at.isoformat()} for r in self.comments]}


def public_ratings(*, now: datetime | None = None) -> PublicRatings:
    """Three queries, whatever the number of ratings."""
    since = twelve_months_before(now or timezone.now())
    recent = Rating.objects.filter(rated_at__gt=since)
    stars = {n: 0 for n in range(1, 6)}
    for row in recent.order_by().values("score").annotate(n=Count("id")):
        stars[row["score"]] = row["n"]
    count = sum(stars.values())
    total = sum(score * n for score, n in stars.items())
    published = recent.filter(publish=True).exclude(comment="")
    return PublicRatings(since=since, count=count, average=_average(total, count), stars=stars,
                         comments=list(published.order_by("-rated_at")[:PUBLIC_COMMENTS]),
                         comments_total=published.count())


def order_rating(user: Any, order: Order) -> Rating | None:
    return scope(Rating.objects.filter(order=order), user).select_related("by").first()


@dataclass
class RatingRow:
    key: str
    count: int = 0
    total: int = 0
    low: int = 0  # ratings of 1 or 2
    first_time: dict[str, Any] | None = None

    @property
    def average(self) -> Decimal | None:
        return _average(self.total, self.count)


def ratings_report(user: Any) -> dict[str, list[RatingRow]]:
    """Every rating per client and per retoucher (a rating counts for each retoucher whose work QC passed on
    the order), beside the quality report's first-time approval for the same client or retoucher."""
    ratings = scope(Rating.objects.all(), user)
    quality = quality_report(user)
    clients: dict[str, RatingRow] = {}
    for name, score in ratings.order_by().values_list("client__name", "score"):
        _count(clients.setdefault(name, RatingRow(name)), score)
    workers: dict[str, RatingRow] = {}
    seen: set[tuple[str, Any]] = set()
    passed = (Version.objects.filter(status=VersionStatus.PASSED, image__order__rating__in=ratings)
              .values_list("created_by__full_name", "image__order__rating", "image__order__rating__score").distinct())
    for name, rating_id, score in passed:
        if name and (name, rating_id) not in seen:
            seen.add((name, rating_id))
            _count(workers.setdefault(name, RatingRow(name)), score)
    _beside(clients, quality["ftar_client"])
    _beside(workers, quality["ftar_retoucher"])
    return {"clients": sorted(clients.values(), key=lambda r: r.key.lower()),
            "retouchers": sorted(workers.values(), key=lambda r: r.key.lower())}


def _count(row: RatingRow, score: int) -> None:
    row.count += 1
    row.total += score
    row.low += score <= 2


def _beside(rows: dict[str, RatingRow], ftar: list[dict[str, Any]]) -> None:
    for line in ftar:
        if line["key"] in rows:
            rows[line["key"]].first_time = line

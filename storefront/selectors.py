"""The storefront's reads. A person's reads start from ``clients.tenancy.scope``; the public page's reads
are the studio's own figures, computed over every client (nothing in them names a client who did not
choose to be named)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from clients.tenancy import scope
from jobs.models import ImageStatus, Order, OrderImage, Version, VersionStatus
from jobs.quality import report as quality_report
from storefront.models import PortfolioConsent, PortfolioPair, Rating

PUBLIC_COMMENTS = 50
CANDIDATES = 60
PUBLIC_PAIRS = 48  # the public page and API show the first 48 in the studio's order


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
    published = recent.filter(publish=True, hidden_at__isnull=True).exclude(comment="")
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
    quality = quality_report(user, only={"ftar_client", "ftar_retoucher"})
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


# -- the portfolio ---------------------------------------------------------------------------------------------

def consent_in_force(image: str = "image", order: str = "image__order") -> Exists:
    """A condition on a query whose ``image`` and ``order`` lookups are a picture and its order: a consent for the
    picture, or for its whole order, is in force. The one place that says when a picture may be shown."""
    live = PortfolioConsent.objects.filter(order=OuterRef(order), withdrawn_at__isnull=True)
    return Exists(live.filter(Q(image__isnull=True) | Q(image=OuterRef(image))))


def public_pairs(*, service: str = "", piece: str = "") -> QuerySet[PortfolioPair]:
    """The pairs the public sees: published by the studio, their copies made, and their client's consent in
    force at this instant (a withdrawal takes them off at once). Anonymous: the studio's own choice."""
    pairs = (PortfolioPair.objects.filter(published=True, copies_at__isnull=False).exclude(before="")
             .filter(consent_in_force()))
    if service:
        pairs = pairs.filter(service=service)
    if piece:
        pairs = pairs.filter(piece=piece)
    return pairs.order_by("position", "-created_at")


def pair_list(user: Any) -> QuerySet[PortfolioPair]:
    """The pairs a person may see (a company its own), with whether each may be shown now."""
    return (scope(PortfolioPair.objects.all(), user).select_related("client", "image__order", "version")
            .annotate(consented=consent_in_force()).order_by("position", "-created_at"))


def pair_get(user: Any, pk: Any) -> PortfolioPair:
    return get_object_or_404(pair_list(user), pk=pk)


def picture_list(user: Any) -> QuerySet[OrderImage]:
    return scope(OrderImage.objects.select_related("order__client"), user)


def picture_get(user: Any, pk: Any) -> OrderImage:
    """A picture the person may see, by id (a malformed id is not found either)."""
    try:
        return get_object_or_404(picture_list(user), pk=pk)
    except ValidationError:
        raise Http404("No such picture.") from None


def candidates(user: Any) -> list[OrderImage]:
    """Approved pictures whose client agreed to show them and that are not in the portfolio yet, newest
    approvals first, with the version each was approved in (``shown_version``). A fixed number of queries."""
    from jobs.selectors import delivered_items

    images = list(scope(OrderImage.objects.filter(status=ImageStatus.APPROVED, portfolio_pair__isnull=True), user)
                  .filter(consent_in_force("pk", "order")).select_related("order__client")
                  .order_by("-approved_at", "filename")[:CANDIDATES])
    items = delivered_items(images)
    for image in images:
        image.shown_version = items[image.pk].version if image.pk in items else None
    return [image for image in images if image.shown_version is not None]


@dataclass
class OrderPortfolio:
    """An order's consent and its pictures: per approved picture whether it may be shown and whether it is."""

    whole_order: PortfolioConsent | None
    pictures: list[tuple[OrderImage, bool, PortfolioPair | None]]

    @property
    def shown(self) -> int:
        return sum(1 for _, _, pair in self.pictures if pair is not None and pair.published and pair.copies_at)


def order_portfolio(user: Any, order: Order) -> OrderPortfolio:
    consents = list(scope(PortfolioConsent.objects.filter(order=order, withdrawn_at__isnull=True), user))
    whole = next((c for c in consents if c.image_id is None), None)
    one_by_one = {c.image_id for c in consents if c.image_id is not None}
    images = list(scope(OrderImage.objects.filter(order=order, status=ImageStatus.APPROVED), user)
                  .select_related("portfolio_pair").order_by("position", "created_at"))
    pairs = {image.pk: getattr(image, "portfolio_pair", None) for image in images}
    return OrderPortfolio(whole_order=whole, pictures=[
        (image, whole is not None or image.pk in one_by_one, pairs[image.pk]) for image in images])


def trial_list(user: Any) -> Any:
    """Trial requests, newest first, for the studio's managers (nobody else reads them)."""
    from storefront.models import TrialRequest
    from storefront.permissions import can_answer_trials

    if not can_answer_trials(user):
        return TrialRequest.objects.none()
    return TrialRequest.objects.select_related("decided_by", "client", "order")


def trial_get(user: Any, pk: Any) -> Any:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(trial_list(user), pk=pk)


def published_comments(user: Any, *, limit: int = 100) -> list[Rating]:
    """The comments authors chose to publish, shown or taken off by the studio, newest first (the managers' list)."""
    from storefront.permissions import can_curate_portfolio

    if not can_curate_portfolio(user):
        return []
    return list(Rating.objects.filter(publish=True).exclude(comment="").select_related("order", "client", "hidden_by")
                .order_by("-rated_at")[:limit])


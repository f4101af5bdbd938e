"""The storefront's writes: one function per use case, transactional (DESIGN.md §1)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.tasks import enqueue_on_commit
from jobs.events import CLIENT, record_event
from jobs.models import Order, OrderStatus
from storefront import permissions
from storefront.models import RATING_COMMENT_MAX, Rating


def _score(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RuleViolation("Give the order 1 to 5 stars.", field="score")
    try:
        score = int(value)
    except ValueError:
        raise RuleViolation("Give the order 1 to 5 stars.", field="score") from None
    if not 1 <= score <= 5:
        raise RuleViolation(f"{score} is not a rating: give the order 1 to 5 stars.", field="score")
    return score


def rating_give(*, order: Order, by: Any, score: Any, comment: str = "", publish: bool = False, shown_name: str = "",
                shown_company: str = "") -> Rating:
    """A client admin rates a completed order of their company (or changes the rating: one per order, the
    latest answer stands and counts from when it was given). The same answer twice changes nothing."""
    if not permissions.can_rate_order(by, order):
        raise NotPermitted(f"Only an admin of {order.client.name} rates its orders.")
    score = _score(score)
    comment, shown_name, shown_company = comment.strip(), " ".join(shown_name.split()), " ".join(shown_company.split())
    if len(comment) > RATING_COMMENT_MAX:
        raise RuleViolation(f"Keep the comment under {RATING_COMMENT_MAX} characters (it has {len(comment)}).",
                            field="comment")
    if len(shown_name) > 80 or len(shown_company) > 120:
        field = "shown_name" if len(shown_name) > 80 else "shown_company"
        raise RuleViolation("Shorten the name shown beside the comment (80 characters for a name, 120 for a company).",
                            field=field)
    if publish and not comment:
        raise RuleViolation("There is no comment to publish: write one, or leave it unpublished.", field="comment")
    if publish and not shown_name:
        raise RuleViolation("Say how your name should appear beside the published comment.", field="shown_name")
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("client").get(pk=order.pk)
        if order.status != OrderStatus.COMPLETED:
            raise InvalidTransition(f"{order.number} is {order.get_status_display().lower()}: an order is rated once "
                                    "it is completed.")
        answer = {"score": score, "comment": comment, "publish": publish, "shown_name": shown_name,
                  "shown_company": shown_company}
        rating = Rating.objects.filter(order=order).first()
        if rating is not None and all(getattr(rating, name) == value for name, value in answer.items()):
            return rating
        changed = rating is not None
        if rating is None:
            rating = Rating(order=order, client_id=order.client_id)
        for name, value in answer.items():
            setattr(rating, name, value)
        rating.by, rating.rated_at = by, timezone.now()
        rating.full_clean()
        rating.save()
        said = "changed the rating to" if changed else "rated the order"
        record_event(order=order, actor=by, verb="order.rated", message=f"{order.client.name} {said} {score} of 5",
                     audience=CLIENT, data={"score": score, "changed": changed, "published": publish})
    return rating


def ask_for_rating(*, order: Order) -> None:
    """A completed order asks its company's admins for a rating (after commit, once: the notice is a
    unique row per person)."""
    enqueue_on_commit("storefront.tasks.ask_for_rating", str(order.pk), group="notifications")

"""The storefront's writes: one function per use case, transactional (DESIGN.md §1)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.tasks import enqueue_on_commit
from jobs.events import CLIENT, record_event
from jobs.models import ImageStatus, Order, OrderImage, OrderStatus
from storefront import permissions, selectors
from storefront.models import RATING_COMMENT_MAX, Piece, PortfolioConsent, PortfolioPair, PortfolioService, Rating


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
        if rating.hidden_at and rating.comment != comment:  # a new comment is the author's again
            rating.hidden_at, rating.hidden_by, rating.hidden_reason = None, None, ""
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


# -- the portfolio -----------------------------------------------------------------------------------------------

SHOWN_STATUSES = frozenset(set(OrderStatus) - {OrderStatus.DRAFT, OrderStatus.CANCELLED})


def _pictures_of(order: Order, images: list[Any] | None) -> list[OrderImage] | None:
    if images is None:
        return None
    if not images:
        raise RuleViolation("Name at least one picture, or none to mean the whole order.", field="images")
    found = list(OrderImage.objects.filter(order=order, pk__in=list(images)))
    if len(found) != len(set(images)):
        raise RuleViolation(f"Only pictures of {order.number} can be named here.", field="images")
    return found


def consent_give(*, order: Order, by: Any, images: list[Any] | None = None) -> int:
    """A client admin lets the studio show the order's approved pictures in public (``images`` None: the whole
    order, pictures approved later included) or some of them. Returns how many consents were new: giving the
    same consent twice changes nothing."""
    if not permissions.can_consent_portfolio(by, order):
        raise NotPermitted(f"Only an admin of {order.client.name} decides what of its work is shown in public.")
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("client").get(pk=order.pk)
        if order.status not in SHOWN_STATUSES:
            raise InvalidTransition(f"{order.number} is {order.get_status_display().lower()}: nothing of it can be shown.")
        pictures = _pictures_of(order, images)
        live = PortfolioConsent.objects.filter(order=order, withdrawn_at__isnull=True)
        if live.filter(image__isnull=True).exists():
            return 0  # the whole order is already shared: every picture is covered
        if pictures is None:
            made = [PortfolioConsent.objects.create(client=order.client, order=order, given_by=by)]
            live.filter(image__isnull=False).update(withdrawn_at=timezone.now(), withdrawn_by=by)  # folded in
            what = "all its approved pictures"
        else:
            covered = set(live.values_list("image_id", flat=True))
            made = PortfolioConsent.objects.bulk_create([
                PortfolioConsent(client=order.client, order=order, image=picture, given_by=by)
                for picture in pictures if picture.pk not in covered])
            what = ", ".join(p.filename for p in pictures if p.pk not in covered)
        if made:
            record_event(order=order, actor=by, verb="portfolio.consented", audience=CLIENT,
                         message=f"{order.client.name} lets the studio show {what} on its public page"[:500],
                         data={"images": [str(c.image_id) for c in made if c.image_id] or None})
    return len(made)


def consent_withdraw(*, order: Order, by: Any, images: list[Any] | None = None) -> int:
    """A client admin takes back the consent for the whole order (``images`` None) or some pictures: their pairs
    leave the public page at once (unpublished, the copies' names cleared in the same transaction, the files
    deleted after commit). Withdrawing one picture of a shared order keeps the others shared, one by one.
    Returns how many pairs left the page."""
    if not permissions.can_consent_portfolio(by, order):
        raise NotPermitted(f"Only an admin of {order.client.name} decides what of its work is shown in public.")
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("client").get(pk=order.pk)
        pictures = _pictures_of(order, images)
        now = timezone.now()
        live = PortfolioConsent.objects.filter(order=order, withdrawn_at__isnull=True)
        whole = live.filter(image__isnull=True).first()
        if pictures is None:
            withdrawn = live.update(withdrawn_at=now, withdrawn_by=by)
            leaving = PortfolioPair.objects.filter(image__order=order)
        else:
            ids = {p.pk for p in pictures}
            if whole is not None:  # the rest of the order stays shared, picture by picture
                whole.withdrawn_at, whole.withdrawn_by = now, by
                whole.save(update_fields=["withdrawn_at", "withdrawn_by"])
                kept = OrderImage.objects.filter(order=order).exclude(pk__in=ids)
                PortfolioConsent.objects.bulk_create([PortfolioConsent(client=order.client, order=order, image=image,
                                                                       given_by=whole.given_by, given_at=whole.given_at)
                                                      for image in kept])
            withdrawn = live.filter(image__in=ids).update(withdrawn_at=now, withdrawn_by=by) + (whole is not None)
            leaving = PortfolioPair.objects.filter(image__in=ids)
        if not withdrawn:
            return 0
        gone = _take_down(list(leaving))
        names = ", ".join(p.filename for p in pictures) if pictures else "all its pictures"
        record_event(order=order, actor=by, verb="portfolio.withdrawn", audience=CLIENT,
                     message=f"{order.client.name} no longer lets the studio show {names}"[:500],
                     data={"images": [str(p.pk) for p in pictures] if pictures else None, "pairs_removed": gone})
    return gone


def _take_down(pairs: list[PortfolioPair]) -> int:
    """Unpublish ``pairs`` and forget their copies now; the files go after commit."""
    keys = [key for pair in pairs for key in (pair.before, pair.after) if key]
    shown = sum(1 for pair in pairs if pair.published and pair.copies_at)
    PortfolioPair.objects.filter(pk__in=[p.pk for p in pairs]).update(published=False, before="", after="",
                                                                       copies_at=None)
    if keys:
        enqueue_on_commit("storefront.tasks.delete_copies", keys, group="storefront")
    return shown


def pair_create(*, image: OrderImage, by: Any, title: str, service: str, piece: str, position: int = 0) -> PortfolioPair:
    """The studio chooses an approved picture its client agreed to show; its web copies are made in the
    background (published separately, once they are there)."""
    from jobs.selectors import delivered_items

    if not permissions.can_curate_portfolio(by):
        raise NotPermitted("The studio's managers choose what the public page shows.")
    fields = _pair_fields(title=title, service=service, piece=piece, position=position)
    with transaction.atomic():
        image = OrderImage.objects.select_for_update().select_related("order__client").get(pk=image.pk)
        if image.status != ImageStatus.APPROVED:
            raise InvalidTransition(f"{image.filename} is {image.get_status_display().lower()}: only a picture its client "
                                    "approved can be shown.")
        if not OrderImage.objects.filter(pk=image.pk).filter(selectors.consent_in_force("pk", "order")).exists():
            raise InvalidTransition(f"{image.order.client.name} has not agreed to show {image.filename} in public.")
        if PortfolioPair.objects.filter(image=image).exists():
            raise InvalidTransition(f"{image.filename} is already in the portfolio.")
        item = delivered_items([image.pk]).get(image.pk)
        if item is None:
            raise InvalidTransition(f"{image.filename} was never delivered: there is no approved version to show.")
        pair = PortfolioPair.objects.create(client=image.order.client, image=image, version=item.version,
                                            created_by=by, **fields)
        enqueue_on_commit("storefront.tasks.make_copies", str(pair.pk), group="storefront")
    return pair


def _pair_fields(**fields: Any) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    if "title" in fields:
        title = " ".join(str(fields["title"] or "").split())
        if not title:
            raise RuleViolation("Give the pair a title (what the piece is).", field="title")
        if len(title) > 120:
            raise RuleViolation("Keep the title under 120 characters.", field="title")
        cleaned["title"] = title
    for name, choices in (("service", PortfolioService), ("piece", Piece)):
        if name in fields:
            if fields[name] not in choices.values:
                raise RuleViolation(f"Choose one of: {', '.join(choices.values)}.", field=name)
            cleaned[name] = fields[name]
    if "position" in fields:
        position = fields["position"]
        if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 100_000:
            raise RuleViolation("The position is a whole number from 0 (first) to 100000.", field="position")
        cleaned["position"] = position
    return cleaned


def pair_update(*, pair: PortfolioPair, by: Any, published: bool | None = None, **fields: Any) -> PortfolioPair:
    """Describe, order, publish or hide a pair. Publishing needs its copies and its client's consent in force."""
    if not permissions.can_curate_portfolio(by):
        raise NotPermitted("The studio's managers choose what the public page shows.")
    cleaned = _pair_fields(**fields)
    with transaction.atomic():
        pair = PortfolioPair.objects.select_for_update().select_related("image__order__client").get(pk=pair.pk)
        order = pair.image.order
        if published and not pair.published:
            if not PortfolioPair.objects.filter(pk=pair.pk).filter(selectors.consent_in_force()).exists():
                raise InvalidTransition(f"{order.client.name} no longer lets the studio show {pair.image.filename}.")
            if pair.copies_at is None:
                raise InvalidTransition(f"The web copies of “{pair.title}” are not made yet"
                                        f"{f': {pair.copy_error}' if pair.copy_error else ''}.")
        for name, value in cleaned.items():
            setattr(pair, name, value)
        changed = published is not None and published != pair.published
        if published is not None:
            pair.published = published
        pair.save()
        if changed:
            record_event(order=order, actor=by, verb="portfolio.shown" if published else "portfolio.hidden",
                         audience=CLIENT, data={"image": str(pair.image_id), "pair": str(pair.pk)},
                         message=f"{pair.image.filename} {'is shown' if published else 'is no longer shown'} on the "
                                 f"studio's public page as “{pair.title}”")
    return pair


def pair_remove(*, pair: PortfolioPair, by: Any) -> None:
    """Take a pair out of the portfolio: the row and its copies go."""
    if not permissions.can_curate_portfolio(by):
        raise NotPermitted("The studio's managers choose what the public page shows.")
    with transaction.atomic():
        pair = PortfolioPair.objects.select_for_update().select_related("image__order").get(pk=pair.pk)
        was_shown = pair.published and pair.copies_at is not None
        keys = [key for key in (pair.before, pair.after) if key]
        pair.delete()
        if keys:
            enqueue_on_commit("storefront.tasks.delete_copies", keys, group="storefront")
        if was_shown:
            record_event(order=pair.image.order, actor=by, verb="portfolio.hidden", audience=CLIENT,
                         data={"image": str(pair.image_id)},
                         message=f"{pair.image.filename} is no longer shown on the studio's public page")


def comment_visibility(*, order: Order, by: Any, hidden: bool, reason: str = "") -> Rating:
    """The studio takes a published comment off its public page (abuse, a name that should not be there), saying
    why, or shows it again. The rating itself still counts in the average. The studio's managers only; the same
    answer twice changes nothing; a rating without a published comment has nothing to hide."""
    if not permissions.can_curate_portfolio(by):
        raise NotPermitted("The studio's managers decide what its public page shows.")
    reason = " ".join(str(reason or "").split())
    if hidden and not reason:
        raise RuleViolation("Say why the comment is taken off the page (its author reads it).", field="reason")
    if len(reason) > 300:
        raise RuleViolation("Keep the reason under 300 characters.", field="reason")
    with transaction.atomic():
        rating = Rating.objects.select_for_update().filter(order=order).first()
        if rating is None or not (rating.publish and rating.comment):
            raise InvalidTransition(f"{order.number} has no published comment to hide or show.")
        if bool(rating.hidden_at) == hidden:
            return rating
        rating.hidden_at, rating.hidden_by = (timezone.now(), by) if hidden else (None, None)
        rating.hidden_reason = reason if hidden else ""
        rating.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
        record_event(order=order, actor=by, verb="order.rating_hidden" if hidden else "order.rating_shown",
                     audience=CLIENT, data={"reason": reason} if hidden else {},
                     message=f"The studio took the rating's comment off its public page: {reason}" if hidden
                     else "The studio shows the rating's comment on its public page again")
    return rating


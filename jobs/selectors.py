"""Reads for orders, images and events. Each starts from ``clients.tenancy.scope``."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from clients.tenancy import scope
from jobs import permissions
from jobs.models import (
    QUEUED,
    Annotation,
    AnnotationReply,
    CompanyExport,
    Delivery,
    DeliveryItem,
    Event,
    Message,
    Order,
    OrderImage,
    RevisionItem,
    RevisionRound,
    Service,
    ShareLink,
    TilePyramid,
    Version,
    VersionStatus,
)
from jobs.next_step import needing_action, with_next_step


def service_list(*, active_only: bool = True) -> QuerySet[Service]:
    """The catalog is the same for everyone; it holds no client data."""
    qs = Service.objects.all()
    return qs.filter(is_active=True) if active_only else qs


def order_list(user: Any, *, status: str | None = None, client: Any = None, search: str = "",
               mine: bool = False) -> QuerySet[Order]:
    """The user's orders with their next step, image counts and first thumbnail; the ones waiting for
    this user first (``mine``: only those), then the newest."""
    visible = scope(OrderImage.objects.all(), user).values("pk")  # a retoucher sees only their images
    first_thumbnail = (OrderImage.objects.filter(order=OuterRef("pk"), pk__in=visible).exclude(thumbnail="")
                       .order_by("position", "created_at").values("pk")[:1])
    qs = _filtered(scope(Order.objects.all(), user), user, status=status, client=client, search=search)
    qs = with_next_step(qs.select_related("client", "style_guide"), user)
    qs = qs.annotate(thumbnail_image=Subquery(first_thumbnail))
    if mine:
        qs = qs.filter(action_first=0)
    return qs.order_by("action_first", "-created_at")


def _filtered(orders: QuerySet[Order], user: Any, *, status: str | None, client: Any, search: str) -> QuerySet[Order]:
    if status:
        orders = orders.filter(status=status)
    if client:
        orders = orders.filter(client=client)
    if search:
        orders = orders.filter(search_condition(search, user))
    return orders


def search_condition(search: str, user: Any) -> Q:
    """An order matches a search by its number, title or PO number, or by the SKU or file name of one of its
    pictures the user may see (a retoucher: theirs). Case-insensitive substrings, as one list of order ids (a
    UNION of the two sides, so that on PostgreSQL each side reads its trigram indexes, jobs/migrations/
    0019_search_indexes.py, where an OR with a subquery would scan every order); on SQLite a plain scan."""
    by_order = scope(Order.objects.filter(Q(number__icontains=search) | Q(title__icontains=search)
                                          | Q(po_number__icontains=search)), user).order_by().values("pk")
    by_picture = scope(OrderImage.objects.all(), user).filter(
        Q(sku__icontains=search) | Q(filename__icontains=search)).order_by().values("order_id")
    return Q(pk__in=by_order.union(by_picture))


def order_count(user: Any, *, status: str | None = None, client: Any = None, search: str = "") -> int:
    """How many orders ``order_list`` lists with these filters (not ``mine``): a plain count, without
    the next-step annotations a count of ``order_list`` would compile and group by."""
    return _filtered(scope(Order.objects.all(), user), user, status=status, client=client, search=search).count()


def action_count(user: Any) -> int:
    """How many of the user's orders wait for them ("Needs your action")."""
    return needing_action(scope(Order.objects.all(), user), user).count()


def order_get(user: Any, pk: Any) -> Order:
    qs = with_next_step(scope(Order.objects.all(), user).select_related("client", "style_guide", "created_by")
                        .prefetch_related("services"), user)
    return get_object_or_404(qs, pk=pk)


def image_queryset(user: Any) -> QuerySet[OrderImage]:
    return scope(OrderImage.objects.select_related("order__client", "order__style_guide"), user)


def image_get(user: Any, pk: Any) -> OrderImage:
    return get_object_or_404(scope(OrderImage.objects.select_related("order"), user), pk=pk)


def with_versions(images: QuerySet[OrderImage], user: Any) -> QuerySet[OrderImage]:
    """Images with ``visible_versions``: the versions ``user`` may see (clients: those delivered), in order,
    and ``has_tiles``: whether the original's deep-zoom tiles are made."""
    return images.prefetch_related(Prefetch("versions", queryset=scope(Version.objects.order_by("number"), user),
                                            to_attr="visible_versions")).annotate(
        has_tiles=Exists(TilePyramid.objects.filter(image=OuterRef("pk"), version__isnull=True, watermarked=False)))


def event_list(user: Any, order: Order) -> QuerySet[Event]:
    return events_of(user, [order])


def events_of(user: Any, orders: list[Order]) -> QuerySet[Event]:
    """The timelines of several orders in one query, oldest first."""
    return scope(Event.objects.filter(order__in=orders), user).select_related("actor").order_by("created_at")


def delivery_queryset(user: Any) -> QuerySet[Delivery]:
    return scope(Delivery.objects.select_related("order__client"), user)


def delivery_list(user: Any, order: Order) -> QuerySet[Delivery]:
    return delivery_queryset(user).filter(order=order).order_by("-number")


def on_time_by_client_month(user: Any) -> list[dict[str, Any]]:
    """Delivered orders per client and month (studio time), and the share delivered by the due date."""
    from django.db.models import F
    from django.db.models.functions import TruncMonth

    rows = (scope(Order.objects.filter(delivered_at__isnull=False, due_at__isnull=False), user)
            .annotate(month=TruncMonth("delivered_at")).values("client__name", "month")
            .annotate(delivered=Count("id"), on_time=Count("id", filter=Q(delivered_at__lte=F("due_at"))))
            .order_by("-month", "client__name"))
    return [{**row, "percent": round(100 * row["on_time"] / row["delivered"], 1)} for row in rows]


# Production and review -----------------------------------------------------------------------------

def image_list(user: Any, order: Order | None = None, *, status: str | None = None) -> QuerySet[OrderImage]:
    qs = scope(OrderImage.objects.all(), user)
    if order is not None:
        qs = qs.filter(order=order)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("position", "created_at")


def work_queue(user: Any) -> QuerySet[OrderImage]:
    """A retoucher's assigned images, earliest due first, with what they need to start."""

    return (scope(OrderImage.objects.filter(status__in=QUEUED, assignments__retoucher=user,
                                            assignments__active=True), user)
            .select_related("order__client", "order__style_guide")
            .annotate(version_count=Count("versions", distinct=True))
            .order_by(F("order__due_at").asc(nulls_last=True), "order__number", "position"))


def version_queryset(user: Any) -> QuerySet[Version]:
    """Versions ``user`` may see, with ``has_tiles``: whether their deep-zoom tiles are made."""
    return scope(Version.objects.select_related("image__order__client", "image__order__style_guide", "created_by",
                                                "qc_by", "round"), user).annotate(
        has_tiles=Exists(TilePyramid.objects.filter(version=OuterRef("pk"), watermarked=False)))


def version_file_get(user: Any, pk: Any) -> Version:
    """One version with only what serving its files needs (its image and order), scoped."""
    return get_object_or_404(scope(Version.objects.select_related("image__order"), user), pk=pk)


def version_get(user: Any, pk: Any) -> Version:
    return get_object_or_404(version_queryset(user), pk=pk)


def qc_queue(user: Any) -> QuerySet[Version]:
    """Versions waiting for QC, the order due first, then the oldest."""
    return (version_queryset(user).filter(status=VersionStatus.IN_QC)
            .order_by(F("image__order__due_at").asc(nulls_last=True), "created_at"))


def versions_of(user: Any, image: OrderImage) -> QuerySet[Version]:
    return version_queryset(user).filter(image=image).order_by("-number")


def annotation_queryset(user: Any) -> QuerySet[Annotation]:
    """The marks ``user`` may read (deleted ones are the audit's), each with its thread as they may read it."""
    replies = Prefetch("replies", queryset=scope(AnnotationReply.objects.filter(deleted_at__isnull=True), user)
                       .select_related("author", "author_share").prefetch_related("mentions").order_by("created_at"))
    return (scope(Annotation.objects.filter(deleted_at__isnull=True), user)
            .select_related("author", "author_share", "resolved_by", "item__round", "order", "image", "version")
            .prefetch_related(replies, "mentions"))


def annotation_get(user: Any, pk: Any) -> Annotation:
    return get_object_or_404(annotation_queryset(user), pk=pk)


def reply_queryset(user: Any) -> QuerySet[AnnotationReply]:
    return (scope(AnnotationReply.objects.filter(deleted_at__isnull=True, annotation__deleted_at__isnull=True), user)
            .select_related("author", "author_share").prefetch_related("mentions"))


def reply_get(user: Any, pk: Any) -> AnnotationReply:
    return get_object_or_404(reply_queryset(user), pk=pk)


def marks_of(user: Any, image: OrderImage, version: Version | None = None, *, every_file: bool = False
             ) -> QuerySet[Annotation]:
    """The marks on one file of an image (its original when ``version`` is None), or on all its files."""
    marks = annotation_queryset(user).filter(image=image)
    return (marks if every_file else marks.filter(version=version)).order_by("number")


def item_marks(user: Any) -> Prefetch:
    """A revision item's marks, as ``user`` may read them, for a prefetch."""
    return Prefetch("annotations", queryset=annotation_queryset(user).order_by("number"))


def round_list(user: Any, order: Order) -> QuerySet[RevisionRound]:
    items = Prefetch("items", queryset=scope(RevisionItem.objects.select_related("image", "reclassed_by")
                                             .prefetch_related(item_marks(user)).order_by("image__position"), user))
    return (scope(RevisionRound.objects.filter(order=order), user)
            .select_related("requested_by", "requested_by_share", "confirmed_by")
            .prefetch_related(items).order_by("-number"))


def round_queryset(user: Any) -> QuerySet[RevisionRound]:
    items = Prefetch("items", queryset=scope(RevisionItem.objects.select_related("image").prefetch_related(item_marks(user))
                                             .order_by("image__position"), user))
    return (scope(RevisionRound.objects.select_related("order__client", "requested_by", "requested_by_share"), user)
            .prefetch_related(items))


def round_get(user: Any, pk: Any) -> RevisionRound:
    return get_object_or_404(round_queryset(user), pk=pk)


def revision_item_queryset(user: Any) -> QuerySet[RevisionItem]:
    return scope(RevisionItem.objects.select_related("round__order", "image").prefetch_related(item_marks(user)), user)


def revision_item_get(user: Any, pk: Any) -> RevisionItem:
    return get_object_or_404(revision_item_queryset(user), pk=pk)


def items_of_image(user: Any, image: OrderImage) -> QuerySet[RevisionItem]:
    """Every round's request about one image, newest first, with its pins."""
    return (scope(RevisionItem.objects.filter(image=image), user).select_related("round", "version")
            .prefetch_related(item_marks(user)).order_by("-round__number"))


def share_queryset(user: Any) -> QuerySet[ShareLink]:
    """The review links ``user`` may see and revoke, with their activity (client admins: their company's)."""
    if not permissions.can_open_shares(user):
        return ShareLink.objects.none()
    return scope(ShareLink.objects.select_related("delivery__order__client", "created_by", "revoked_by")
                 .prefetch_related("activity"), user)


def share_get(user: Any, pk: Any) -> ShareLink:
    return get_object_or_404(share_queryset(user), pk=pk)


def company_export_queryset(user: Any) -> QuerySet[CompanyExport]:
    """The company archives ``user`` may ask for and download (their company's; the studio's managers: all)."""
    if not permissions.can_export_company_data(user):
        return CompanyExport.objects.none()
    return scope(CompanyExport.objects.select_related("client", "requested_by"), user)


def company_export_get(user: Any, pk: Any) -> CompanyExport:
    return get_object_or_404(company_export_queryset(user), pk=pk)


def message_list(user: Any, order: Order) -> QuerySet[Message]:
    return messages_of(user, [order])


def messages_of(user: Any, orders: list[Order]) -> QuerySet[Message]:
    """The threads of several orders in one query, oldest first."""
    return scope(Message.objects.filter(order__in=orders), user).select_related("author").order_by("created_at")


def delivered_items(images: list[Any]) -> dict[Any, DeliveryItem]:
    """Per image (of a list the caller already scoped: images or their ids), its item in the latest delivery holding
    it, with that delivery and the version it was delivered with: what the client last received (published: its
    previews are there while the archive is still being packed). One query; the review service reads the same rule."""
    latest: dict[Any, DeliveryItem] = {}
    for item in DeliveryItem.objects.filter(image__in=images).select_related("version", "delivery"):
        current = latest.get(item.image_id)
        if current is None or item.delivery.number > current.delivery.number:
            latest[item.image_id] = item
    return latest


def delivered_versions(images: list[Any]) -> dict[Any, tuple[int, Version]]:
    """Per image, the number of the latest delivery holding it and the version it was delivered with."""
    return {pk: (item.delivery.number, item.version) for pk, item in delivered_items(images).items()}


def proofing_images(user: Any, order: Order) -> list[dict[str, Any]]:
    """What a client reviews: every delivered image with the version it was last published with and the
    open requests about it, in the order's image order. A fixed number of queries."""
    images = list(scope(OrderImage.objects.filter(order=order, delivery_items__isnull=False), user).distinct()
                  .order_by("position", "created_at"))
    latest = delivered_versions(images)
    items: dict[Any, list[RevisionItem]] = {}
    for row in (scope(RevisionItem.objects.filter(image__in=images), user).select_related("round")
                .prefetch_related(item_marks(user)).order_by("-round__number")):
        items.setdefault(row.image_id, []).append(row)
    # New marks are numbered after every mark on the image (studio ones too: numbers never repeat).
    numbers = dict(Annotation.objects.filter(image__in=images).order_by().values("image").annotate(n=Max("number"))
                   .values_list("image", "n"))
    return [{"image": image, "version": latest[image.pk][1] if image.pk in latest else None,
             "delivery": latest[image.pk][0] if image.pk in latest else None, "requests": items.get(image.pk, []),
             "next_mark": (numbers.get(image.pk) or 0) + 1}
            for image in images]


def delivery_get(user: Any, pk: Any) -> Delivery:
    return get_object_or_404(delivery_queryset(user), pk=pk)

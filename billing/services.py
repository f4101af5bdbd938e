"""Quotes: drafting from the price list, editing, sending with a promise the studio can keep, the
client's answer, expiry. Every change writes an ``Event`` on the order's timeline."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from billing import permissions, pricing
from billing.models import LineKind, PriceList, PriceRule, Quote, QuoteLine, QuoteStatus
from jobs import planning, workflow
from jobs.models import ImageStatus, Order, OrderStatus

QUOTE_VALID_DAYS = 14
PRICED_IMAGES_EXCLUDE = [ImageStatus.UPLOADING, ImageStatus.REJECTED]


def price_list_for(order: Order) -> PriceList:
    """The client's own list if it has one, else the studio's default list when it is in the client's
    currency (a client is always quoted in its own currency)."""
    own = PriceList.objects.filter(client=order.client).first()
    if own is not None:
        return own
    default = PriceList.objects.filter(client__isnull=True).first()
    if default is None:
        raise InvalidTransition("There is no price list yet; finance must create the default list first.")
    if default.currency != order.client.currency:
        raise InvalidTransition(f"{order.client.name} is billed in {order.client.currency} and the default price list "
                                f"is in {default.currency}; finance must give {order.client.name} its own price list.")
    return default


def _recalculate(quote: Quote) -> None:
    lines = list(quote.lines.all())
    quote.net_total, quote.tax_total, quote.total = pricing.totals((line.amount for line in lines),
                                                                   tax_rate=quote.tax_rate, currency=quote.currency)
    quote.save(update_fields=["net_total", "tax_total", "total"])


@transaction.atomic
def quote_draft(*, order: Order, by: User) -> Quote:
    """Draft a quote from the order: a line per service × complexity with quantities from the images,
    volume discount and turnaround surcharge as their own lines, tax from the client. Prices are
    copied, so later price-list changes never alter this quote."""
    if not permissions.can_prepare_quote(by):
        raise NotPermitted("Only an account manager prepares quotes.")
    order = Order.objects.select_for_update().select_related("client").get(pk=order.pk)
    if order.status != OrderStatus.SUBMITTED:
        raise InvalidTransition(f"Order {order.number} is {order.get_status_display().lower()}; quotes are made for "
                                "submitted orders.")
    if Quote.objects.filter(order=order, status__in=[QuoteStatus.DRAFT, QuoteStatus.SENT]).exists():
        raise InvalidTransition(f"Order {order.number} already has an open quote.")
    price_list = price_list_for(order)
    complexities = Counter(order.images.exclude(status__in=PRICED_IMAGES_EXCLUDE).values_list("complexity", flat=True))
    if not complexities:
        raise InvalidTransition(f"Order {order.number} has no received images to price.")
    rules = {(r.service_id, r.complexity): r.unit_price for r in PriceRule.objects.filter(price_list=price_list)}
    currency = price_list.currency
    service_lines = []
    for service in order.services.all():
        for complexity, count in sorted(complexities.items()):
            price = rules.get((service.pk, complexity))
            if price is None:
                raise InvalidTransition(f"The price list “{price_list.name}” has no price for {service.name.lower()} "
                                        f"({complexity}).")
            service_lines.append(pricing.service_line(description=f"{service.name} — {complexity}", quantity=count,
                                                      unit_price=price, currency=currency, service_id=service.pk,
                                                      complexity=complexity))
    image_count = sum(complexities.values())
    lines = pricing.price_lines(services=service_lines, image_count=image_count,
                                discount_percent=price_list.discount_percent(image_count),
                                multiplier=price_list.multiplier(order.turnaround),
                                tier_label=order.get_turnaround_display(), minimum=price_list.minimum_order,
                                currency=currency)
    tax_rate = price_list.tax_rate if price_list.tax_rate is not None else order.client.tax_rate
    quote = Quote.objects.create(order=order, currency=currency, tax_rate=tax_rate, created_by=by,
                                 price_list_name=str(price_list))
    QuoteLine.objects.bulk_create([
        QuoteLine(quote=quote, position=n, kind=line.kind, description=line.description, service_id=line.service_id,
                  complexity=line.complexity, quantity=line.quantity, unit_price=line.unit_price, amount=line.amount)
        for n, line in enumerate(lines, start=1)])
    _recalculate(quote)
    workflow.record_event(order=order, actor=by, verb="quote.drafted", client_visible=False,
                          message=f"Quote drafted: {quote.total} {currency}", data={"quote": str(quote.pk)})
    return quote


def _open_draft(quote: Quote, by: User) -> Quote:
    if not permissions.can_prepare_quote(by):
        raise NotPermitted("Only an account manager edits quotes.")
    quote = Quote.objects.select_for_update().select_related("order").get(pk=quote.pk)
    if quote.status != QuoteStatus.DRAFT:
        raise InvalidTransition(f"The quote is {quote.get_status_display().lower()}; only a draft can be edited.")
    return quote


@transaction.atomic
def quote_line_save(*, quote: Quote, by: User, line: QuoteLine | None = None, description: str, quantity: Decimal,
                    unit_price: Decimal) -> QuoteLine:
    """Edit a line (or add one when ``line`` is None); the amount is recomputed and rounded."""
    quote = _open_draft(quote, by)
    if quantity < 0:
        raise RuleViolation("Quantities cannot be negative.", field="quantity")
    amount = pricing.round_money(quantity * unit_price, quote.currency)
    if line is None:
        position = (quote.lines.order_by("-position").values_list("position", flat=True).first() or 0) + 1
        line = QuoteLine.objects.create(quote=quote, position=position, kind=LineKind.CUSTOM, description=description,
                                        quantity=quantity, unit_price=unit_price, amount=amount)
        verb, text = "quote.line_added", f"Quote line added: {description} ({amount} {quote.currency})"
    else:
        before = f"{line.quantity} × {line.unit_price}"
        line.description, line.quantity, line.unit_price, line.amount = description, quantity, unit_price, amount
        line.save(update_fields=["description", "quantity", "unit_price", "amount"])
        verb, text = "quote.line_changed", f"Quote line changed: {description} ({before} → {quantity} × {unit_price})"
    _recalculate(quote)
    workflow.record_event(order=quote.order, actor=by, verb=verb, message=text[:500], client_visible=False,
                          data={"quote": str(quote.pk), "line": str(line.pk)})
    return line


@transaction.atomic
def quote_line_delete(*, quote: Quote, by: User, line: QuoteLine) -> None:
    quote = _open_draft(quote, by)
    description = line.description
    line.delete()
    _recalculate(quote)
    workflow.record_event(order=quote.order, actor=by, verb="quote.line_removed", client_visible=False,
                          message=f"Quote line removed: {description}"[:500], data={"quote": str(quote.pk)})


@transaction.atomic
def quote_send(*, quote: Quote, by: User, valid_days: int = QUOTE_VALID_DAYS) -> Quote:
    """Send the quote with a promised date the studio can keep; the order then waits on the client.
    Refused without lines."""
    quote = _open_draft(quote, by)
    if not quote.lines.exists():
        raise InvalidTransition("A quote without lines cannot be sent.")
    if not 1 <= valid_days <= 90:
        raise RuleViolation("A quote is valid for 1 to 90 days.", field="valid_days")
    promise = planning.order_promise(quote.order)
    now = timezone.now()
    quote.status, quote.sent_at, quote.valid_until = QuoteStatus.SENT, now, now + timedelta(days=valid_days)
    quote.promised_due_at, quote.promise_note = promise.due_at, promise.note[:500]
    quote.save(update_fields=["status", "sent_at", "valid_until", "promised_due_at", "promise_note"])
    workflow.order_quote(order_id=quote.order_id, by=by)
    workflow.record_event(order=quote.order, actor=by, verb="quote.sent",
                          message=f"Quote sent: {quote.total} {quote.currency}, delivery by "
                                  f"{timezone.localtime(promise.due_at):%d %b %Y %H:%M %Z}",
                          data={"quote": str(quote.pk)})
    return quote


def _answerable(quote: Quote, by: User) -> Quote:
    quote = Quote.objects.select_for_update().select_related("order").get(pk=quote.pk)
    if not permissions.can_answer_quote(by, quote):
        raise NotPermitted("Only an admin of the client's company can accept or decline a quote.")
    if quote.status == QuoteStatus.SENT and quote.valid_until and quote.valid_until < timezone.now():
        _expire(quote)
    if quote.status != QuoteStatus.SENT:
        raise InvalidTransition(f"This quote is {quote.get_status_display().lower()} and can no longer be answered.")
    return quote


@transaction.atomic
def quote_accept(*, quote: Quote, by: User) -> Quote:
    """Accept: production starts and the SLA clock with it (due date: the promise or the tier's SLA,
    whichever is later). Refused for expired, declined or already accepted quotes."""
    quote = _answerable(quote, by)
    quote.status, quote.answered_at = QuoteStatus.ACCEPTED, timezone.now()
    quote.save(update_fields=["status", "answered_at"])
    workflow.record_event(order=quote.order, actor=by, verb="quote.accepted",
                          message=f"Quote accepted: {quote.total} {quote.currency}", data={"quote": str(quote.pk)})
    workflow.order_start_production(order_id=quote.order_id, by=by, promised=quote.promised_due_at)
    return quote


@transaction.atomic
def quote_decline(*, quote: Quote, by: User, reason: str) -> Quote:
    """Decline with a reason; the order goes back to the studio for a new quote."""
    if not reason.strip():
        raise RuleViolation("Tell the studio why you decline, so that it can quote again.", field="reason")
    quote = _answerable(quote, by)
    quote.status, quote.answered_at, quote.decline_reason = QuoteStatus.DECLINED, timezone.now(), reason[:500]
    quote.save(update_fields=["status", "answered_at", "decline_reason"])
    workflow.order_requote(order_id=quote.order_id, by=by, reason=f"Quote declined: {reason}"[:500])
    return quote


def _expire(quote: Quote) -> None:
    Quote.objects.filter(pk=quote.pk, status=QuoteStatus.SENT).update(status=QuoteStatus.EXPIRED)
    quote.status = QuoteStatus.EXPIRED
    workflow.order_requote(order_id=quote.order_id, by=None, reason="Quote expired without an answer")


def quotes_expire_due() -> int:
    """Expire sent quotes past their validity (scheduled); each in its own transaction."""
    count = 0
    for quote_id in Quote.objects.filter(status=QuoteStatus.SENT, valid_until__lt=timezone.now()).values_list("pk",
                                                                                                            flat=True):
        with transaction.atomic():
            quote = Quote.objects.select_for_update().get(pk=quote_id)
            if quote.status == QuoteStatus.SENT:
                _expire(quote)
                count += 1
    return count




@transaction.atomic
def price_list_save(*, by: User, fields: dict, rules: list[dict] | None, price_list: PriceList | None = None) -> PriceList:
    """Create or change a price list and (when given) replace its rules. Finance and admins only.
    Quotes already made keep their copied prices."""
    if not permissions.can_edit_price_lists(by):
        raise NotPermitted("Only finance edits price lists.")
    price_list = price_list or PriceList()
    for key, value in fields.items():
        if key in {"name", "client", "currency", "volume_tiers", "express_multiplier", "rush_multiplier",
                   "revision_fee_per_image", "minimum_order", "tax_rate"}:
            setattr(price_list, key, value)
    price_list.volume_tiers = [{"min_images": int(t["min_images"]), "percent": str(t["percent"])}
                               for t in price_list.volume_tiers or []]
    others = PriceList.objects.exclude(pk=price_list.pk)
    if price_list.client_id is None and others.filter(client__isnull=True).exists():
        raise RuleViolation("There is already a default price list; edit it, or choose a client.", field="client")
    if price_list.client_id is not None and others.filter(client_id=price_list.client_id).exists():
        raise RuleViolation("This client already has a price list; edit that one.", field="client")
    price_list.full_clean()
    price_list.save()
    if rules is not None:
        keys = [(r["service"].pk, r["complexity"]) for r in rules]
        if len(set(keys)) != len(keys):
            raise RuleViolation("A service and complexity appear twice.", field="rules")
        PriceRule.objects.filter(price_list=price_list).delete()
        PriceRule.objects.bulk_create([PriceRule(price_list=price_list, service=r["service"], complexity=r["complexity"],
                                                 unit_price=r["unit_price"]) for r in rules])
    return price_list

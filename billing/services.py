"""Quotes and price lists: drafting a quote from the price list and editing its lines (the quote's
state changes are in ``billing.workflow``). Every change writes an ``Event`` on the order's timeline,
for managers only when it carries amounts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import User
from billing import permissions, pricing, tax
from billing.models import (
    MAX_AMOUNT,
    OPEN_QUOTES,
    LineKind,
    PriceList,
    PriceRule,
    Quote,
    QuoteLine,
    QuoteStatus,
    RevisionCharge,
)
from jobs.events import record_event
from jobs.models import Audience, Order, OrderStatus, RevisionRound, RoundStatus, Turnaround
from jobs.review.proofing import change_count, is_billable_round

QUOTE_VALID_DAYS = 14


def default_price_list() -> PriceList | None:
    """The studio's default list (at most one: ``PriceList``'s constraint), or None before finance made it."""
    return PriceList.objects.filter(client__isnull=True).first()


def price_list_for(order: Order) -> PriceList:
    """The client's own list if it has one, else the studio's default list when it is in the client's
    currency (a client is always quoted in its own currency)."""
    own = PriceList.objects.filter(client=order.client).first()
    if own is not None:
        return own
    default = default_price_list()
    if default is None:
        raise InvalidTransition("There is no price list yet; finance must create the default list first.")
    if default.currency != order.client.currency:
        raise InvalidTransition(f"{order.client.name} is billed in {order.client.currency} and the default price list "
                                f"is in {default.currency}; finance must give {order.client.name} its own price list.")
    return default


def _resurcharge(quote: Quote) -> None:
    """Keep the turnaround surcharge equal to (multiplier − 1) × the lines before it (services, extras and
    discounts): a line added or changed later gets its surcharge too."""
    if quote.surcharge_multiplier is None:
        return  # drafted before the multiplier was kept: its surcharge line stays as it was
    lines = list(quote.lines.all())
    current = next((line for line in lines if line.kind == LineKind.SURCHARGE), None)
    base = sum((line.amount for line in lines if line.kind not in DERIVED), Decimal("0"))
    amount = pricing.surcharge_amount(base, quote.surcharge_multiplier, quote.currency)
    if amount and current is None:
        spec = pricing.surcharge_line(amount, quote.surcharge_multiplier, quote.order.get_turnaround_display())
        position = max((line.position for line in lines if line.kind != LineKind.MINIMUM), default=0) + 1
        QuoteLine.objects.create(quote=quote, position=position, kind=LineKind.SURCHARGE, description=spec.description,
                                 quantity=1, unit_price=amount, amount=amount)
    elif amount and (current.amount != amount or current.unit_price != amount):
        current.unit_price = current.amount = amount
        current.save(update_fields=["unit_price", "amount"])
    elif not amount and current is not None:
        current.delete()


def _recalculate(quote: Quote) -> None:
    """Keep the derived lines current, then the totals: the turnaround surcharge on the lines before it,
    the minimum-order line equal to max(0, minimum − the other lines). Runs after every change to the
    lines, so neither can go stale."""
    _resurcharge(quote)
    lines = list(quote.lines.all())
    minimum = next((line for line in lines if line.kind == LineKind.MINIMUM), None)
    others = [line for line in lines if line.kind != LineKind.MINIMUM]
    work = sum((line.amount for line in others), Decimal("0"))
    if work < 0:  # the top-up tops up work, it never hides a discount larger than the work
        raise RuleViolation(f"With this change the quote's lines would total {work} {quote.currency}; a quote cannot be "
                            "negative.", field="unit_price")
    top_up = pricing.minimum_top_up(work, quote.minimum_order, quote.currency)
    if top_up and minimum is None:
        spec = pricing.minimum_line(top_up, quote.minimum_order, quote.currency)
        position = max((line.position for line in others), default=0) + 1
        minimum = QuoteLine.objects.create(quote=quote, position=position, kind=LineKind.MINIMUM,
                                           description=spec.description, quantity=1, unit_price=top_up, amount=top_up)
    elif top_up and (minimum.amount != top_up or minimum.unit_price != top_up):
        minimum.unit_price = minimum.amount = top_up
        minimum.save(update_fields=["unit_price", "amount"])
    elif not top_up and minimum is not None:
        minimum.delete()
        minimum = None
    amounts = [line.amount for line in others] + ([minimum.amount] if minimum else [])
    quote.net_total, quote.tax_total, quote.total = pricing.totals(amounts, tax_rate=quote.tax_rate,
                                                                   currency=quote.currency)
    if abs(quote.total) > MAX_AMOUNT:
        raise RuleViolation("The quote's total is too large for an amount.", field="unit_price")
    quote.save(update_fields=["net_total", "tax_total", "total"])


def quote_lines(*, price_list: PriceList, services: list[Any], complexities: Counter[str], turnaround: str,
                minimum: Decimal = Decimal("0")) -> list[pricing.Line]:
    """The lines a quote starts with for pictures of these complexities (grade → count) and these services: a
    line per service × complexity, the volume discount, the turnaround surcharge and, given the ``minimum``,
    the minimum-order top-up (a quote adds its own after every edit: ``_recalculate``). One rule for the quote
    and the storefront's estimate."""
    rules = {(r.service_id, r.complexity): r.unit_price for r in PriceRule.objects.filter(price_list=price_list)}
    currency = price_list.currency
    service_lines = []
    for service in services:
        for complexity, count in sorted(complexities.items()):
            price = rules.get((service.pk, complexity))
            if price is None:
                raise InvalidTransition(f"The price list “{price_list.name}” has no price for {service.name.lower()} "
                                        f"({complexity}).")
            service_lines.append(pricing.service_line(description=f"{service.name} — {complexity}", quantity=count,
                                                      unit_price=price, currency=currency, service_id=service.pk,
                                                      complexity=complexity))
    image_count = sum(complexities.values())
    return pricing.price_lines(services=service_lines, image_count=image_count,
                               discount_percent=price_list.discount_percent(image_count),
                               multiplier=price_list.multiplier(turnaround), tier_label=Turnaround(turnaround).label,
                               minimum=minimum, currency=currency)


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
    if Quote.objects.filter(order=order, status__in=OPEN_QUOTES).exists():
        raise InvalidTransition(f"Order {order.number} already has an open quote.")
    price_list = price_list_for(order)
    complexities = Counter(order.images.accepted().values_list("complexity", flat=True))
    if not complexities:
        raise InvalidTransition(f"Order {order.number} has no received images to price.")
    currency = price_list.currency
    lines = quote_lines(price_list=price_list, services=list(order.services.all()), complexities=complexities,
                        turnaround=order.turnaround)
    free = order.free_pictures is not None  # a free trial (storefront.trials): priced, then taken off, no minimum
    if free:
        work = sum((line.amount for line in lines if line.kind not in DERIVED), Decimal("0"))
        lines = [line for line in lines if line.kind not in DERIVED]
        lines.append(pricing.Line(LineKind.DISCOUNT, f"Free trial ({sum(complexities.values())} pictures)",
                                  Decimal(1), -work, -work))
    tax_rate = tax.rate_for(order.client, fallback=price_list.tax_rate)
    quote = Quote.objects.create(order=order, currency=currency, tax_rate=tax_rate, created_by=by,
                                 price_list_name=str(price_list),
                                 minimum_order=Decimal("0") if free else price_list.minimum_order,
                                 surcharge_multiplier=price_list.multiplier(order.turnaround))
    QuoteLine.objects.bulk_create([
        QuoteLine(quote=quote, position=n, kind=line.kind, description=line.description, service_id=line.service_id,
                  complexity=line.complexity, quantity=line.quantity, unit_price=line.unit_price, amount=line.amount)
        for n, line in enumerate(lines, start=1)])
    _recalculate(quote)
    record_event(order=order, actor=by, verb="quote.drafted", audience=Audience.MANAGERS,
                          message=f"Quote drafted: {quote.total} {currency}", data={"quote": str(quote.pk)})
    return quote


def _open_draft(quote: Quote, by: User) -> Quote:
    if not permissions.can_prepare_quote(by):
        raise NotPermitted("Only an account manager edits quotes.")
    quote = Quote.objects.select_for_update().select_related("order").get(pk=quote.pk)
    if quote.status != QuoteStatus.DRAFT:
        raise InvalidTransition(f"The quote is {quote.get_status_display().lower()}; only a draft can be edited.")
    return quote


# Lines computed from the others after every edit (never typed): the surcharge and the minimum-order top-up.
DERIVED = {LineKind.SURCHARGE, LineKind.MINIMUM}
DERIVED_REFUSAL = {
    LineKind.MINIMUM: "The minimum-order line follows the other lines by itself; change those instead.",
    LineKind.SURCHARGE: "The turnaround surcharge follows the lines before it by itself; change those, or remove "
                        "the surcharge line to waive it.",
}


def _check_line(kind: str, quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    if kind in DERIVED:
        raise RuleViolation(DERIVED_REFUSAL[kind], field="unit_price")
    if quantity < 0:
        raise RuleViolation("Quantities cannot be negative.", field="quantity")
    if kind == LineKind.DISCOUNT and unit_price > 0:
        raise RuleViolation("A discount line lowers the price: give it a negative or zero amount.", field="unit_price")
    if kind != LineKind.DISCOUNT and unit_price < 0:
        raise RuleViolation("Unit prices cannot be negative; lower a price or edit the discount line instead.",
                            field="unit_price")
    amount = pricing.line_amount(quantity, unit_price, currency, MAX_AMOUNT)
    if amount is None:
        raise RuleViolation(f"{quantity} × {unit_price} is too large for an amount (at most {MAX_AMOUNT}).",
                            field="unit_price")
    return amount


@transaction.atomic
def quote_line_save(*, quote: Quote, by: User, line: QuoteLine | None = None, description: str, quantity: Decimal,
                    unit_price: Decimal) -> QuoteLine:
    """Edit a line (or add one when ``line`` is None); the amount is recomputed and rounded, and so is
    the minimum-order top-up. Refused for negative prices (discount lines excepted), amounts beyond
    the money fields, edits of the top-up line, and a change that makes the lines negative."""
    quote = _open_draft(quote, by)
    kind = line.kind if line is not None else LineKind.CUSTOM
    amount = _check_line(kind, quantity, unit_price, quote.currency)
    if line is None:
        position = (quote.lines.exclude(kind=LineKind.MINIMUM).order_by("-position")
                    .values_list("position", flat=True).first() or 0) + 1
        line = QuoteLine.objects.create(quote=quote, position=position, kind=LineKind.CUSTOM, description=description,
                                        quantity=quantity, unit_price=unit_price, amount=amount)
        verb, text = "quote.line_added", f"Quote line added: {description} ({amount} {quote.currency})"
    else:
        line = QuoteLine.objects.get(pk=line.pk, quote=quote)
        before = f"{line.quantity} × {line.unit_price}"
        line.description, line.quantity, line.unit_price, line.amount = description, quantity, unit_price, amount
        line.save(update_fields=["description", "quantity", "unit_price", "amount"])
        verb, text = "quote.line_changed", f"Quote line changed: {description} ({before} → {quantity} × {unit_price})"
    _recalculate(quote)
    record_event(order=quote.order, actor=by, verb=verb, message=text, audience=Audience.MANAGERS,
                 data={"quote": str(quote.pk), "line": str(line.pk)})
    return line


@dataclass(frozen=True)
class LineEdit:
    """One row of the quote editor: an existing line (``line_id``) or a new one (``None``)."""

    line_id: Any
    description: str
    quantity: Decimal
    unit_price: Decimal
    delete: bool = False


@dataclass(frozen=True)
class QuoteEdited:
    quote: Quote
    amounts: dict[Any, Decimal]  # line id -> amount ("new" for the added line)
    changed: int


class _Preview(Exception):
    """Raised to roll a preview back after it computed everything a save would."""

    def __init__(self, result: QuoteEdited) -> None:
        self.result = result


def quote_lines_edit(*, quote: Quote, by: User, edits: list[LineEdit], preview: bool = False) -> QuoteEdited:
    """Apply the editor's rows in one go (the minimum-order top-up and the totals follow once, at the
    end, so the order of the rows never matters). ``preview`` runs exactly the same rules and
    arithmetic, then rolls everything back: the page shows the figures a save would give."""
    try:
        with transaction.atomic():
            result = _apply_edits(quote, by, edits)
            if preview:
                raise _Preview(result)
    except _Preview as done:
        return done.result
    return result


def _apply_edits(quote: Quote, by: User, edits: list[LineEdit]) -> QuoteEdited:
    quote = _open_draft(quote, by)
    lines = {line.pk: line for line in quote.lines.all()}
    amounts: dict[Any, Decimal] = {}
    changes: list[str] = []
    for edit in edits:
        line = lines.get(edit.line_id)  # None for a new row
        if edit.line_id is not None and line is None:
            raise RuleViolation("A line of this quote was removed meanwhile; reload the page.", field="line")
        if line is not None and edit.delete and line.kind == LineKind.SURCHARGE:
            changes.append(f"waived {line.description}")
            _waive_surcharge(quote, line)
            continue
        if line is not None and line.kind in DERIVED:
            continue  # it follows the others by itself
        if line is not None and edit.delete:
            changes.append(f"removed {line.description}")
            line.delete()
            continue
        kind = line.kind if line is not None else LineKind.CUSTOM
        try:
            amount = _check_line(kind, edit.quantity, edit.unit_price, quote.currency)
        except RuleViolation as exc:
            raise RuleViolation(f"{edit.description or 'New line'}: {exc.message}",
                                field=f"{edit.line_id or 'new'}-{exc.field}") from exc
        if line is None:
            position = max((x.position for x in lines.values() if x.kind != LineKind.MINIMUM), default=0) + 1
            line = QuoteLine.objects.create(quote=quote, position=position, kind=LineKind.CUSTOM,
                                            description=edit.description, quantity=edit.quantity,
                                            unit_price=edit.unit_price, amount=amount)
            amounts["new"] = amount
            changes.append(f"added {edit.description} ({amount} {quote.currency})")
            continue
        if (line.description, line.quantity, line.unit_price) != (edit.description, edit.quantity, edit.unit_price):
            changes.append(f"{edit.description}: {line.quantity} × {line.unit_price} → {edit.quantity} × {edit.unit_price}")
            line.description, line.quantity, line.unit_price, line.amount = (edit.description, edit.quantity,
                                                                             edit.unit_price, amount)
            line.save(update_fields=["description", "quantity", "unit_price", "amount"])
        amounts[line.pk] = amount
    _recalculate(quote)
    if changes:
        record_event(order=quote.order, actor=by, verb="quote.edited", audience=Audience.MANAGERS,
                     message=f"Quote edited ({quote.total} {quote.currency}): {'; '.join(changes)}",  # cut at 500 there
                     data={"quote": str(quote.pk)})
    return QuoteEdited(quote, amounts, len(changes))


def _waive_surcharge(quote: Quote, line: QuoteLine) -> None:
    """Removing the surcharge line waives the surcharge: it stays away whatever the lines do later."""
    quote.surcharge_multiplier = Decimal("1")
    quote.save(update_fields=["surcharge_multiplier"])
    line.delete()


@transaction.atomic
def quote_line_delete(*, quote: Quote, by: User, line: QuoteLine) -> None:
    """Remove a line from a draft; the minimum-order top-up follows. The top-up line itself cannot be
    removed, and neither can a line whose removal would make the lines negative."""
    quote = _open_draft(quote, by)
    line = QuoteLine.objects.get(pk=line.pk, quote=quote)
    if line.kind == LineKind.MINIMUM:
        raise RuleViolation("The minimum-order line follows the other lines by itself; change those instead.",
                            field="line")
    description = line.description
    if line.kind == LineKind.SURCHARGE:
        _waive_surcharge(quote, line)
    else:
        line.delete()
    _recalculate(quote)
    record_event(order=quote.order, actor=by, verb="quote.line_removed", audience=Audience.MANAGERS,
                 message=f"Quote line removed: {description}", data={"quote": str(quote.pk)})


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


@dataclass(frozen=True)
class RoundPrice:
    number: int
    free_rounds: int
    changes: int
    fee: Decimal
    amount: Decimal
    currency: str
    billable: bool


def revision_price(*, order: Order, changes: int, number: int | None = None) -> RoundPrice:
    """What a revision round with ``changes`` change items costs the client (nothing unless the round is
    billable: ``jobs.review.proofing.is_billable_round``). The fee comes from the client's price list,
    in its currency."""
    number = number or order.revision_rounds.count() + 1
    price_list = price_list_for(order)
    fee = price_list.revision_fee_per_image
    billable = is_billable_round(order.client, number, changes)
    amount = pricing.round_money(fee * changes, price_list.currency) if billable else Decimal("0")
    return RoundPrice(number, order.client.free_revision_rounds, changes, fee, amount, price_list.currency, billable)


def round_price(round_: RevisionRound) -> RoundPrice:
    """What an existing round costs: its change items at the client's fee, if it is billable."""
    return revision_price(order=round_.order, changes=change_count(round_), number=round_.number)


def revision_charge_update(*, round_: RevisionRound) -> None:
    """Keep the round's charge in step (inside the round's transaction, ``billing.receivers``): an open
    billable round is charged its change items at the price list's fee; any other round has no charge."""
    order = round_.order
    price = round_price(round_) if round_.status == RoundStatus.OPEN and round_.billable else None
    if price is not None and price.changes:
        RevisionCharge.objects.update_or_create(round=round_, defaults={
            "currency": price.currency, "fee": price.fee, "items": price.changes, "amount": price.amount})
        record_event(order=order, actor=None, verb="revision.charged", audience=Audience.MANAGERS,
                     message=f"Revision round {round_.number} billable: {price.changes} × {price.fee} = {price.amount} "
                             f"{price.currency}", data={"round": str(round_.pk)})
    else:
        RevisionCharge.objects.filter(round=round_).delete()

"""``manage.py seed_scale --images N``: a large, busy studio beside the demo, for measuring Loupe at real size
(issue 24, ``bench/scale.py``, docs/scale.md).

Five years (``--years``) of a studio with ``--retouchers`` retouchers and ``--clients`` client companies (a few
large ones and many small ones: their shares of the work follow a Pareto curve), ``--images`` pictures in orders
of a skewed size (a median order of about a dozen pictures, a few of several hundred). Old orders are completed
(some late, some cancelled, a few held); the last weeks hold every state the lists show: drafts, quotes, work in
production with its assignments, deliveries waiting for review, revision rounds with their marks. Completed work
is invoiced (per order, or monthly for the large companies), most of it paid, some credited; timelines, bells and
messages come with it. Everything is written with ``agency.bulk`` (``COPY`` on PostgreSQL) in one transaction:
the database's constraints check every row, and a failure leaves nothing behind.

No storage object is written: the rows name placeholder keys (``scale/…``), so file downloads of these pictures
answer "missing", which the benchmarks never ask for. Needs the demo (``manage.py seed_demo``): it uses its
service catalog, account managers, QC and finance people and the studio's billing details, and adds its own
retouchers and companies (named with the run's tag, so a second run adds a second studio's worth)."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agency.bulk import Tables, analyze
from agency.management.commands.seed_demo import DEMO_PASSWORD  # so a company's people can sign in to look around
from agency.models import Notification, Role, StaffProfile, User
from billing.models import (
    SERIES,
    BillingProfile,
    DocumentCounter,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineSource,
    Payment,
    Quote,
    QuoteLine,
    QuoteStatus,
)
from clients.models import Client, Membership, StyleGuide
from jobs import facts
from jobs.models import (
    Annotation,
    Assignment,
    Audience,
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Event,
    ImageStatus,
    Message,
    Order,
    OrderImage,
    OrderNumberSequence,
    OrderStatus,
    RevisionItem,
    RevisionRound,
    Service,
    Version,
    VersionStatus,
)

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
WORDS = ["Aurum", "Lumière", "Solitaire", "Pavé", "Carat", "Filigree", "Cabochon", "Marquise", "Baguette", "Bezel",
         "Halo", "Trillion", "Emerald", "Sapphire", "Opaline", "Argent", "Platine", "Rivière", "Eternity", "Cameo"]
KINDS = ["Maison", "Atelier", "Jewellers", "Diamonds", "& Fils", "Goldsmiths", "Fine Jewelry", "Collective"]
PIECES = ["ring", "pendant", "earrings", "bracelet", "brooch", "necklace", "cufflinks", "charm"]
COUNTRIES = [("DE", "EUR", "19.00", "Europe/Berlin"), ("FR", "EUR", "20.00", "Europe/Paris"),
             ("IT", "EUR", "22.00", "Europe/Rome"), ("US", "USD", "0.00", "America/New_York"),
             ("GB", "GBP", "20.00", "Europe/London"), ("CH", "CHF", "0.00", "Europe/Zurich")]
UNIT_PRICE = {"simple": Decimal("2.40"), "standard": Decimal("4.20"), "complex": Decimal("8.50")}
WIDTH, HEIGHT = 6000, 4000  # a 24-megapixel camera's 3:2 frame


class Command(BaseCommand):
    help = "Add a large studio (years of orders, images, invoices and timelines) beside the demo, for benchmarks."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--images", type=int, default=100_000, help="Pictures in all (default 100,000).")
        parser.add_argument("--years", type=int, default=5, help="Years of history, ending today (default 5).")
        parser.add_argument("--clients", type=int, default=0,
                            help="Client companies (default: one per 2,500 pictures, at least 5).")
        parser.add_argument("--retouchers", type=int, default=25, help="Retouchers (default 25).")
        parser.add_argument("--per-order", type=int, default=25, help="Mean pictures per order (default 25).")
        parser.add_argument("--seed", type=int, default=2026,
                            help="Random seed: the same seed, the same shape of studio (its ids are new each run).")

    def handle(self, *args: Any, **options: Any) -> None:
        images = options["images"]
        if images < 1 or options["years"] < 1 or options["retouchers"] < 1 or options["per_order"] < 1:
            raise CommandError("--images, --years, --retouchers and --per-order must be at least 1.")
        services = list(Service.objects.filter(is_active=True).order_by("position", "code"))
        managers = list(User.objects.filter(role=Role.ACCOUNT_MANAGER, is_active=True).order_by("email"))
        qc = list(User.objects.filter(role=Role.QC, is_active=True).order_by("email"))
        finance = User.objects.filter(role=Role.FINANCE, is_active=True).order_by("email").first()
        profile = BillingProfile.objects.order_by("pk").first()
        if not services or not managers or not qc or finance is None or profile is None:
            raise CommandError("seed_scale adds a large studio beside the demo and uses its service catalog, account "
                               "managers, QC and finance people and billing details: run manage.py seed_demo first.")
        started = time.monotonic()
        studio = Studio(rng=random.Random(options["seed"]), tag=secrets.token_hex(3), now=timezone.now(),
                        years=options["years"], services=services, managers=[m.pk for m in managers],
                        qc=[q.pk for q in qc], finance=finance.pk, seller=profile.snapshot())
        say = lambda text: self.stdout.write(f"  {text} ({time.monotonic() - started:.0f} s)")  # noqa: E731
        postgres = connection.vendor == "postgresql"
        with transaction.atomic():
            if postgres:
                # Each batch is checked when written, not all at commit. The orders' stored facts (jobs/facts.py)
                # are counted once at the end rather than by a trigger per picture (a million updates of 40,000 rows).
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    for table in facts.TABLES:
                        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            counts = studio.build(images=images, clients=options["clients"] or max(5, images // 2500),
                                  retouchers=options["retouchers"], per_order=options["per_order"], say=say)
            if postgres:
                with connection.cursor() as cursor:
                    for table in facts.TABLES:
                        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                facts.refresh(studio.order_ids)
                say("the orders' facts counted")
        analyze(studio.tables.models)
        summary = ", ".join(f"{count:,} {name}" for name, count in counts.items())
        self.stdout.write(self.style.SUCCESS(
            f"Large studio '{studio.tag}' added in {time.monotonic() - started:.0f} s: {summary}. "
            f"Its people sign in with the demo password; e.g. {studio.sample_login}."))


class Studio:
    """The generator: decides every row and hands it to a ``bulk.Table``; nothing is read back."""

    def __init__(self, *, rng: random.Random, tag: str, now: dt.datetime, years: int, services: list[Service],
                 managers: list[Any], qc: list[Any], finance: Any, seller: dict[str, str]) -> None:
        self.rng, self.tag, self.now, self.years = rng, tag, now, years
        self.ids = random.Random(secrets.randbits(128))
        self.services, self.managers, self.qc, self.finance, self.seller = services, managers, qc, finance, seller
        self.password = make_password(DEMO_PASSWORD)  # one hash for everyone: hashing a million times is not the point
        self.tables = Tables()
        self.table = self.tables.table
        self.sample_login = ""

    def uid(self) -> uuid.UUID:
        # Not from the seeded generator: the seed decides the studio's shape, and a second run adds new rows.
        return uuid.UUID(int=self.ids.getrandbits(128), version=4)

    # The whole studio -----------------------------------------------------------------------------

    def build(self, *, images: int, clients: int, retouchers: int, per_order: int, say: Any) -> dict[str, int]:
        self.retouchers = self._retouchers(retouchers)
        self.clients = self._clients(clients)
        say(f"{retouchers} retouchers and {clients} companies with their people")
        orders = self._plan_orders(images, per_order)
        say(f"{len(orders):,} orders planned")
        self._orders(orders)
        say("orders, pictures, versions, deliveries, rounds and timelines written")
        invoices = self._invoices(orders)
        say(f"{invoices:,} invoices and credit notes written")
        return {"orders": len(orders), "pictures": sum(order["count"] for order in orders), "invoices": invoices,
                "events": self.events.written, "companies": clients}

    def _retouchers(self, count: int) -> list[Any]:
        users = self.table(User, "id", "email", "full_name", "role", "password", "date_joined")
        profiles = self.table(StaffProfile, "user", "daily_capacity_minutes")
        skills = self.table(Service.skilled_staff.through, "service", "user")
        ids = []
        for n in range(1, count + 1):
            pk = self.uid()
            users.add(pk, f"retoucher{n:03d}.{self.tag}@scale.test", f"Retoucher {n:03d} ({self.tag})",
                      Role.RETOUCHER, self.password, self.now - self.years * 365 * DAY)
            profiles.add(pk, self.rng.choice([360, 420, 480]))
            for service in self.rng.sample(self.services, k=max(1, len(self.services) * 2 // 3)):
                skills.add(service.pk, pk)
            ids.append(pk)
        self.tables.flush()
        return ids

    def _clients(self, count: int) -> list[dict[str, Any]]:
        companies = self.table(Client, "id", "name", "billing_email", "vat_number", "billing_street",
                               "billing_postcode", "billing_city", "billing_country", "invoicing", "currency",
                               "time_zone", "tax_rate", "account_manager", "created_at")
        users = self.table(User, "id", "email", "full_name", "role", "password", "date_joined")
        members = self.table(Membership, "id", "user", "client")
        guides = self.table(StyleGuide, "id", "client", "family", "name", "output_formats", "long_edge_px",
                            "locked_at")
        result = []
        weights = [1 / (rank + 1) ** 1.1 for rank in range(count)]  # a few large companies, many small ones
        total = sum(weights)
        for n in range(count):
            pk, guide = self.uid(), self.uid()
            country, currency, tax, zone = COUNTRIES[n % len(COUNTRIES)]
            words = f"{self.rng.choice(WORDS)} {self.rng.choice(KINDS)}"
            name = f"{words} {n + 1:04d} ({self.tag})"
            if n % 17 == 3:  # some companies have long legal names, as real ones do
                name = f"{words} Haute Joaillerie et Horlogerie Internationale {n + 1:04d} ({self.tag})"
            share = weights[n] / total
            started = self.now - self.years * 365 * DAY
            companies.add(pk, name, f"billing{n}.{self.tag}@scale.test",
                          f"{country}{self.rng.randrange(10**8, 10**9)}" if country not in ("US", "CH") else "",
                          f"{self.rng.randrange(1, 200)} Rue {self.rng.choice(WORDS)}", f"{self.rng.randrange(10000, 99999)}",
                          self.rng.choice(["Berlin", "Paris", "Milano", "New York", "London", "Genève"]), country,
                          "monthly" if share > 0.02 else "per_order", currency, zone, Decimal(tax),
                          self.managers[n % len(self.managers)], started)
            people = []
            for k in range(2 if share < 0.01 else 4):
                user = self.uid()
                email = f"{'admin' if k == 0 else f'member{k}'}{n}.{self.tag}@scale.test"
                users.add(user, email, f"{self.rng.choice(['Camille', 'Ava', 'Noah', 'Lena', 'Omar'])} {n}-{k}",
                          Role.CLIENT_ADMIN if k == 0 else Role.CLIENT_MEMBER, self.password, started)
                members.add(self.uid(), user, pk)
                people.append(user)
            if not self.sample_login:
                self.sample_login = f"admin0.{self.tag}@scale.test"
            guides.add(guide, pk, self.uid(), "E-shop white", ["JPEG", "PNG"], 2000, started)
            result.append({"id": pk, "guide": guide, "people": people, "share": share, "currency": currency,
                           "tax": Decimal(tax), "monthly": share > 0.02, "manager": self.managers[n % len(self.managers)],
                           "name": name, "country": country})
        self.tables.flush()
        return result

    # Orders: when, whose, how many pictures, in which state -------------------------------------------

    def _plan_orders(self, images: int, per_order: int) -> list[dict[str, Any]]:
        rng = self.rng
        count = max(1, images // per_order)
        sizes = [rng.lognormvariate(0, 1.0) for _ in range(count)]  # skewed: many small orders, a few huge ones
        factor = images / sum(sizes)
        sizes = [max(1, round(size * factor)) for size in sizes]
        drift = images - sum(sizes)
        while drift:
            index = rng.randrange(count)
            if drift > 0 or sizes[index] > 1:
                sizes[index] += 1 if drift > 0 else -1
                drift += -1 if drift > 0 else 1
        span = self.years * 365 * DAY
        created = sorted(self.now - span * rng.random() ** 1.0 for _ in range(count))
        # Everything starts at least an hour ago, so no row is dated in the future whatever happens after it.
        created = [min(when, self.now - 2 * HOUR) for when in created]
        cum, acc = [], 0.0
        for company in self.clients:
            acc += company["share"]
            cum.append(acc)
        orders = []
        for size, when in zip(sizes, created, strict=True):
            company = self.clients[min(len(cum) - 1, _bisect(cum, rng.random() * acc))]
            orders.append({"id": self.uid(), "count": size, "created": when, "client": company,
                           "status": self._status(self.now - when),
                           "services": rng.sample(self.services, k=min(len(self.services), rng.choice([1, 2, 2, 3])))})
        return orders

    def _status(self, age: dt.timedelta) -> str:
        roll = self.rng.random()
        if age > 21 * DAY:
            return (OrderStatus.COMPLETED if roll < 0.955 else OrderStatus.CANCELLED if roll < 0.99
                    else OrderStatus.ON_HOLD)
        table = ([(0.10, OrderStatus.DRAFT), (0.22, OrderStatus.SUBMITTED), (0.34, OrderStatus.QUOTED),
                  (0.88, OrderStatus.IN_PRODUCTION), (0.90, OrderStatus.ON_HOLD), (1.0, OrderStatus.DELIVERED)]
                 if age < 2 * DAY else
                 [(0.45, OrderStatus.IN_PRODUCTION), (0.70, OrderStatus.DELIVERED), (0.80, OrderStatus.REVISION),
                  (1.0, OrderStatus.COMPLETED)] if age < 7 * DAY else
                 [(0.20, OrderStatus.DELIVERED), (0.30, OrderStatus.REVISION), (1.0, OrderStatus.COMPLETED)])
        return next(status for limit, status in table if roll < limit)

    def _orders(self, orders: list[dict[str, Any]]) -> None:
        rng = self.rng
        numbers = self._numbers(OrderNumberSequence, orders, lambda order: order["created"].year)
        self.order_rows = self.table(Order, "id", "number", "client", "title", "style_guide", "turnaround", "po_number",
                                     "status", "held_from", "created_by", "created_at", "submitted_at", "due_at",
                                     "sla_target_hours", "sla_consumed_seconds", "sla_running_since", "sla_state",
                                     "delivered_at", "completed_at", "cancelled_at")
        links = self.table(Order.services.through, "order", "service")
        self.rounds = self.table(RevisionRound, "id", "order", "number", "status", "requested_by", "created_at")
        self.images = self.table(OrderImage, "id", "order", "filename", "sku", "status", "complexity",
                                 "complexity_estimate", "position", "created_at", "uploaded_at", "uploaded_by",
                                 "sha256", "format", "width", "height", "mode", "bit_depth", "size_bytes",
                                 "original", "thumbnail", "preview", "work_started_at", "approved_at")
        self.versions = self.table(Version, "id", "image", "number", "status", "file", "filename", "approved",
                                   "round", "work_minutes", "estimate_minutes", "qc_by", "qc_at", "created_by",
                                   "created_at", "sha256", "format", "width", "height", "size_bytes", "preview",
                                   "thumbnail", "uploaded_at")
        self.assignments = self.table(Assignment, "id", "image", "retoucher", "assigned_by", "minutes", "active",
                                      "created_at", "ended_at")
        self.deliveries = self.table(Delivery, "id", "order", "number", "kind", "status", "file_count", "archive",
                                     "created_by", "created_at")
        self.items = self.table(DeliveryItem, "delivery", "image", "version")
        self.round_items = self.table(RevisionItem, "id", "round", "image", "version", "note", "proposed_kind", "kind")
        self.marks = self.table(Annotation, "id", "order", "image", "version", "number", "shape", "x", "y", "width",
                                "height", "text", "author", "created_at", "item")
        self.events = self.table(Event, "id", "order", "actor", "verb", "message", "from_status", "to_status",
                                 "audience", "created_at", "notified_at")
        self.bells = self.table(Notification, "id", "user", "kind", "source", "title", "url", "created_at",
                                "read_at")
        self.messages = self.table(Message, "id", "order", "author", "body", "created_at")
        self.quotes = self.table(Quote, "id", "order", "status", "currency", "price_list_name", "tax_rate",
                                 "net_total", "tax_total", "total", "valid_until", "promised_due_at", "created_by",
                                 "created_at", "sent_at", "answered_at")
        self.quote_lines = self.table(QuoteLine, "id", "quote", "position", "kind", "description", "service",
                                      "complexity", "quantity", "unit_price", "amount")
        self.order_ids = [order["id"] for order in orders]
        for order, number in zip(orders, numbers, strict=True):
            order["number"] = number
            for service in order["services"]:
                links.add(order["id"], service.pk)
            self._order(order, rng)
        self.tables.flush()

    def _numbers(self, counter: Any, rows: list[dict[str, Any]], year_of: Any, **key: Any) -> list[str]:
        """Numbers from the live counters, a block per year taken under the counter's lock, so orders (and
        documents) made afterwards continue the series without a collision."""
        per_year: dict[int, int] = defaultdict(int)
        for row in rows:
            per_year[year_of(row)] += 1
        first = {}
        for year, taken in per_year.items():
            if counter is OrderNumberSequence:
                counter.objects.get_or_create(year=year)
                rows_ = counter.objects.select_for_update().filter(year=year)
            else:
                counter.objects.get_or_create(year=year, **key)
                rows_ = counter.objects.select_for_update().filter(year=year, **key)
            last = rows_.values_list("last", flat=True).get()
            rows_.update(last=F("last") + taken)
            first[year] = last
        numbers = []
        prefix = key["series"] if key else "LP"
        for row in rows:
            year = year_of(row)
            first[year] += 1
            numbers.append(f"{prefix}-{year}-{first[year]:05d}")
        return numbers

    def _order(self, order: dict[str, Any], rng: random.Random) -> None:
        company, status, created = order["client"], order["status"], order["created"]
        oid, count = order["id"], order["count"]
        author = rng.choice(company["people"])
        manager = company["manager"]
        piece = rng.choice(PIECES)
        title = f"{rng.choice(WORDS)} {piece}s, {created:%B %Y}"
        started = status not in (OrderStatus.DRAFT, OrderStatus.SUBMITTED, OrderStatus.QUOTED, OrderStatus.CANCELLED)
        held = status == OrderStatus.ON_HOLD
        submitted = created + dt.timedelta(minutes=rng.randrange(5, 240)) if status != OrderStatus.DRAFT else None
        quoted = submitted + dt.timedelta(minutes=rng.randrange(10, 300)) if submitted else None
        accepted = quoted + dt.timedelta(minutes=rng.randrange(10, 600)) if started and quoted else None
        target = rng.choice([24, 48, 72, 72, 72, 120])
        due = accepted + target * HOUR * 1.4 if accepted else None
        late = rng.random() < 0.07
        delivered = None
        if status in (OrderStatus.DELIVERED, OrderStatus.REVISION, OrderStatus.COMPLETED) and accepted:
            delivered = min(self.now - HOUR, accepted + (target * HOUR * (1.6 if late else rng.uniform(0.3, 1.2))))
        rounds = 0
        if status == OrderStatus.REVISION or (status == OrderStatus.COMPLETED and rng.random() < 0.15):
            rounds = 1 if rng.random() < 0.8 else 2
        completed = order["completed"] = (min(self.now - HOUR, delivered + rng.uniform(0.2, 6) * DAY * (1 + rounds))
                                          if status == OrderStatus.COMPLETED and delivered else None)
        cancelled = submitted + DAY if status == OrderStatus.CANCELLED and submitted else None
        in_work = status == OrderStatus.IN_PRODUCTION or status == OrderStatus.REVISION or held
        sla_state = ""
        running = None
        if in_work and not held:
            sla_state = rng.choices(["on_track", "at_risk", "breached"], [0.8, 0.12, 0.08])[0]
            running = accepted
        elif held:
            sla_state = "paused"
        self.order_rows.add(
            oid, order["number"], company["id"], title, company["guide"], rng.choice(["standard"] * 6 + ["express", "rush"]),
            f"PO-{rng.randrange(10**5, 10**6)}" if rng.random() < 0.4 else "", status,
            OrderStatus.IN_PRODUCTION if held else "", author, created, submitted, due,
            target if accepted else None, 0.0 if not accepted else target * 1800.0, running, sla_state, delivered,
            completed, cancelled)
        event = self._event_writer(oid)
        event(author, "order.created", "Order created", "", OrderStatus.DRAFT, created)
        if submitted:
            event(author, "order.submitted", "Submitted for a quote", OrderStatus.DRAFT, OrderStatus.SUBMITTED,
                  submitted)
            self.bells.add(self.uid(), manager, "order.submitted", f"event:{self.uid().hex}",
                           f"{order['number']} was submitted", f"/orders/{oid}/", submitted,
                           submitted + HOUR if self.now - submitted > 2 * DAY else None)
        if quoted:
            self._quote(order, quoted, accepted, manager, author)
            event(manager, "order.quoted", "Quote sent", OrderStatus.SUBMITTED, OrderStatus.QUOTED, quoted)
        if accepted:
            event(author, "order.in_production", "Quote accepted; production started", OrderStatus.QUOTED,
                  OrderStatus.IN_PRODUCTION, accepted)
        if held:
            event(manager, "order.held", "Put on hold: waiting for the client's new files", OrderStatus.IN_PRODUCTION,
                  OrderStatus.ON_HOLD, accepted + HOUR)
        if cancelled:
            event(author, "order.cancelled", "Cancelled by the client", OrderStatus.SUBMITTED, OrderStatus.CANCELLED,
                  cancelled)
        self._pictures(order, rng, started=accepted, delivered=delivered, rounds=rounds, completed=completed,
                       author=author, manager=manager)
        if delivered:
            event(manager, "order.delivered", f"{count} pictures delivered for review", OrderStatus.IN_PRODUCTION,
                  OrderStatus.DELIVERED, delivered)
            self.bells.add(self.uid(), company["people"][0], "order.delivered", f"event:{self.uid().hex}",
                           f"{order['number']} is ready for review", f"/orders/{oid}/", delivered,
                           delivered + 3 * HOUR if completed else None)
        if completed:
            event(company["people"][0], "order.completed", "All pictures approved", OrderStatus.DELIVERED,
                  OrderStatus.COMPLETED, completed)
        if rng.random() < 0.2:
            for k in range(rng.randrange(1, 4)):
                when = min(self.now - HOUR, created + (k + 1) * 3 * HOUR)
                self.messages.add(self.uid(), oid, author if k % 2 == 0 else manager,
                                  "Could you keep the warm tone of the gold on the close-ups, as last time?"
                                  if k % 2 == 0 else "Yes, noted on the order: the retouchers will match it.", when)

    def _event_writer(self, oid: Any) -> Any:
        def event(actor: Any, verb: str, message: str, before: str, after: str, when: dt.datetime,
                  audience: str = Audience.CLIENT) -> None:
            self.events.add(self.uid(), oid, actor, verb, message, before, after, audience, when, when)

        return event

    def _quote(self, order: dict[str, Any], sent: dt.datetime, accepted: dt.datetime | None, manager: Any,
               author: Any) -> None:
        company, count = order["client"], order["count"]
        quote = self.uid()
        net = Decimal("0")
        for position, service in enumerate(order["services"]):
            unit = UNIT_PRICE["standard"]
            amount = (unit * count).quantize(Decimal("0.01"))
            net += amount
            self.quote_lines.add(self.uid(), quote, position, "service", f"{service.name}, standard", service.pk,
                                 "standard", Decimal(count), unit, amount)
        tax = (net * company["tax"] / 100).quantize(Decimal("0.01"))
        order["net"], order["quote"] = net, quote
        self.quotes.add(quote, order["id"], QuoteStatus.ACCEPTED if accepted else QuoteStatus.SENT,
                        company["currency"], "Studio prices", company["tax"], net, tax, net + tax, sent + 14 * DAY,
                        sent + 3 * DAY, manager, sent, sent, accepted)

    def _pictures(self, order: dict[str, Any], rng: random.Random, *, started: dt.datetime | None,
                  delivered: dt.datetime | None, rounds: int, completed: dt.datetime | None, author: Any,
                  manager: Any) -> None:
        oid, status, created = order["id"], order["status"], order["created"]
        prefix = f"scale/{order['client']['id'].hex}/{oid.hex}"
        event = self._event_writer(oid)
        first = self.uid() if delivered else None
        if first:
            self.deliveries.add(first, oid, 1, "review", DeliveryStatus.READY, order["count"],
                                f"{prefix}/delivery-1.zip", manager, delivered)
        round_ids = []
        for number in range(1, rounds + 1):
            round_id = self.uid()
            round_ids.append(round_id)
            when = delivered + number * DAY
            self.rounds.add(round_id, oid, number, "open", order["client"]["people"][0], min(self.now - HOUR, when))
            event(order["client"]["people"][0], "revision.requested", f"Round {number} requested",
                  OrderStatus.DELIVERED, OrderStatus.REVISION, min(self.now - HOUR, when))
        redelivery = {}
        for number in range(1, rounds + 1):
            if status == OrderStatus.COMPLETED:
                redelivery[number] = self.uid()
                self.deliveries.add(redelivery[number], oid, number + 1, "review", DeliveryStatus.READY, 0,
                                    f"{prefix}/delivery-{number + 1}.zip", manager,
                                    min(self.now - HOUR, delivered + (number + 0.5) * DAY))
        retoucher = rng.choice(self.retouchers)
        for position in range(order["count"]):
            image = self.uid()
            complexity = rng.choices(["simple", "standard", "complex"], [0.3, 0.55, 0.15])[0]
            picture_status, approved_at = self._picture_status(status, rng, completed)
            key = f"{prefix}/{image.hex}"
            filename = f"IMG_{rng.randrange(1000, 9999)}_{position + 1:04d}.CR3"
            self.images.add(image, oid, filename,
                            f"SKU-{rng.randrange(10**6, 10**7)}", picture_status, complexity, complexity, position,
                            created, created + dt.timedelta(minutes=5), author, secrets.token_hex(32), "TIFF", WIDTH,
                            HEIGHT, "RGB", 16, rng.randrange(40, 140) * 1_000_000, f"{key}/original.tif",
                            f"{key}/thumb.jpg", f"{key}/preview.jpg",
                            started + HOUR if started else None, approved_at)
            if not started:
                continue
            work = picture_status not in (ImageStatus.RECEIVED,)
            if not work:
                continue
            active = picture_status in (ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS, ImageStatus.IN_QC,
                                        ImageStatus.QC_REJECTED, ImageStatus.REVISION_REQUESTED)
            if rng.random() < 0.3:
                retoucher = rng.choice(self.retouchers)  # an order's pictures are shared between a few people
            self.assignments.add(self.uid(), image, retoucher, manager, rng.randrange(8, 40), active, started,
                                 None if active else (delivered or started + DAY))
            if picture_status in (ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS):
                continue
            version = self.uid()
            done = min(self.now - HOUR, started + rng.uniform(2, 20) * HOUR)
            passed = picture_status != ImageStatus.IN_QC
            self.versions.add(version, image, 1, VersionStatus.PASSED if passed else VersionStatus.IN_QC,
                              f"{key}/v1.tif", f"IMG_{position + 1:04d}_v1.tif", picture_status == ImageStatus.APPROVED
                              and not round_ids, None, rng.randrange(8, 50), 20, rng.choice(self.qc) if passed else None,
                              done + HOUR if passed else None, retoucher, done, secrets.token_hex(32), "TIFF", WIDTH,
                              HEIGHT, rng.randrange(60, 180) * 1_000_000, f"{key}/v1-preview.jpg", f"{key}/v1-thumb.jpg",
                              done)
            # Each picture's own lines, as production writes them (studio-only): the bulk of a timeline.
            event(retoucher, "image.started", f"Retoucher started work on {filename}", "", "", started + HOUR,
                  Audience.STUDIO)
            event(retoucher, "version.submitted", f"v1 of {filename} handed to QC", "", "", done, Audience.STUDIO)
            if passed:
                event(rng.choice(self.qc), "version.qc_passed", f"QC passed v1 of {filename}", "", "", done + HOUR,
                      Audience.STUDIO)
            if first:
                self.items.add(first, image, version)
            self._revisions(order, rng, image, version, position, key, round_ids, redelivery, retoucher, done)

    def _picture_status(self, status: str, rng: random.Random, completed: dt.datetime | None) -> tuple[str, Any]:
        if status in (OrderStatus.DRAFT, OrderStatus.SUBMITTED, OrderStatus.QUOTED, OrderStatus.CANCELLED):
            return ImageStatus.RECEIVED, None
        if status in (OrderStatus.IN_PRODUCTION, OrderStatus.ON_HOLD):
            return rng.choices([ImageStatus.ASSIGNED, ImageStatus.IN_PROGRESS, ImageStatus.IN_QC, ImageStatus.READY],
                               [0.35, 0.25, 0.2, 0.2])[0], None
        if status == OrderStatus.DELIVERED:
            return ImageStatus.DELIVERED, None
        if status == OrderStatus.REVISION:
            return (ImageStatus.REVISION_REQUESTED if rng.random() < 0.3 else ImageStatus.APPROVED), self.now - DAY
        return ImageStatus.APPROVED, completed

    def _revisions(self, order: dict[str, Any], rng: random.Random, image: Any, version: Any, position: int, key: str,
                   round_ids: list[Any], redelivery: dict[int, Any], retoucher: Any, done: dt.datetime) -> None:
        if not round_ids or rng.random() > 0.3:
            return
        oid, client_person = order["id"], order["client"]["people"][0]
        previous = version
        for number, round_id in enumerate(round_ids, start=1):
            item = self.uid()
            kind = "defect" if rng.random() < 0.4 else "change"
            self.round_items.add(item, round_id, image, previous, "Lift the shadow under the stone; the prong reads "
                                 "as grey.", kind, kind)
            self.marks.add(self.uid(), oid, image, previous, number, "point", rng.randrange(WIDTH),
                           rng.randrange(HEIGHT), WIDTH, HEIGHT, "The prong at this point reads grey.", client_person,
                           done + number * DAY, item)
            if number in redelivery:
                newer = self.uid()
                self.versions.add(newer, image, number + 1, VersionStatus.PASSED, f"{key}/v{number + 1}.tif",
                                  f"IMG_{position + 1:04d}_v{number + 1}.tif", number == len(round_ids), round_id,
                                  rng.randrange(5, 30), 15, rng.choice(self.qc), done + (number + 0.3) * DAY,
                                  retoucher, done + (number + 0.2) * DAY, secrets.token_hex(32), "TIFF", WIDTH,
                                  HEIGHT, rng.randrange(60, 180) * 1_000_000, f"{key}/v{number + 1}-preview.jpg",
                                  f"{key}/v{number + 1}-thumb.jpg", done + (number + 0.2) * DAY)
                self.items.add(redelivery[number], image, newer)
                previous = newer

    # Invoices: completed work, per order or a month at a time ----------------------------------------

    def _invoices(self, orders: list[dict[str, Any]]) -> int:
        rng = self.rng
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        for order in orders:
            if order["status"] == OrderStatus.COMPLETED and "net" in order:
                company = order["client"]
                key = (company["id"], order["completed"].year, order["completed"].month) if company["monthly"] \
                    else (order["id"],)
                groups[key].append(order)
        documents = [{"orders": group, "issued": max(order["completed"] for order in group)} for group in groups.values()]
        documents.sort(key=lambda doc: doc["issued"])
        numbers = self._numbers(DocumentCounter, documents, lambda doc: doc["issued"].year,
                                series=SERIES[DocumentKind.INVOICE]) if documents else []
        invoices = self.table(Invoice, "id", "kind", "client", "status", "number", "year", "sequence", "currency",
                              "tax_rate", "net_total", "tax_total", "total", "paid_total", "credited_total",
                              "credited_invoice", "issue_date", "due_date", "seller", "buyer", "created_by",
                              "created_at", "issued_at", "issued_by", "reason")
        lines = self.table(InvoiceLine, "id", "invoice", "position", "source", "order", "po_number", "description",
                           "quantity", "unit_price", "amount", "work")
        payments = self.table(Payment, "id", "invoice", "amount", "received_on", "reference", "recorded_by")
        credits = []
        for doc, number in zip(documents, numbers, strict=True):
            company = doc["orders"][0]["client"]
            pk, issued = self.uid(), doc["issued"] + HOUR
            net = sum((order["net"] for order in doc["orders"]), Decimal("0"))
            tax = (net * company["tax"] / 100).quantize(Decimal("0.01"))
            total = net + tax
            day = timezone.localdate(issued)
            paid = self.now - issued > 45 * DAY or rng.random() < 0.3
            credit_net = (net / 4).quantize(Decimal("0.01")) if rng.random() < 0.02 else Decimal("0")
            credit_tax = (credit_net * company["tax"] / 100).quantize(Decimal("0.01"))
            credited = credit_net + credit_tax
            buyer = {"name": company["name"], "country": company["country"]}
            invoices.add(pk, DocumentKind.INVOICE, company["id"], InvoiceStatus.PAID if paid else InvoiceStatus.ISSUED,
                         number, day.year, int(number.rsplit("-", 1)[1]), company["currency"], company["tax"], net, tax,
                         total, total - credited if paid else Decimal("0"), credited, None, day, day + 30 * DAY,
                         self.seller, buyer, self.finance, issued, issued, self.finance, "")
            for position, order in enumerate(doc["orders"]):
                lines.add(self.uid(), pk, position, LineSource.QUOTE, order["id"], "", f"{order['number']}: retouching",
                          Decimal(1), order["net"], order["net"], f"quote:{order['quote']}")
            if paid:
                payments.add(self.uid(), pk, total - credited, day + rng.randrange(5, 40) * DAY,
                             f"Transfer {number}", self.finance)
            if credited:
                credits.append((pk, company, credit_net, credit_tax, issued + 5 * DAY, number))
        credit_numbers = self._numbers(DocumentCounter, [{"issued": c[4]} for c in credits],
                                       lambda doc: doc["issued"].year,
                                       series=SERIES[DocumentKind.CREDIT_NOTE]) if credits else []
        for (invoice, company, net, tax, issued, invoice_number), number in zip(credits, credit_numbers, strict=True):
            note, day = self.uid(), timezone.localdate(issued)
            invoices.add(note, DocumentKind.CREDIT_NOTE, company["id"], InvoiceStatus.ISSUED, number, day.year,
                         int(number.rsplit("-", 1)[1]), company["currency"], company["tax"], net, tax, net + tax,
                         Decimal("0"), Decimal("0"), invoice, day, None, self.seller,
                         {"name": company["name"], "country": company["country"]}, self.finance, issued, issued,
                         self.finance, f"Goodwill on {invoice_number}: two pictures redone late")
            lines.add(self.uid(), note, 1, LineSource.CREDIT, None, "", f"Credit on {invoice_number}", Decimal(1), net,
                      net, "")
        self.tables.flush()
        return len(documents) + len(credits)


def _bisect(cumulative: list[float], value: float) -> int:
    low, high = 0, len(cumulative)
    while low < high:
        middle = (low + high) // 2
        if cumulative[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low


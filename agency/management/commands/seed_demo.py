"""``manage.py seed_demo``: a studio with staff, three client companies and orders in every state.

Idempotent: every row is found by a natural key (e-mail, company name, order title) before it is
made, so a second run changes nothing. Date-independent: it seeds the same states on any day (a year
end, a DST switch, a leap day), and ``make run`` on a later day brings back a demo order that time alone
moved on (a quote that expired unanswered is sent again), so the demo always reads as the README says.
Like ``agency/urls.py`` this is a composition root and may import every app; nothing else in ``agency``
does.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from agency.models import BusinessCalendar, Role, StaffProfile, User
from agency.uploads import LocalBackend, get_backend
from billing import invoicing
from billing.models import BillingProfile, InvoiceLine, PriceList, PriceRule, Quote, QuoteStatus
from billing.services import quote_draft
from billing.workflow import quote_accept, quote_send
from clients.models import Background, Client, Finish, Membership, Metal, Shadow, StyleGuide
from jobs import workflow
from jobs.imaging.demo import encode_jpeg, encode_master, render_jewelry, render_retouched
from jobs.intake.uploads import image_process, image_update, upload_complete, uploads_create
from jobs.models import (
    Annotation,
    Assignment,
    Complexity,
    Delivery,
    DeliveryStatus,
    Event,
    ImageStatus,
    Order,
    OrderImage,
    OrderStatus,
    Service,
    Version,
)
from jobs.production.assignment import schedule_apply
from jobs.production.qc import qc_decide
from jobs.production.versions import image_start, version_complete, version_create, version_process
from jobs.review.annotations import annotation_create, annotation_resolve, reply_post
from jobs.review.deliveries import delivery_build, delivery_publish
from jobs.review.proofing import review_submit
from jobs.services import order_create

DEMO_PASSWORD = "loupe-demo-2026"


def demo_logins() -> list[str]:
    """The demo accounts, one line each, for the start banner of ``make run``."""
    lines = [f"  {role.label:<16} {email}" for email, _name, role, _ in STAFF]
    for spec in CLIENTS:
        lines += [f"  {role.label:<16} {email}  ({spec['name']})" for email, _name, role in spec["users"]]
    return lines

STAFF = [
    ("admin@loupe.test", "Ada Admin", Role.ADMIN, None),
    ("maria.manager@loupe.test", "Maria Manager", Role.ACCOUNT_MANAGER, None),
    ("tom.manager@loupe.test", "Tom Manager", Role.ACCOUNT_MANAGER, None),
    ("rita.retoucher@loupe.test", "Rita Retoucher", Role.RETOUCHER,
     (480, [0, 1, 2, 3, 4], ["colour-correction", "detail-enhancement", "reflection-shine", "stone-enhancement",
                             "shadow-creation", "background-removal", "clipping-path"])),
    ("raj.retoucher@loupe.test", "Raj Retoucher", Role.RETOUCHER,
     (420, [0, 1, 2, 3, 4], ["clipping-path", "background-removal", "shadow-creation", "dust-scratch-removal"])),
    ("lena.retoucher@loupe.test", "Lena Retoucher", Role.RETOUCHER,
     (240, [0, 1, 2], ["metal-recolouring", "colour-correction", "consistency-matching", "dust-scratch-removal",
                       "detail-enhancement", "background-removal"])),
    ("omar.retoucher@loupe.test", "Omar Retoucher", Role.RETOUCHER,
     (360, [1, 2, 3, 4, 5], ["stone-enhancement", "reflection-shine", "clipping-path", "background-removal"])),
    ("quinn.qc@loupe.test", "Quinn Reviewer", Role.QC, None),
    ("fiona.finance@loupe.test", "Fiona Finance", Role.FINANCE, None),
]

CLIENTS: list[dict[str, Any]] = [
    {
        "name": "Aurelia Fine Jewelry", "currency": "EUR", "time_zone": "Europe/Paris", "tax_rate": "20.00",
        "manager": "maria.manager@loupe.test",
        "billing": {"billing_street": "12 rue de la Paix", "billing_postcode": "75002", "billing_city": "Paris",
                    "billing_country": "FR", "vat_number": "FR40303265045"},
        "users": [("camille@aurelia.test", "Camille Durand", Role.CLIENT_ADMIN),
                  ("louis@aurelia.test", "Louis Martin", Role.CLIENT_MEMBER)],
        "guide": {"name": "E-shop white", "background": Background.WHITE, "output_formats": ["JPEG", "PNG"],
                  "long_edge_px": 1600, "square_canvas": True, "shadow": Shadow.NATURAL, "metal": Metal.YELLOW_GOLD,
                  "finish": Finish.POLISHED, "filename_pattern": "{sku}_{n}",
                  "notes": "Keep the warmth of 18k yellow gold; no blown highlights on the table facet."},
    },
    {
        "name": "Northwind Diamonds", "currency": "USD", "time_zone": "America/New_York", "tax_rate": "0.00",
        "manager": "tom.manager@loupe.test",
        "billing": {"billing_street": "580 Fifth Avenue", "billing_postcode": "10036", "billing_city": "New York",
                    "billing_country": "US", "pay_before_download": True},
        "users": [("ava@northwind.test", "Ava Chen", Role.CLIENT_ADMIN),
                  ("noah@northwind.test", "Noah Patel", Role.CLIENT_MEMBER)],
        "guide": {"name": "Marketplace transparent", "background": Background.TRANSPARENT,
                  "output_formats": ["PNG", "WEBP"], "long_edge_px": 1600, "square_canvas": True, "shadow": Shadow.NONE,
                  "metal": Metal.PLATINUM, "finish": Finish.POLISHED, "gemstone_notes": "Maximise fire; no colour cast.",
                  "filename_pattern": "NW-{sku}-{n}"},
    },
    {
        "name": "Rosewood Atelier", "currency": "EUR", "time_zone": "Europe/Berlin", "tax_rate": "19.00",
        "manager": "maria.manager@loupe.test",
        "billing": {"billing_street": "Theatinerstraße 14", "billing_postcode": "80333", "billing_city": "München",
                    "billing_country": "DE", "vat_number": "DE811128135", "invoicing": "monthly", "pilot_size": 2},
        "users": [("olivia@rosewood.test", "Olivia Hughes", Role.CLIENT_ADMIN),
                  ("harry@rosewood.test", "Harry Evans", Role.CLIENT_MEMBER)],
        "guide": {"name": "Editorial blush", "background": Background.COLOUR, "background_colour": "#F4E9E4",
                  "output_formats": ["JPEG", "TIFF"], "long_edge_px": 1600, "square_canvas": True, "shadow": Shadow.REFLECTION,
                  "metal": Metal.ROSE_GOLD, "finish": Finish.BRUSHED, "reflection_style": "Soft gradient, no hard edges",
                  "filename_pattern": "{order}_{n}"},
    },
]

# (title, state, services, turnaround, kinds of pieces); one client each in turn.
ORDERS = [
    ("Spring bridal rings", OrderStatus.DRAFT, ["colour-correction", "background-removal"], "standard", ["ring"] * 3),
    ("Heritage pendants", OrderStatus.SUBMITTED, ["clipping-path", "reflection-shine"], "express", ["pendant"] * 4),
    ("Solitaire restock", OrderStatus.QUOTED, ["stone-enhancement", "background-removal"], "standard", ["ring", "ring"]),
    ("Holiday campaign", OrderStatus.IN_PRODUCTION, ["colour-correction", "reflection-shine", "shadow-creation"],
     "rush", ["earrings", "pendant", "ring"]),
    ("Pearl drop earrings", OrderStatus.DELIVERED, ["detail-enhancement", "background-removal"], "standard",
     ["earrings"] * 3),
    ("Tennis bracelets re-shoot", OrderStatus.REVISION, ["dust-scratch-removal", "consistency-matching"], "express",
     ["ring", "earrings"]),
    ("Autumn catalogue", OrderStatus.COMPLETED, ["colour-correction", "clipping-path"], "standard",
     ["pendant", "ring", "earrings", "ring"]),
    ("Sample test shots", OrderStatus.CANCELLED, ["background-removal"], "standard", ["ring"]),
    ("Gold variants", OrderStatus.ON_HOLD, ["metal-recolouring"], "standard", ["ring", "pendant"]),
]

# The studio as seller (Admin → Billing profile); the IBAN is the standard's example account.
STUDIO_BILLING = {"legal_name": "Loupe Studio GmbH", "street": "Torstraße 110", "postcode": "10119", "city": "Berlin",
                  "country": "DE", "vat_number": "DE123456789", "registration": "Amtsgericht Berlin HRB 123456",
                  "email": "billing@loupe.test", "phone": "+49 30 1234567", "bank_name": "Commerzbank",
                  "iban": "DE89370400440532013000", "bic": "COBADEFFXXX",
                  "footer": "Thank you for your business."}

PORTFOLIO_TITLES = ["Autumn pendant, yellow gold", "Signet ring, brushed band", "Drop earrings, pavé"]

ORIGINAL_PX = 1600  # demo photographs: large enough to look real, small enough to seed in seconds
# Originals come at a camera's shapes (landscape 3:2 and 4:3, portrait 2:3); the style guides ask for square
# versions, so the review canvas shows the normal case: two pictures of different shapes.
CAMERA_SHAPES = [(3, 2), (4, 3), (2, 3)]
QC = "quinn.qc@loupe.test"


class Command(BaseCommand):
    help = "Create demo staff, clients, style guides and orders in every state (safe to run twice)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not Service.objects.exists():
            raise CommandError("The service catalog is missing (it comes with the migrations): run manage.py migrate.")
        with transaction.atomic():
            self.stdout.write("  staff, client companies and style guides")
            users = self._users()
            clients = self._clients(users)
            self.stdout.write("  price lists")
            self._prices(clients)
            created = self._orders(users, clients)
            created += self._pilot_order(users, clients[2])
            self._trial()
            self.stdout.write("  invoices")
            self._invoices(users)
            self._ratings()
            self._portfolio(users)
        building = list(Delivery.objects.filter(status=DeliveryStatus.BUILDING).values_list("pk", flat=True))
        if building:
            # Packed here rather than by the worker, so the demo opens with its files ready.
            self.stdout.write(f"  packing {len(building)} deliver{'ies' if len(building) != 1 else 'y'}")
            for delivery_id in building:
                delivery_build(delivery_id=delivery_id)
        # The demo's history is not news: nobody is mailed about it.
        Event.objects.filter(notified_at__isnull=True).update(notified_at=timezone.now())
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new orders)."))

    def _user(self, email: str, name: str, role: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, full_name=name, role=role)
        return user

    def _users(self) -> dict[str, User]:
        users = {}
        for email, name, role, profile in STAFF:
            user = users[email] = self._user(email, name, role)
            if profile is not None:
                capacity, days, skills = profile
                StaffProfile.objects.get_or_create(user=user, defaults={
                    "daily_capacity_minutes": capacity, "working_days": days,
                })
                for service in Service.objects.filter(code__in=skills):
                    service.skilled_staff.add(user)
        return users

    def _clients(self, users: dict[str, User]) -> list[tuple[Client, StyleGuide, User]]:
        result = []
        for spec in CLIENTS:
            client, _ = Client.objects.get_or_create(name=spec["name"], defaults={
                "currency": spec["currency"], "time_zone": spec["time_zone"], "tax_rate": spec["tax_rate"],
                "account_manager": users[spec["manager"]], "billing_email": spec["users"][0][0], **spec["billing"],
            })
            first_user = None
            for email, name, role in spec["users"]:
                user = self._user(email, name, role)
                Membership.objects.get_or_create(user=user, defaults={"client": client})
                first_user = first_user or user
            guide = StyleGuide.objects.filter(client=client, name=spec["guide"]["name"], is_current=True).first()
            if guide is None:
                guide = StyleGuide(client=client, created_by=users[spec["manager"]], **spec["guide"])
                guide.full_clean()
                guide.save()
            result.append((client, guide, first_user))
        return result

    def _invoices(self, users: dict[str, User]) -> None:
        """The studio's billing details, and each completed order invoiced (the first one partly paid)
        through billing.invoicing, as finance would."""
        finance = users["fiona.finance@loupe.test"]
        completed = Order.objects.filter(status=OrderStatus.COMPLETED).exclude(
            pk__in=InvoiceLine.objects.filter(released=False).values("order")).order_by("number")
        for order in completed:
            for draft in invoicing.invoice_generate(by=finance, order=order):
                invoice = invoicing.invoice_issue(invoice=draft, by=finance)
                half = (invoice.total / 2).quantize(Decimal("0.01"))
                invoicing.invoice_pay(invoice=invoice, by=finance, amount=half, reference="SEPA transfer, first half")

    def _ratings(self) -> None:
        """Each completed order rated by its company's admin, through the same service, with the comment
        published on the studio's page (/studio/)."""
        from storefront.services import rating_give

        for order in Order.objects.filter(status=OrderStatus.COMPLETED, rating__isnull=True).select_related("client"):
            admin = User.objects.filter(membership__client=order.client, role=Role.CLIENT_ADMIN).order_by("email").first()
            if admin is None:
                continue
            first, *rest = admin.full_name.split()
            rating_give(order=order, by=admin, score=5, publish=True, shown_company=order.client.name,
                        shown_name=f"{first} {rest[-1][0]}." if rest else first,
                        comment="Colours true to the metal, clean outlines, and the whole catalogue finally looks "
                                "like one series. The revision round was turned around the same day.")

    def _portfolio(self, users: dict[str, User]) -> None:
        """The completed order's company lets the studio show its pictures; the studio shows three of them on
        /studio/ (web copies made here, so the page opens finished)."""
        from storefront import services as storefront
        from storefront.models import PortfolioPair
        from storefront.tasks import make_copies

        manager = users["maria.manager@loupe.test"]
        pieces = {"ring": "ring", "pendant": "necklace", "earrings": "earrings"}
        for order in Order.objects.filter(status=OrderStatus.COMPLETED).select_related("client"):
            admin = User.objects.filter(membership__client=order.client, role=Role.CLIENT_ADMIN).order_by("email").first()
            if admin is None or PortfolioPair.objects.filter(image__order=order).exists():
                continue
            storefront.consent_give(order=order, by=admin)
            images = order.images.filter(status=ImageStatus.APPROVED).order_by("position", "created_at")[:3]
            for n, image in enumerate(images):
                kind = next((k for k in pieces if image.filename.lower().startswith(k)), "ring")
                pair = storefront.pair_create(image=image, by=manager, title=PORTFOLIO_TITLES[n % len(PORTFOLIO_TITLES)],
                                              service=("colour", "background", "shine")[n % 3], piece=pieces[kind],
                                              position=n)
                if make_copies(str(pair.pk)) == "made":
                    storefront.pair_update(pair=pair, by=manager, published=True)

    def _prices(self, clients: list[tuple[Client, StyleGuide, User]]) -> None:
        # the studio's billing details first: the VAT of every quote follows from them and the client
        # (billing/tax.py): Rosewood in Munich pays German VAT, Aurelia in Paris is reverse charged,
        # Northwind in New York pays none
        BillingProfile.objects.get_or_create(pk=1, defaults=STUDIO_BILLING)
        BusinessCalendar.objects.get_or_create(pk=1)
        base = {"simple": Decimal("1.50"), "standard": Decimal("3.00"), "complex": Decimal("6.00")}
        lists = [(None, "Studio prices 2026", "EUR", Decimal("1"))]
        rates = {"USD": Decimal("1.10"), "GBP": Decimal("0.85")}
        lists += [(client, f"{client.name} prices", client.currency, rates[client.currency]) for client, _, _ in clients
                  if client.currency in rates]
        for client, name, currency, factor in lists:
            price_list, made = PriceList.objects.get_or_create(client=client, defaults={
                "name": name, "currency": currency, "minimum_order": Decimal("40.00"),
                "volume_tiers": [{"min_images": 50, "percent": "10"}, {"min_images": 200, "percent": "15"}]})
            if made:
                PriceRule.objects.bulk_create([
                    PriceRule(price_list=price_list, service=service, complexity=complexity,
                              unit_price=(price * factor * service.minutes_for(complexity) / 8).quantize(Decimal("0.01")))
                    for service in Service.objects.all() for complexity, price in base.items()])

    def _orders(self, users: dict[str, User], clients: list[tuple[Client, StyleGuide, User]]) -> int:
        """Walk each demo order to its state through the same services people use: uploads through
        the upload contract and the pipeline, quotes, scheduling, versions, QC, deliveries, reviews."""
        created = 0
        for index, (title, state, codes, tier, kinds) in enumerate(ORDERS):
            client, guide, client_user = clients[index % len(clients)]
            existing = Order.objects.filter(client=client, title=title).first()
            if existing is not None:
                self._keep_current(existing, state, client.account_manager or users["maria.manager@loupe.test"])
                continue
            self.stdout.write(f"  seeding {client.name}: {title} ({OrderStatus(state).label.lower()})")
            manager = client.account_manager or users["maria.manager@loupe.test"]
            order = order_create(client=client, created_by=client_user, title=title, style_guide=guide,
                                 services=Service.objects.filter(code__in=codes), turnaround=tier,
                                 instructions="Please keep the hallmark inside the band legible.",
                                 po_number=f"PO-{2026_0100 + index}")
            self._upload_originals(order, client_user, manager, kinds, seed=index * 10)
            if state == OrderStatus.DRAFT:
                created += 1
                continue
            workflow.order_submit(order_id=order.pk, by=client_user)
            if state == OrderStatus.CANCELLED:
                workflow.order_cancel(order_id=order.pk, by=manager, reason="Client merged it into another order")
            elif state != OrderStatus.SUBMITTED:
                quote = quote_send(quote=quote_draft(order=order, by=manager), by=manager)
                if state == OrderStatus.ON_HOLD:
                    workflow.order_hold(order_id=order.pk, by=manager, reason="Waiting for the client's SKU list")
                elif state != OrderStatus.QUOTED:
                    quote_accept(quote=quote, by=client_user)
                    schedule_apply(order=order, by=manager)
                    self._produce(order, users, manager, client_user, state, kinds, seed=index * 10)
            created += 1
        return created

    def _pilot_order(self, users: dict[str, User], rosewood: tuple[Client, StyleGuide, User]) -> int:
        """A new style guide's first order, in production with its pilot (jobs.production.pilots): two pictures in
        work, two waiting for Rosewood's approval of them."""
        client, _guide, client_user = rosewood
        title = "Velvet lookbook"
        if Order.objects.filter(client=client, title=title).exists():
            return 0
        self.stdout.write(f"  seeding {client.name}: {title} (in production, pilot first)")
        manager = client.account_manager or users["maria.manager@loupe.test"]
        guide = StyleGuide(client=client, created_by=manager, name="Lookbook velvet", background=Background.COLOUR,
                           background_colour="#2B2A33", output_formats=["JPEG"], long_edge_px=1600, square_canvas=True,
                           shadow=Shadow.NONE, metal=Metal.ROSE_GOLD, finish=Finish.POLISHED,
                           notes="Dark velvet, one soft highlight per piece.")
        guide.full_clean()
        guide.save()
        order = order_create(client=client, created_by=client_user, title=title, style_guide=guide,
                             services=Service.objects.filter(code__in=["colour-correction", "reflection-shine"]),
                             turnaround="standard", po_number="PO-20260199")
        self._upload_originals(order, client_user, manager, ["ring", "pendant", "earrings", "ring"], seed=90)
        workflow.order_submit(order_id=order.pk, by=client_user)
        quote = quote_send(quote=quote_draft(order=order, by=manager), by=manager)
        quote_accept(quote=quote, by=client_user)
        schedule_apply(order=order, by=manager)
        return 1

    def _trial(self) -> None:
        """A prospect's free-trial request waiting for a manager's answer (storefront.trials)."""
        from storefront.models import TrialRequest

        TrialRequest.objects.get_or_create(email="lea@opaline.test", defaults={
            "company": "Opaline Joaillerie", "contact_name": "Léa Moreau", "country": "FR", "pictures": 8,
            "services": ["colour-correction", "background-removal"],
            "message": "Silver rings on white, 40 new pieces a month. Could we try eight first?"})

    def _keep_current(self, order: Order, state: str, manager: User) -> None:
        """Undo what the passing of time alone did to a demo order, as the studio would: a quoted order
        whose quote expired unanswered (the hourly task sent it back to the studio) gets a new quote.
        An order that people moved on is theirs and stays as it is."""
        expired = Quote.objects.filter(order=order, status=QuoteStatus.EXPIRED).exists()
        if state == OrderStatus.QUOTED and order.status == OrderStatus.SUBMITTED and expired:
            self.stdout.write(f"  {order.client.name}: {order.title} quoted again (its quote had expired)")
            quote_send(quote=quote_draft(order=order, by=manager), by=manager)

    def _upload_originals(self, order: Order, by: User, manager: User, kinds: list[str], *, seed: int) -> None:
        files = []
        for n, kind in enumerate(kinds, start=1):
            shape = CAMERA_SHAPES[(seed + n) % len(CAMERA_SHAPES)]
            data = encode_jpeg(_camera_frame(render_jewelry(kind, seed=seed + n, size=ORIGINAL_PX), shape))
            files.append((f"{kind.upper()}_{seed + n:04d}.jpg", data))
        specs = [{"name": name, "size": len(data), "content_type": "image/jpeg", "sha256": hashlib.sha256(data).hexdigest()}
                 for name, data in files]
        created = uploads_create(order=order, by=by, files=specs)
        for (image, _target), (_name, data), n in zip(created, files, range(1, len(files) + 1), strict=True):
            _put(image.upload_key, data)
            upload_complete(image=image, by=by)
            image_process(image_id=image.pk)  # the worker would do it after commit; the demo needs it now
            OrderImage.objects.filter(pk=image.pk).update(sku=f"SKU-{seed + n:04d}")
            if n == 2:  # the studio renders are measured simple; a manager grades one otherwise, saying why
                image_update(image=OrderImage.objects.get(pk=image.pk), by=manager, complexity=Complexity.COMPLEX,
                             complexity_reason="Pavé band: every stone needs cleaning and its own highlight")

    def _version(self, image: OrderImage, retoucher: User, kind: str, *, seed: int) -> Version:
        start = OrderImage.objects.get(pk=image.pk)
        if start.status != ImageStatus.IN_PROGRESS:
            image_start(image=start, by=retoucher)
        guide = image.order.style_guide
        fmt = "PNG" if "PNG" in guide.output_formats else "TIFF"
        data = encode_master(render_retouched(kind, seed=seed, guide=guide, size=ORIGINAL_PX), fmt=fmt)
        spec = {"name": f"{Path(image.filename).stem}_retouched.{fmt.lower().replace('tiff', 'tif')}", "size": len(data),
                "content_type": f"image/{fmt.lower()}", "sha256": hashlib.sha256(data).hexdigest()}
        version, _target = version_create(image=start, by=retoucher, file=spec)
        _put(version.upload_key, data)
        version_complete(version=version, by=retoucher)
        version_process(version_id=version.pk)
        return Version.objects.get(pk=version.pk)

    def _two_rounds(self, order: Order, images: list[OrderImage], users: dict[str, User], manager: User,
                    client_user: User, retoucher: User, kind: str, *, seed: int) -> None:
        """The review canvas's normal case, over two rounds on the first image (a square version beside a
        camera-shaped original): round 1's point, area and freehand line answered in their threads and
        resolved by the retoucher as they fix; QC's studio-only ellipse on the new version, replied to and
        resolved; round 2's arrow and polygon open, waiting for the studio."""
        first, qc = images[0], users[QC]
        delivered = first.versions.order_by("-number").first()
        w, h = delivered.width, delivered.height
        items = [{"image": first.pk, "decision": "revise", "kind": "change",
                  "note": "Could the gold read a touch warmer, closer to the reference?",
                  "marks": [_mark(f"xywh=pixel:{w // 2},{h * 3 // 10},0,0", "Soften the reflection on the stone"),
                            _mark(f"xywh=pixel:{w * 22 // 100},{h * 55 // 100},{w // 6},{h // 8}",
                                  "Polish marks still visible along this band"),
                            _svg(f'<polyline points="{w * 60 // 100},{h * 70 // 100} {w * 66 // 100},{h * 74 // 100} '
                                 f'{w * 72 // 100},{h * 72 // 100} {w * 78 // 100},{h * 66 // 100}"/>',
                                 "A faint scratch follows this line")]}]
        items += [{"image": i.pk, "decision": "approve"} for i in images[1:]]
        answered = review_submit(order=order, by=client_user, items=items, note="Lovely work on the rest.").round
        glare, band, scratch = Annotation.objects.filter(item__round=answered).order_by("number")
        reply_post(mark=glare, by=manager, text="Noted: we will keep the sparkle and take the glare down.")
        reply_post(mark=band, by=retoucher, text="Cleaned along the band; have a look at 100 %.")
        again = self._version(first, retoucher, kind, seed=seed + 21)
        w, h = again.width, again.height
        dust = annotation_create(
            image=first, version=again, by=qc, text="Check the prong tips for dust before redelivery.",
            target={"selector": {"type": "SvgSelector", "value": f'<svg><ellipse cx="{w // 2}" cy="{h // 4}" '
                                 f'rx="{w // 10}" ry="{h // 14}"/></svg>'}})
        reply_post(mark=dust, by=retoucher, text="Cleaned; the tips are clear now.")
        for mark in (glare, band, scratch):
            annotation_resolve(mark=mark, by=retoucher)
        annotation_resolve(mark=dust, by=qc)
        qc_decide(version=again, by=qc, decision="pass")
        for packing in Delivery.objects.filter(order=order, status=DeliveryStatus.BUILDING):
            delivery_build(delivery_id=packing.pk)  # the first delivery is ready before the next is published
        delivery_publish(order=order, by=manager)
        review_submit(order=order, by=client_user, note="Almost there.", items=[{
            "image": first.pk, "decision": "revise", "kind": "defect", "note": "The stone's outline went soft.",
            "marks": [_svg(f'<line x1="{w * 15 // 100}" y1="{h * 15 // 100}" x2="{w * 40 // 100}" y2="{h * 22 // 100}"/>',
                           "This prong lost its edge"),
                      _svg(f'<polygon points="{w * 42 // 100},{h * 16 // 100} {w * 58 // 100},{h * 16 // 100} '
                           f'{w * 60 // 100},{h * 32 // 100} {w * 40 // 100},{h * 32 // 100}"/>',
                           "Keep the stone's facets crisp inside this outline")]}])

    def _produce(self, order: Order, users: dict[str, User], manager: User, client_user: User, state: str,
                 kinds: list[str], *, seed: int) -> None:
        """Versions, QC, deliveries and reviews up to the order's demo state."""
        qc = users[QC]
        images = list(order.images.order_by("position"))
        retouchers = {a.image_id: a.retoucher for a in Assignment.objects.filter(image__order=order, active=True)
                      .select_related("retoucher")}
        if state == OrderStatus.IN_PRODUCTION:
            # Work in every stage: one waits for QC, one in progress, the rest still to start.
            self._version(images[0], retouchers[images[0].pk], kinds[0], seed=seed + 1)
            image_start(image=images[1], by=retouchers[images[1].pk])
            return
        for n, image in enumerate(images):
            version = self._version(image, retouchers[image.pk], kinds[n], seed=seed + n + 1)
            if n == 0:  # QC sends the first one back once: the timeline and the quality report show it
                qc_decide(version=version, by=qc, decision="reject", category="dust",
                          note="Dust specks on the lower band; clean before delivery.")
                version = self._version(image, retouchers[image.pk], kinds[n], seed=seed + n + 11)
            qc_decide(version=version, by=qc, decision="pass")
        delivery_publish(order=order, by=manager)
        if state == OrderStatus.DELIVERED:
            return
        if state == OrderStatus.REVISION:
            self._two_rounds(order, images, users, manager, client_user, retouchers[images[0].pk], kinds[0], seed=seed)
            return
        review_submit(order=order, by=client_user, items=[{"image": i.pk, "decision": "approve"} for i in images])


def _camera_frame(picture: Any, shape: tuple[int, int]) -> Any:
    """The middle of a square rendering at a camera's shape (the piece stays whole: it sits in the middle)."""
    side = picture.width
    width, height = (side, side * shape[1] // shape[0]) if shape[0] >= shape[1] else (side * shape[0] // shape[1], side)
    left, top = (side - width) // 2, (side - height) // 2
    return picture.crop((left, top, left + width, top + height))


def _mark(fragment: str, text: str) -> dict[str, Any]:
    return {"target": {"selector": {"type": "FragmentSelector", "value": fragment}}, "text": text}


def _svg(shape: str, text: str) -> dict[str, Any]:
    return {"target": {"selector": {"type": "SvgSelector", "value": f"<svg>{shape}</svg>"}}, "text": text}


def _put(key: str, data: bytes) -> None:
    """Send the bytes where the upload target points, as a client's PUT would (any storage backend)."""
    backend = get_backend()
    if isinstance(backend, LocalBackend):
        path = backend.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        backend.client.put_object(Bucket=backend.bucket, Key=key, Body=data)

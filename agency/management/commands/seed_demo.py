"""``manage.py seed_demo``: a studio with staff, three client companies and orders in every state.

Idempotent: every row is found by a natural key (e-mail, company name, order title) before it is
made, so a second run changes nothing. Like ``agency/urls.py`` this is a composition root and may
import every app; nothing else in ``agency`` does.
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from agency.models import BusinessCalendar, Role, StaffProfile, User
from billing.models import PriceList, PriceRule
from billing.services import quote_draft
from billing.workflow import quote_accept, quote_send
from clients.models import Background, Client, Finish, Membership, Metal, Shadow, StyleGuide
from jobs import workflow
from jobs.events import record_event
from jobs.imaging.demo import encode_jpeg, render_jewelry
from jobs.imaging.pipeline import make_previews
from jobs.models import Complexity, Event, ImageStatus, Order, OrderImage, OrderStatus, Service
from jobs.planning import schedule_apply
from jobs.services import order_create
from jobs.uploads import preflight_warnings

DEMO_PASSWORD = "loupe-demo-2026"

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
        "users": [("camille@aurelia.test", "Camille Durand", Role.CLIENT_ADMIN),
                  ("louis@aurelia.test", "Louis Martin", Role.CLIENT_MEMBER)],
        "guide": {"name": "E-shop white", "background": Background.WHITE, "output_formats": ["JPEG", "PNG"],
                  "long_edge_px": 2000, "square_canvas": True, "shadow": Shadow.NATURAL, "metal": Metal.YELLOW_GOLD,
                  "finish": Finish.POLISHED, "filename_pattern": "{sku}_{n}",
                  "notes": "Keep the warmth of 18k yellow gold; no blown highlights on the table facet."},
    },
    {
        "name": "Northwind Diamonds", "currency": "USD", "time_zone": "America/New_York", "tax_rate": "0.00",
        "manager": "tom.manager@loupe.test",
        "users": [("ava@northwind.test", "Ava Chen", Role.CLIENT_ADMIN),
                  ("noah@northwind.test", "Noah Patel", Role.CLIENT_MEMBER)],
        "guide": {"name": "Marketplace transparent", "background": Background.TRANSPARENT,
                  "output_formats": ["PNG", "WEBP"], "long_edge_px": 3000, "shadow": Shadow.NONE,
                  "metal": Metal.PLATINUM, "finish": Finish.POLISHED, "gemstone_notes": "Maximise fire; no colour cast.",
                  "filename_pattern": "NW-{sku}-{n}"},
    },
    {
        "name": "Rosewood Atelier", "currency": "GBP", "time_zone": "Europe/London", "tax_rate": "20.00",
        "manager": "maria.manager@loupe.test",
        "users": [("olivia@rosewood.test", "Olivia Hughes", Role.CLIENT_ADMIN),
                  ("harry@rosewood.test", "Harry Evans", Role.CLIENT_MEMBER)],
        "guide": {"name": "Editorial blush", "background": Background.COLOUR, "background_colour": "#F4E9E4",
                  "output_formats": ["JPEG", "TIFF"], "long_edge_px": 4000, "shadow": Shadow.REFLECTION,
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

# How the seed walks an order to its state. Transitions that have a workflow function use it; the
# later stages (quote, production, delivery) are written as their timeline events say.
PATHS = {
    OrderStatus.DRAFT: [],
    OrderStatus.SUBMITTED: ["submit"],
    OrderStatus.QUOTED: ["submit", OrderStatus.QUOTED],
    OrderStatus.IN_PRODUCTION: ["submit", OrderStatus.QUOTED, OrderStatus.IN_PRODUCTION],
    OrderStatus.DELIVERED: ["submit", OrderStatus.QUOTED, OrderStatus.IN_PRODUCTION, OrderStatus.DELIVERED],
    OrderStatus.REVISION: ["submit", OrderStatus.QUOTED, OrderStatus.IN_PRODUCTION, OrderStatus.DELIVERED,
                           OrderStatus.REVISION],
    OrderStatus.COMPLETED: ["submit", OrderStatus.QUOTED, OrderStatus.IN_PRODUCTION, OrderStatus.DELIVERED,
                            OrderStatus.COMPLETED],
    OrderStatus.CANCELLED: ["submit", "cancel"],
    OrderStatus.ON_HOLD: ["submit", OrderStatus.QUOTED, "hold"],
}
STAGE_MESSAGES = {
    OrderStatus.QUOTED: "Quote sent to the client",
    OrderStatus.IN_PRODUCTION: "Quote accepted; production started",
    OrderStatus.DELIVERED: "Delivered for review",
    OrderStatus.REVISION: "Client requested a revision round",
    OrderStatus.COMPLETED: "Client approved all images",
}
IMAGE_STATUS = {
    OrderStatus.IN_PRODUCTION: ImageStatus.IN_PROGRESS, OrderStatus.DELIVERED: ImageStatus.DELIVERED,
    OrderStatus.REVISION: ImageStatus.REVISION_REQUESTED, OrderStatus.COMPLETED: ImageStatus.APPROVED,
}


class Command(BaseCommand):
    help = "Create demo staff, clients, style guides and orders in every state (safe to run twice)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            users = self._users()
            clients = self._clients(users)
            self._prices(clients)
            created = self._orders(users, clients)
            # The demo's history is not news: nobody is mailed about it.
            Event.objects.filter(notified_at__isnull=True).update(notified_at=timezone.now())
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new orders)."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for email, _name, role, _ in STAFF:
            self.stdout.write(f"  {role.label:<16} {email}")
        for spec in CLIENTS:
            for email, _name, role in spec["users"]:
                self.stdout.write(f"  {role.label:<16} {email}  ({spec['name']})")

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
                "account_manager": users[spec["manager"]], "billing_email": spec["users"][0][0],
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

    def _prices(self, clients: list[tuple[Client, StyleGuide, User]]) -> None:
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
        created = 0
        for index, (title, state, codes, tier, kinds) in enumerate(ORDERS):
            client, guide, client_user = clients[index % len(clients)]
            if Order.objects.filter(client=client, title=title).exists():
                continue
            manager = client.account_manager or users["maria.manager@loupe.test"]
            order = order_create(client=client, created_by=client_user, title=title, style_guide=guide,
                                 services=Service.objects.filter(code__in=codes), turnaround=tier,
                                 instructions="Please keep the hallmark inside the band legible.",
                                 po_number=f"PO-{2026_0100 + index}")
            self._images(order, kinds, seed=index * 10, status=ImageStatus.RECEIVED)
            quote = None
            for step in PATHS[state]:
                if step == "submit":
                    workflow.order_submit(order_id=order.pk, by=client_user)
                elif step == "cancel":
                    workflow.order_cancel(order_id=order.pk, by=manager, reason="Client merged it into another order")
                elif step == "hold":
                    workflow.order_hold(order_id=order.pk, by=manager, reason="Waiting for the client's SKU list")
                elif step == OrderStatus.QUOTED:
                    quote = quote_send(quote=quote_draft(order=order, by=manager), by=manager)
                elif step == OrderStatus.IN_PRODUCTION:
                    quote_accept(quote=quote, by=client_user)
                    schedule_apply(order=order, by=manager)
                else:  # delivery and approval come with later features; the demo writes their outcome
                    order.refresh_from_db()
                    previous = order.status
                    Order.objects.filter(pk=order.pk).update(status=step, sla_running_since=None, sla_state="",
                                                             delivered_at=timezone.now() - timedelta(hours=index))
                    record_event(order=order, actor=manager, verb=f"order.{step}",
                                          message=STAGE_MESSAGES[step], from_status=previous, to_status=step)
            if state in IMAGE_STATUS:
                OrderImage.objects.filter(order=order).update(status=IMAGE_STATUS[state])
            created += 1
        return created

    def _images(self, order: Order, kinds: list[str], *, seed: int, status: str) -> None:
        for n, kind in enumerate(kinds, start=1):
            picture = render_jewelry(kind, seed=seed + n, size=2400)
            data = encode_jpeg(picture)
            image = OrderImage(order=order, filename=f"{kind.upper()}_{seed + n:04d}.jpg", sku=f"SKU-{seed + n:04d}",
                               status=status, position=n, size_bytes=len(data), content_type="image/jpeg",
                               sha256=hashlib.sha256(data).hexdigest(),
                               complexity=[Complexity.SIMPLE, Complexity.STANDARD, Complexity.COMPLEX][n % 3])
            with tempfile.NamedTemporaryFile(suffix=".jpg") as tmp:
                tmp.write(data)
                tmp.flush()
                # The same pipeline as a real upload (in-process: these files are our own).
                result = make_previews(Path(tmp.name), max_pixels=settings.LOUPE_MAX_IMAGE_PIXELS)
            info = result.inspection
            image.format, image.width, image.height, image.mode = info.format, info.width, info.height, info.mode
            image.bit_depth, image.icc_profile, image.dpi = info.bit_depth, info.icc_profile, info.dpi
            image.preflight = preflight_warnings(image, info.as_dict())
            image.original.save(image.filename, ContentFile(data), save=False)
            image.thumbnail.save("256.webp", ContentFile(result.thumbnail), save=False)
            image.preview.save("1600.webp", ContentFile(result.preview), save=False)
            image.save()



"""A1 (authorization matrix) and A2 (route-coverage gate) of SECURITY.md.

Every cell is one request by one persona on one object: tenant A's own object, a random UUID
("missing") or tenant B's real object of the same kind ("foreign"). Write cells also check what the
request did: an answer below 400 to a logged-in persona must have changed the watched object, and
every refusal must leave it, and the row count of every table, exactly as they were.

The objects are made once per module inside a transaction that stays open until the module ends;
each cell runs in its own savepoint, rolled back after it, so cells never see each other's writes.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from agency.models import ApiToken, Notification, Role, User
from billing import invoicing
from billing.models import (
    DocumentCounter,
    Export,
    ExportStatus,
    Invoice,
    InvoiceLine,
    Payment,
    PriceList,
    PriceRule,
    Quote,
    QuoteLine,
    RevisionCharge,
)
from billing.services import quote_draft, quote_line_save
from billing.workflow import quote_send
from clients.models import Client, Membership, StyleGuide, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from jobs.models import (
    Annotation,
    AnnotationReply,
    Assignment,
    CompanyExport,
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    Event,
    ImageStatus,
    Message,
    Order,
    OrderImage,
    OrderStatus,
    RevisionItem,
    RevisionRound,
    RoundStatus,
    Service,
    ShareLink,
    Version,
    VersionStatus,
)
from jobs.review import shares
from storefront.models import TrialRequest
from tests.conftest import Cast, api_for, build_cast, received_image, web_for
from tests.factories import PASSWORD, StyleGuideFactory, UserFactory, add_images, default_price_list, make_order, submitted_order

MATRIX = yaml.safe_load((Path(__file__).parent / "authz_matrix.yaml").read_text())
PERSONAS = ["anon", "client_admin_A", "client_member_A", "client_member_B", "account_manager",
            "retoucher_assigned", "retoucher_other", "qc", "finance", "admin", "client_admin_B"]
TENANT_OBJECTS = {"order", "order_pilot", "image_pilot", "order_submitted", "order_on_hold", "order_production",
                  "order_quoted", "client", "guide",
                  "image", "image_uploading", "image_production", "delivery", "membership", "quote", "quote_line",
                  "image_assigned", "image_multipart", "version_multipart", "version_held", "image_held", "delivery_held",
                  "quote_draft", "quote_draft_line", "image_work", "version_in_qc", "version_uploading", "order_delivered",
                  "delivery_review",
                  "image_delivered", "round_awaiting", "revision_item", "delivery_failed", "version_approved",
                  "image_ready", "image_rejected", "order_completed", "invoice", "invoice_draft",
                  "token", "colleague", "colleague_person", "invitation", "webhook", "webhook_delivery", "notification",
                  "mark", "mark_reply", "mark_resolved", "mark_studio", "company_export", "share",
                  "image_approved", "order_shown", "pair"}
SHARED_OBJECTS = {"service", "price_list", "retoucher", "export", "trial"}
OBJECT_NAMES = TENANT_OBJECTS | SHARED_OBJECTS
# Who must get 404 for tenant B's real objects: A's client users and the retouchers (who work on A's
# images only). The studio's managers, finance and admins see every tenant by design, and QC every
# tenant's retouched work (its boundary, "retouched work only", is tested by the own cells).
FOREIGN_PERSONAS = {"client_admin_A", "client_member_A", "retoucher_assigned", "retoucher_other"}
COUNTED = [Order, OrderImage, Version, Assignment, Delivery, Event, Quote, QuoteLine, Client, Membership, StyleGuide,
           PriceList, PriceRule, ApiToken, User, RevisionRound, RevisionItem, Annotation, AnnotationReply,
           Message, DeliveryItem, RevisionCharge,
           Invoice, InvoiceLine, Payment, DocumentCounter, Export, WebhookEndpoint, WebhookDelivery, WebhookAttempt]
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
CANARY = "CANARY-B"
# Tenant A's money, in a quote line, an invoice line, a payment and a revision charge: a retoucher or QC
# reviewer never reads it anywhere.
MONEY_CANARY = Decimal("4242.42")
MONEY_SPELLINGS = ("4242.42", "4,242.42", "4.242,42", "4 242.42")
# Who must never read tenant B's canary (QC sees every tenant's retouched work by design), and who must
# never read an amount.
CANARY_BLIND = {"client_admin_A", "client_member_A", "retoucher_assigned", "retoucher_other"}
MONEY_BLIND = {"retoucher_assigned", "retoucher_other", "qc"}
MATRIX_SECRET = "0123456789abcdef0123456789abcdef01234567"  # the second factor a setup cell confirms
PUT_BODY = b"{}"  # what the API client sends for a PUT without a body


def _variants(spec: dict[str, Any], persona: str) -> list[str]:
    values = set(spec.get("args", {}).values())
    variants = ["own"]
    if values & OBJECT_NAMES:
        variants.append("missing")
    if values & TENANT_OBJECTS and (persona in FOREIGN_PERSONAS or persona == "anon"):
        variants.append("foreign")
    return variants


def _cells() -> list[Any]:
    cells = []
    for surface in ("api", "pages"):
        for name, specs in MATRIX[surface].items():
            for number, spec in enumerate(specs):
                assert len(spec["expect"]) == len(PERSONAS), f"{name}: {len(spec['expect'])} columns"
                for index, persona in enumerate(PERSONAS):
                    for variant in _variants(spec, persona):
                        cells.append(pytest.param(surface, name, spec, persona, index, variant,
                                                  id=f"{name}-{spec['method']}{number or ''}-{persona}-{variant}"))
    return cells


def _tenant(cast: Cast, client: Client, guide: StyleGuide, member: User, manager: User, rita: User) -> dict[str, Any]:
    """One tenant's objects, one of each kind the matrix names. Tenant B's titles carry the canary."""
    label = f"{CANARY}-7f3a " if client == cast.globex else ""
    order = make_order(client, by=member, title=f"{label}Draft", guide=guide)
    # a draft under a style guide never delivered, of a company that pilots one picture: it will run a pilot
    Client.objects.filter(pk=client.pk).update(pilot_size=1)
    client.refresh_from_db()
    order_pilot = make_order(client, by=member, title=f"{label}Velvet lookbook",
                             guide=StyleGuideFactory(client=client, name=f"{label}Velvet"))
    image_pilot = add_images(order_pilot, {"standard": 2})[0]
    submitted = make_order(client, by=member, status=OrderStatus.SUBMITTED, title=f"{label}Submitted", guide=guide)
    add_images(submitted, {"standard": 1})
    production = make_order(client, by=member, status=OrderStatus.IN_PRODUCTION, title=f"{label}Production", guide=guide)
    Order.objects.filter(pk=production.pk).update(due_at=timezone.now() + timedelta(days=5))
    quoted = submitted_order(make_order(client, by=member, title=f"{label}Quoted", guide=guide), {"standard": 2})
    priced = quote_draft(order=quoted, by=manager)
    quote_line_save(quote=priced, by=manager, description="Archive handling", quantity=Decimal("1"),
                    unit_price=MONEY_CANARY)
    quote = quote_send(quote=priced, by=manager)
    drafting = submitted_order(make_order(client, by=member, title=f"{label}Drafting", guide=guide), {"standard": 2})
    draft = quote_draft(order=drafting, by=manager)
    objects = {
        **_production(client, guide, member, production, rita, label), **_invoices(cast, client, member, manager),
        **_uploads(member, order), **_held(cast, client, guide, member, rita, label),
        "order": order, "order_submitted": submitted, "client": client, "guide": guide,
        "order_pilot": order_pilot, "image_pilot": image_pilot,
        "image": received_image(order),
        "image_uploading": OrderImage.objects.create(order=submitted, filename="late.jpg", declared_size=10,
                                                     upload_key=f"clients/{client.pk}/pending/late.jpg"),
        "image_rejected": OrderImage.objects.create(order=submitted, filename="notes.jpg", status=ImageStatus.REJECTED,
                                                    reason="not an image: the file is text"),
        "order_on_hold": make_order(client, by=member, status=OrderStatus.ON_HOLD, title="Held", guide=guide),
        "order_production": production, "image_production": add_images(production, {"standard": 1})[0],
        "order_quoted": quoted, "quote": quote, "quote_line": quote.lines.order_by("position").first(),
        "quote_draft": draft, "quote_draft_line": draft.lines.filter(kind="service").order_by("position").first(),
        "delivery": Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY,
                                            archive=f"clients/{client.pk}/orders/{order.pk}/d.zip"),
        "membership": member.membership,
        "company_export": CompanyExport.objects.create(
            client=client, status=DeliveryStatus.READY, archive=f"clients/{client.pk}/exports/x/company.zip",
            archive_size=10, finished_at=timezone.now()),
        "token": ApiToken.issue(member, name="Matrix script")[0],
        **_colleague(client),
        **_webhook(client, member),
        "notification": Notification.objects.create(user=member, kind="message", source=f"matrix:{client.pk}",
                                                    title="Your order has a message"),
        "invitation": Membership.objects.create(
            client=client, user=User.objects.create_user(f"invited-{client.pk.hex[:8]}@example.test", None,
                                                         full_name="Invited Person", role=Role.CLIENT_MEMBER)),
    }
    objects["share"] = ShareLink.objects.create(
        delivery=objects["delivery"], email=f"guest-{client.pk.hex[:8]}@agency.test", digest=shares.digest(f"matrix-{label}"),
        prefix="matrix", expires_at=timezone.now() + timedelta(days=14), created_by=manager)
    return objects


def _webhook(client: Client, member: User) -> dict[str, Any]:
    endpoint = WebhookEndpoint.objects.create(client=client, url="http://127.0.0.1:9/matrix", events=["order.submitted"],
                                              secret="whsec_matrix", created_by=member)
    return {"webhook": endpoint, "webhook_delivery": WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="order.submitted", body="{}", status="failed", attempts=3)}


def _colleague(client: Client) -> dict[str, Any]:
    """A client member who is none of the personas (their row is watched while others change it)."""
    person = User.objects.create_user(f"colleague-{client.pk.hex[:8]}@example.test", PASSWORD, full_name="Colleague",
                                      role=Role.CLIENT_MEMBER)
    return {"colleague": Membership.objects.create(client=client, user=person), "colleague_person": person}


def _invoices(cast: Cast, client: Client, member: User, manager: User) -> dict[str, Any]:
    """A completed order not invoiced yet, an issued invoice, a draft, and a partly paid invoice carrying the
    money canary on a line and as its payment (each from its own order)."""
    from tests.billing.invoicing_setup import address, completed_order

    address(client)
    orders = [completed_order(client, manager, title=f"Completed {n}") for n in range(4)]
    [issued] = invoicing.invoice_generate(by=cast.finance, order=orders[1])
    invoicing.invoice_issue(invoice=issued, by=cast.finance)
    [paid] = invoicing.invoice_generate(by=cast.finance, order=orders[3])
    invoicing.invoice_line_add(invoice=paid, by=cast.finance, description="Archive handling", quantity=Decimal("1"),
                               unit_price=MONEY_CANARY, order=orders[3])
    invoicing.invoice_issue(invoice=paid, by=cast.finance)
    invoicing.invoice_pay(invoice=paid, by=cast.finance, amount=MONEY_CANARY)
    [draft] = invoicing.invoice_generate(by=cast.finance, order=orders[2])
    return {"order_completed": orders[0], "invoice": issued, "invoice_draft": draft}


def _uploads(member: User, order: Order) -> dict[str, Any]:
    """An original uploading in parts, through the real service, on a draft of its own (large enough for
    a multipart plan; no bytes are sent: signing a part needs none)."""
    from jobs.intake.uploads import uploads_create

    big = {"name": "MASTER.tif", "size": 100 * 2**20, "content_type": "image/tiff", "sha256": ""}
    uploading = make_order(order.client, by=member, title=f"{order.title} uploading", guide=order.style_guide)
    [(image, _)] = uploads_create(order=uploading, by=member, files=[big])
    return {"image_multipart": image}


def _held(cast: Cast, client: Client, guide: StyleGuide, member: User, rita: User, label: str) -> dict[str, Any]:
    """An order paid before download and not paid yet: delivered and approved, its version in the review
    delivery and in the final one, its files held."""
    order = make_order(client, by=member, status=OrderStatus.COMPLETED, title=f"{label}Held", guide=guide)
    Order.objects.filter(pk=order.pk).update(downloads_held=True)
    image = add_images(order, {"standard": 1}, status=ImageStatus.APPROVED)[0]
    version = _version(image, VersionStatus.PASSED, rita, approved=True)
    version.preview.save("p.webp", ContentFile(_webp()), save=True)  # watermarked for its client: a real picture
    review = Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, archive=f"h1-{order.pk}.zip")
    final = Delivery.objects.create(order=order, number=2, kind="final", status=DeliveryStatus.READY,
                                    archive=f"h2-{order.pk}.zip")
    for delivery in (review, final):
        DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    return {"image_held": image, "version_held": version, "delivery_held": final}


def _webp() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 170, 60)).save(out, "WEBP")
    return out.getvalue()


def _version(image: OrderImage, status: str, by: User, **fields: Any) -> Version:
    number = image.versions.count() + 1
    version = Version(image=image, number=number, status=status, created_by=by, filename=f"v{number}.png",
                      declared_size=10, upload_key=f"clients/{image.order.client_id}/pending/{uuid.uuid4().hex}.png",
                      **fields)
    if status != VersionStatus.UPLOADING:
        version.width = version.height = 2400  # what decoding found: a square canvas
        version.file.save("v.png", ContentFile(b"not decoded in the matrix"), save=False)
        version.preview.save("p.webp", ContentFile(b"RIFF preview"), save=False)
    version.save()
    return version


def _production(client: Client, guide: StyleGuide, member: User, production: Order, rita: User,
                label: str) -> dict[str, Any]:
    """The production and review objects: work assigned to retoucher_assigned (one image to start, one
    in progress), a version waiting for QC, one uploading and one uploading in parts, an image ready to
    deliver, a delivered order, a billable round waiting for a client admin (its charge is the money
    canary once confirmed), an open round's item, a failed delivery and an approved version that is in
    two deliveries (the review one and the final one)."""
    from jobs.production.versions import version_create

    work, in_qc, ready, assigned = add_images(production, {"standard": 4})
    OrderImage.objects.filter(pk=work.pk).update(status=ImageStatus.IN_PROGRESS)
    OrderImage.objects.filter(pk=in_qc.pk).update(status=ImageStatus.IN_QC)
    OrderImage.objects.filter(pk=ready.pk).update(status=ImageStatus.READY)
    OrderImage.objects.filter(pk=assigned.pk).update(status=ImageStatus.ASSIGNED)
    for image in (work, in_qc, ready, assigned):
        Assignment.objects.create(image=image, retoucher=rita, minutes=30)
    work.refresh_from_db()
    uploading = _version(work, VersionStatus.UPLOADING, rita)
    multipart, _ = version_create(image=work, by=rita, file={"name": "RETOUCHED.tif", "size": 100 * 2**20,
                                                             "content_type": "image/tiff", "sha256": ""})
    waiting = _version(in_qc, VersionStatus.IN_QC, rita, uploaded_at=timezone.now())
    _version(ready, VersionStatus.PASSED, rita)

    def delivered_order(title: str) -> tuple[Order, OrderImage, Version, Delivery]:
        order = make_order(client, by=member, status=OrderStatus.DELIVERED, title=f"{label}{title}", guide=guide)
        image = add_images(order, {"standard": 1}, status=ImageStatus.DELIVERED)[0]
        version = _version(image, VersionStatus.PASSED, rita)
        delivery = Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, archive=f"d-{order.pk}.zip")
        DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
        return order, image, version, delivery

    order_delivered, image_delivered, _, delivery_review = delivered_order("Delivered")
    billable, billable_image, billable_version, _ = delivered_order("Billable round")
    Client.objects.filter(pk=client.pk).update(free_revision_rounds=0)
    awaiting = RevisionRound.objects.create(order=billable, number=1, status=RoundStatus.AWAITING_CONFIRMATION,
                                            billable=True, requested_by=member)
    RevisionItem.objects.create(round=awaiting, image=billable_image, version=billable_version, note="Warmer gold")
    revising, revised_image, revised_version, failed = delivered_order("In revision")
    Order.objects.filter(pk=revising.pk).update(status=OrderStatus.REVISION)
    OrderImage.objects.filter(pk=revised_image.pk).update(status=ImageStatus.REVISION_REQUESTED)
    open_round = RevisionRound.objects.create(order=revising, number=1, status=RoundStatus.OPEN, requested_by=member)
    item = RevisionItem.objects.create(round=open_round, image=revised_image, version=revised_version, note="Polish")
    Annotation.objects.create(order=revising, image=revised_image, version=revised_version, width=2400, height=2400,
                              number=1, shape="point", x=1200, y=1200, text="Here", author=member, item=item)
    Delivery.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED, reason="could not be prepared")
    approved_order, approved_image, approved, _ = delivered_order("Approved")
    OrderImage.objects.filter(pk=approved_image.pk).update(status=ImageStatus.APPROVED)
    Version.objects.filter(pk=approved.pk).update(approved=True)
    final = Delivery.objects.create(order=approved_order, number=2, kind="final", status=DeliveryStatus.READY,
                                    archive=f"f-{approved_order.pk}.zip")
    DeliveryItem.objects.create(delivery=final, image=approved_image, version=approved)  # a version in two deliveries
    # the storefront: the approved picture's order may be shown (a candidate for the portfolio), and another
    # approved picture is shown, its web copies made
    shown_order, shown_image, shown_version, _ = delivered_order("Shown")
    OrderImage.objects.filter(pk=shown_image.pk).update(status=ImageStatus.APPROVED)
    portfolio = _portfolio(client, member, approved_order, shown_order, shown_image, shown_version)
    RevisionCharge.objects.create(round=awaiting, currency=client.currency, fee=MONEY_CANARY, items=1, amount=MONEY_CANARY)
    # the money lines of the order the retouchers work on, as quoting and invoicing leave them on its timeline
    from jobs.events import record_event
    from jobs.models import Audience

    for verb, text in (("quote.line_added", "Quote line added: Archive handling ({} EUR)"),
                       ("invoice.paid", "Payment of {} EUR on INV-2026-09999; paid in full")):
        record_event(order=production, actor=None, verb=verb, audience=Audience.MANAGERS,
                     message=text.format(MONEY_CANARY))
    return {"image_assigned": assigned, "version_multipart": multipart,
            "image_work": work, "version_in_qc": waiting, "version_uploading": uploading, "image_ready": ready,
            "order_delivered": order_delivered, "image_delivered": image_delivered, "round_awaiting": awaiting,
            "delivery_review": delivery_review,
            "revision_item": item, "delivery_failed": failed, "version_approved": approved,
            "image_approved": approved_image, **portfolio,
            **_marks(order_delivered, image_delivered, member)}


def _portfolio(client: Client, member: User, approved_order: Order, shown_order: Order, shown_image: OrderImage,
               shown_version: Version) -> dict[str, Any]:
    from storefront.models import PortfolioConsent, PortfolioPair, Rating

    for order in (approved_order, shown_order):
        PortfolioConsent.objects.create(client=client, order=order, given_by=member)
    # a published comment the studio may take off its page (order-rating-visibility rows)
    Rating.objects.create(order=shown_order, client=client, score=2, comment="Slow and rude", publish=True,
                          shown_name="A buyer", by=member)
    keys = [default_storage.save(f"portfolio/matrix-{client.pk.hex[:8]}/{side}.webp", ContentFile(b"RIFF"))
            for side in ("before", "after")]
    pair = PortfolioPair.objects.create(client=client, image=shown_image, version=shown_version, title="Matrix ring",
                                        service="colour", piece="ring", published=True, before=keys[0], after=keys[1],
                                        width=10, height=10, copies_at=timezone.now())
    return {"order_shown": shown_order, "pair": pair}


def _marks(order: Order, image: OrderImage, member: User) -> dict[str, Any]:
    """On the delivered order's version: the client member's open mark with their reply, a resolved mark,
    and QC's studio-only mark."""
    version = Version.objects.get(image=image)
    qc = User.objects.filter(role=Role.QC).order_by("date_joined").first()

    def mark(number: int, author: User, audience: str, **extra: Any) -> Annotation:
        return Annotation.objects.create(order=order, image=image, version=version, width=2400, height=2400,
                                         number=number, shape="point", x=100 * number, y=100, text=f"Mark {number}",
                                         audience=audience, author=author, **extra)

    open_mark = mark(1, member, "client")
    reply = AnnotationReply.objects.create(annotation=open_mark, author=member, text="And the prong", audience="client")
    return {"mark": open_mark, "mark_reply": reply,
            "mark_resolved": mark(2, member, "client", resolved_at=timezone.now(), resolved_by=member),
            "mark_studio": mark(3, qc, "studio")}


def _tiles(objects: dict[str, Any]) -> None:
    """Deep-zoom pyramids of the received original and of the delivered versions (a small picture's: the
    matrix is about who reaches them; tests/jobs/test_tiles.py cuts real files)."""
    import tempfile
    from pathlib import Path

    import pyvips

    from jobs.imaging.tiles import pack
    from jobs.intake import tiles, uploads
    from jobs.production.versions import VERSION_FILES

    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / "pyramid.pack"
        pyramid = pack(pyvips.Image.black(640, 480, bands=3) + 128, local).as_dict()
        tiles._keep(uploads.ORIGINALS, objects["image"], local, pyramid, watermarked=False)
        for name in ("version_approved", "version_held"):
            tiles._keep(VERSION_FILES, objects[name], local, pyramid, watermarked=False)


@dataclass
class World:
    cast: Cast
    own: dict[str, Any]
    foreign: dict[str, Any]


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Any:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            cast = build_cast()
            shared = {"service": Service.objects.get(code="colour-correction"), "price_list": default_price_list(),
                      "retoucher": cast.retoucher}
            shared["service"].skilled_staff.add(cast.retoucher)
            shared["trial"] = TrialRequest.objects.create(
                company="Maison Opale", contact_name="Inès Laurent", email="ines@opale.test", country="FR",
                pictures=5, services=["colour-correction"])  # a prospect's request: the studio's managers answer it
            from tests.billing.invoicing_setup import billing_profile

            billing_profile()
            shared["export"] = Export.objects.create(
                format="csv", date_from=date(2026, 1, 1), date_to=date(2026, 1, 31), created_by=cast.finance,
                status=ExportStatus.READY, file=default_storage.save("exports/matrix/invoices.csv", ContentFile(b"a,b\n")))
            own = {**_tenant(cast, cast.acme, cast.acme_guide, cast.acme_member, cast.account_manager, cast.retoucher),
                   **shared}
            # Tenant B's work goes to a retoucher of its own: neither persona retoucher works on it.
            globex_retoucher = UserFactory(role=Role.RETOUCHER, full_name="Gil Globex-work")
            foreign = {**_tenant(cast, cast.globex, cast.globex_guide, cast.globex_member, cast.account_manager,
                                 globex_retoucher), **shared}
            Assignment.objects.create(image=own["image"], retoucher=cast.retoucher, minutes=30)
            for objects in (own, foreign):
                _tiles(objects)
        except BaseException:
            outer.__exit__(*sys.exc_info())
            raise
    yield World(cast, own, foreign)
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


def _resolve(value: Any, objects: dict[str, Any], variant: str, persona: User | None) -> Any:
    if isinstance(value, list):
        return [_resolve(v, objects, variant, persona) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, objects, variant, persona) for k, v in value.items()}
    if value == "$self":
        return persona.email if persona else "nobody@example.test"
    if value == "$password":
        return PASSWORD
    if value == "$totp":  # the code an authenticator shows now for the setup's secret (``prepare: two_factor_secret``)
        from django_otp.oath import TOTP

        return f"{TOTP(bytes.fromhex(MATRIX_SECRET)).token():06d}"
    if value == "$upload_token":  # a genuine upload URL's token for a key of its own (PUT_BODY's size)
        from django.core import signing

        from agency.uploads import LocalBackend

        key = f"clients/{objects['client'].pk}/pending/matrix-put.bin"
        return signing.dumps({"k": key, "n": 0, "s": len(PUT_BODY)}, salt=LocalBackend.UPLOAD_SALT, compress=True)
    if value == "$sample":  # a sample photo for the storefront's estimate (sent multipart)
        from django.core.files.uploadedfile import SimpleUploadedFile

        return SimpleUploadedFile("sample.jpg", _sample_jpeg(), content_type="image/jpeg")
    if isinstance(value, str) and value in OBJECT_NAMES:
        return str(uuid.uuid4()) if variant == "missing" else str(objects[value].pk)
    return value


def _sample_jpeg() -> bytes:
    import io

    from jobs.imaging import difficulty

    out = io.BytesIO()
    difficulty.picture(difficulty.Levels(1, 1, 1, 1), seed=3).save(out, "JPEG", quality=85)
    return out.getvalue()


def _key(key: str, objects: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(objects[m.group(1)].pk), key)


def _watched(spec: dict[str, Any], objects: dict[str, Any]) -> Any:
    watch = spec.get("watch")
    if watch is None:
        watch = next((v for v in spec.get("args", {}).values() if v in OBJECT_NAMES), "none")
    if watch == "none":
        return None
    if watch.startswith("count:"):
        return apps.get_model(watch.removeprefix("count:")).objects.count()
    target = objects[watch]
    return type(target).objects.filter(pk=target.pk).values().first()


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def _prepare(steps: list[str], objects: dict[str, Any], client: Any) -> None:
    """What a cell needs outside the database (which each cell's savepoint rolls back) before its request:
    ``bytes:<object>`` puts the declared bytes where the object's upload lands; ``two_factor_secret``
    starts a second-factor setup in the persona's session with a known secret."""
    for step in steps:
        if step.startswith("bytes:"):
            from agency.uploads import get_backend

            row = objects[step.removeprefix("bytes:")]
            path = get_backend().path(row.upload_key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * row.declared_size)
        elif step.startswith("fresh:"):  # written a moment ago: inside its author's edit window
            row = objects[step.removeprefix("fresh:")]
            type(row).objects.filter(pk=row.pk).update(created_at=timezone.now())
        elif step == "two_factor_secret":
            from agency.views import SETUP_KEY

            session = client.session
            session[SETUP_KEY] = MATRIX_SECRET
            session.save()
        else:
            raise AssertionError(f"unknown prepare step {step}")


def _body_of(response: Any) -> str:
    data = b"".join(response.streaming_content) if response.streaming else response.content
    return data.decode(errors="replace")


@pytest.mark.django_db
@pytest.mark.parametrize("surface,name,spec,persona,index,variant", _cells())
def test_authorization_matrix(world, surface, name, spec, persona, index, variant):
    requester = world.cast.personas()[persona]
    user = User.objects.get(pk=requester.pk) if requester else None
    objects = world.foreign if variant == "foreign" else world.own
    url = reverse(name, kwargs={k: _resolve(v, objects, variant, user) for k, v in spec.get("args", {}).items()})
    url += spec.get("query", "")
    # Bodies reference tenant A's objects whatever the URL points at.
    body = {_key(k, world.own): _resolve(v, world.own, "own", user) for k, v in spec.get("body", {}).items()}
    expected = spec["expect"][index]
    if variant in {"missing", "foreign"} and user is not None:
        expected = 404
    write = spec["method"] in WRITES
    client = api_for(user) if surface == "api" else web_for(user)
    if user is not None:
        _prepare(spec.get("prepare", []), objects, client)
    if write:
        before, counts = _watched(spec, objects), _counts()
    method = spec["method"].lower()
    if surface == "api" and method == "put" and not body:
        response = client.put(url, PUT_BODY, content_type="application/octet-stream")
    elif surface == "api" and method in {"post", "patch", "put"}:
        response = getattr(client, method)(url, body, format="multipart" if "$sample" in str(spec.get("body")) else "json")
    elif method in {"post", "patch"}:
        response = getattr(client, method)(url, body)
    else:
        response = getattr(client, method)(url)
    assert response.status_code == expected, (
        f"{spec['method']} {url} as {persona} ({variant}): {response.status_code} != {expected}\n"
        f"{response.content[:300]!r}"
    )
    if surface == "api" and response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert json.loads(response.content)["status"] == response.status_code
    if spec["method"] == "GET" and persona in CANARY_BLIND | MONEY_BLIND:
        text = _body_of(response)
        if persona in CANARY_BLIND:
            assert CANARY not in text, f"GET {url} as {persona} reads another tenant's canary"
        if persona in MONEY_BLIND:
            assert not any(money in text for money in MONEY_SPELLINGS), f"GET {url} as {persona} reads an amount"
    if not write or spec.get("watch") == "none":
        return
    after = _watched(spec, objects)
    # an anonymous answer below 400 is a redirect to sign in, except on a route public by design (`public: true`)
    if (user is not None or spec.get("public")) and response.status_code < 400:
        assert after != before, f"{spec['method']} {url} as {persona} answered {response.status_code} but changed nothing"
    else:
        assert after == before, f"a refused {spec['method']} {url} as {persona} changed the object"
        assert _counts() == counts, f"a refused {spec['method']} {url} as {persona} wrote rows"


@pytest.mark.django_db
def test_a_guest_reaches_nothing_beyond_their_link(world):
    """The guest persona: a browser that opened a personal review link to tenant A's delivery and confirmed its
    name is nobody everywhere else. Every row of the matrix answers it exactly as it answers the anonymous
    visitor (the sign-in page, 401), and nothing it sends changes a row."""
    from django.test import Client as HttpClient

    token = "matrix-guest-token"
    ShareLink.objects.create(delivery=world.own["delivery"], email="gus@agency.test", digest=shares.digest(token),
                             prefix="matrixgu", expires_at=timezone.now() + timedelta(days=14), downloads="finals",
                             can_decide=True)
    guest = HttpClient()
    assert guest.post(shares.link_path(token), {"name": "Gus Guest"}).status_code == 302
    assert guest.get(shares.link_path(token)).status_code == 200
    counts = _counts()
    checked = 0
    for surface in ("api", "pages"):
        for name, specs in MATRIX[surface].items():
            for spec in specs:
                if spec.get("public"):  # public by design: a guest is a visitor like any other (the anon column)
                    continue
                url = reverse(name, kwargs={k: _resolve(v, world.own, "own", None) for k, v in spec.get("args", {}).items()})
                url += spec.get("query", "")
                body = {_key(k, world.own): _resolve(v, world.own, "own", None) for k, v in spec.get("body", {}).items()}
                method = spec["method"].lower()
                if surface == "api" and method in {"post", "patch", "put"}:
                    response = getattr(guest, method)(url, json.dumps(body) if body else PUT_BODY,
                                                      content_type="application/json")
                elif method in {"post", "patch"}:
                    response = getattr(guest, method)(url, body)
                else:
                    response = getattr(guest, method)(url)
                assert response.status_code == spec["expect"][0], (
                    f"{spec['method']} {url} as a guest: {response.status_code}, nobody gets {spec['expect'][0]}")
                checked += 1
    assert _counts() == counts
    assert checked > 250  # every row of the matrix (261 on 7 December)


def _route_names(patterns: list[Any], namespace: str = "") -> set[str]:
    names: set[str] = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            if entry.namespace == "admin":
                names.add("admin")
                continue
            names |= _route_names(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            if entry.name is None:
                names.add(f"<unnamed {entry.pattern}>")
            else:
                names.add(f"{namespace}{entry.name}")
    return names


def test_every_route_is_in_the_matrix():
    """A2: a new route without matrix rows (or an explicit exemption) fails here."""
    covered = set(MATRIX["api"]) | set(MATRIX["pages"]) | set(MATRIX["exempt"])
    missing = sorted(_route_names(get_resolver().url_patterns) - covered)
    assert missing == [], f"routes missing from tests/security/authz_matrix.yaml: {missing}"


def test_every_exemption_names_an_existing_test():
    for route, reason in MATRIX["exempt"].items():
        named = [word.strip("(),;") for word in str(reason).split() if "tests/" in word]
        for path in named:
            assert Path(path).exists(), f"{route}: {path} does not exist"


def test_every_write_row_sends_a_body_or_needs_none():
    """A POST/PATCH whose view reads a body must send a real one (refusals then test the rule, not
    the validation): rows without a body are listed here with the reason none is needed."""
    bodiless = {"order-submit", "order-resume", "image-complete", "quote-accept", "image-detail", "order-deliveries",
                "order-quote", "quote-line-detail", "order-schedule", "local-upload", "logout",
                "clients:member_remove", "jobs:order_transition", "jobs:image_remove", "jobs:delivery_create",
                "billing:quote_draft", "billing:quote_answer", "jobs:order_schedule", "image-start", "version-complete",
                "delivery-retry", "version-reference", "jobs:image_start", "jobs:delivery_retry", "jobs:version_reference",
                "notifications", "order-remove-rejected", "jobs:order_remove_rejected", "invoice-issue",
                "billing:invoice_issue_drafts", "token_revoke", "clients:member_resend", "member-resend",
                "member-detail", "webhook-ping", "webhook-rotate-secret", "annotation-resolve", "annotation-reopen",
                "member-erase", "clients:member_erase", "jobs:company_exports", "jobs:delivery_shares_revoke",
                "jobs:share_revoke", "order-portfolio-consent", "trial-accept"}
    for surface in ("api", "pages"):
        for name, specs in MATRIX[surface].items():
            for spec in specs:
                if spec["method"] in {"POST", "PATCH", "PUT"} and "body" not in spec:
                    assert name in bodiless, f"{name} {spec['method']} sends no body"


NUMBERED = {"level": "97", "col": "98765", "row": "98764"}


@pytest.mark.django_db
def test_every_schema_operation_is_in_the_matrix(world):
    schema = api_for(world.cast.admin).get("/api/v1/schema/?format=json")
    operations = yaml.safe_load(schema.content)["paths"]
    covered = set()
    for name, specs in MATRIX["api"].items():
        for spec in specs:
            # numbers in a path (a tile's level, column and row) stand for themselves in the schema
            args = {k: NUMBERED.get(k, "00000000-0000-0000-0000-000000000000") for k in spec.get("args", {}) if k != "path"}
            if name == "api-not-found":
                continue
            path = reverse(name, kwargs=args).replace("00000000-0000-0000-0000-000000000000", "{id}")
            for key, number in NUMBERED.items():
                path = path.replace(number, f"{{{key}}}")
            covered.add((path.replace("{id}", "{pk}"), spec["method"].lower()))
    for path, methods in operations.items():
        for method in methods:
            if method in {"get", "post", "patch", "put", "delete"}:
                key = (path.replace("{id}", "{pk}"), method)
                assert key in covered or (path, method) == ("/api/v1/auth/token/", "delete"), key


def test_every_write_route_has_a_row_where_someone_succeeds():
    """A write route whose rows refuse everyone proves only refusals: each one also has a row with an
    object in the right state where a persona succeeds (an answer below 400 that changed the object)."""
    without = []
    for surface in ("api", "pages"):
        for name, specs in MATRIX[surface].items():
            writes = [spec for spec in specs if spec["method"] in WRITES]
            if writes and not any(code < 400 for spec in writes for code in spec["expect"][1:]):
                without.append(f"{surface} {name}")
    assert without == []

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory

from agency.models import Role, StaffProfile, User
from billing.models import PriceList, PriceRule
from clients.models import Client, Membership, StyleGuide
from jobs.models import ImageStatus, Order, OrderImage, OrderStatus, Service

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    role = Role.ACCOUNT_MANAGER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    # A real company starts new style guides with a pilot of 5 (the model's default); a test opts in
    # (tests/jobs/test_pilots.py), so the rest test what they name with every picture in production.
    pilot_size = 0


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory, role=Role.CLIENT_MEMBER)
    client = factory.SubFactory(ClientFactory)


class StyleGuideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StyleGuide

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Guide {n}")
    output_formats = ["JPEG"]


def ensure_service_catalog() -> None:
    """Transactional tests flush every table, the catalog of the data migration included: put it back."""
    import importlib

    from django.apps import apps

    if not Service.objects.exists():
        importlib.import_module("jobs.migrations.0002_service_catalog").add_catalog(apps, None)


def client_user(client: Client, role: str = Role.CLIENT_MEMBER, **kwargs) -> User:
    user = UserFactory(role=role, **kwargs)
    Membership.objects.create(user=user, client=client)
    return user


def make_order(client: Client, *, by: User | None = None, status: str = OrderStatus.DRAFT, title: str = "Rings",
               guide: StyleGuide | None = None) -> Order:
    """A draft through the real service, then moved to ``status`` directly (for state-table tests)."""
    from jobs.services import order_create

    by = by or UserFactory(role=Role.ACCOUNT_MANAGER)
    guide = guide or StyleGuide.objects.filter(client=client, is_current=True).first() or StyleGuideFactory(client=client)
    order = order_create(client=client, created_by=by, title=title, style_guide=guide,
                         services=Service.objects.filter(code="colour-correction"), turnaround="standard")
    if status != OrderStatus.DRAFT:
        held_from = OrderStatus.SUBMITTED if status == OrderStatus.ON_HOLD else ""
        Order.objects.filter(pk=order.pk).update(status=status, held_from=held_from)
        order.refresh_from_db()
    return order


# Pricing, quoting and scheduling set-up.
PRICES = {"simple": Decimal("2.00"), "standard": Decimal("3.50"), "complex": Decimal("6.25")}


def default_price_list(**overrides: Any) -> PriceList:
    price_list = PriceList.objects.create(
        name="Studio prices", currency="EUR", minimum_order=Decimal("25.00"),
        volume_tiers=[{"min_images": 50, "percent": "10"}, {"min_images": 200, "percent": "15"}], **overrides)
    PriceRule.objects.bulk_create([PriceRule(price_list=price_list, service=s, complexity=c, unit_price=p)
                                   for s in Service.objects.all() for c, p in PRICES.items()])
    return price_list


def add_images(order: Order, counts: dict[str, int], status: str = ImageStatus.RECEIVED) -> list[OrderImage]:
    images = []
    position = order.images.count()
    for complexity, count in counts.items():
        for _ in range(count):
            position += 1
            images.append(OrderImage(order=order, filename=f"IMG_{position:04d}.jpg", status=status,
                                     complexity=complexity, position=position, width=4000, height=3000))
    return OrderImage.objects.bulk_create(images)


def submitted_order(order: Order, counts: dict[str, int]) -> Order:
    add_images(order, counts)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SUBMITTED)
    order.refresh_from_db()
    return order


def retoucher(name: str, codes: list[str], capacity: int = 420, days: list[int] | None = None) -> Any:
    user = UserFactory(role=Role.RETOUCHER, full_name=name)
    StaffProfile.objects.create(user=user, daily_capacity_minutes=capacity, working_days=days or [0, 1, 2, 3, 4])
    for service in Service.objects.filter(code__in=codes):
        service.skilled_staff.add(user)
    return user


def sign_in_with_second_factor(web: Any, user: User) -> Any:
    """Sign ``web`` (a Django test client) in as ``user`` with a confirmed authenticator, as the two
    sign-in steps would (Django admin and the staff requirement need it). Returns the device."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=True)
    web.force_login(user)
    session = web.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def delivered_with_previews(client: Client, title: str, count: int = 2) -> Any:
    """A delivered order of ``client`` and its delivery 1 (returned): ``count`` images named after ``title``'s
    first word, each with a stored preview, a passed 2400 px version with its own stored preview, published."""
    import io

    from PIL import Image

    from jobs.intake import ingest
    from jobs.models import Delivery, DeliveryItem, DeliveryStatus, Version, VersionStatus

    def webp(key: str) -> str:
        picture = io.BytesIO()
        Image.new("RGB", (60, 40), (200, 180, 120)).save(picture, "WEBP")
        return ingest.store(key, picture.getvalue())

    order = make_order(client, status=OrderStatus.DELIVERED, title=title)
    images = add_images(order, {"standard": count}, status=ImageStatus.DELIVERED)
    delivery = Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, archive="d.zip")
    for n, image in enumerate(images, start=1):
        base = f"clients/{client.pk}/orders/{order.pk}/{image.pk}"
        OrderImage.objects.filter(pk=image.pk).update(filename=f"{title.split()[0]}-{n}.jpg",
                                                      preview=webp(f"{base}/preview.webp"))
        version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file=f"{base}/v1.png",
                                         preview=webp(f"{base}/versions/v1/preview.webp"), width=2400, height=2400)
        DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    return delivery


def give_tiles(item: Any) -> None:
    """Give a delivery item's version a real 1200 x 800 master and its deep-zoom pyramid."""
    import io

    from PIL import Image

    from jobs.intake import ingest, tiles
    from jobs.models import Version
    from jobs.production.versions import VERSION_FILES

    master = io.BytesIO()
    Image.new("RGB", (1200, 800), (180, 150, 90)).save(master, "PNG")
    key = ingest.store(f"{item.version.preview.name.rsplit('/', 1)[0]}/file.png", master.getvalue())
    Version.objects.filter(pk=item.version_id).update(file=key, width=1200, height=800)
    assert tiles.make_tiles(VERSION_FILES, item.version_id) == "made"

from __future__ import annotations

import factory

from agency.models import Role, User
from clients.models import Client, Membership, StyleGuide
from jobs.models import Order, OrderStatus, Service

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

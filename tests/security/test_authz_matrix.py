"""A1 (authorization matrix) and A2 (route-coverage gate) of SECURITY.md."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.services import quote_draft, quote_send
from jobs.models import Assignment, Delivery, DeliveryStatus, OrderImage, OrderStatus, Service
from tests.billing_fixtures import default_price_list, submitted_order
from tests.conftest import api_for, web_for
from tests.factories import make_order

MATRIX = yaml.safe_load((Path(__file__).parent / "authz_matrix.yaml").read_text())
PERSONAS = ["anon", "client_admin_A", "client_member_A", "client_member_B", "account_manager",
            "retoucher_assigned", "retoucher_other", "qc", "finance", "admin"]
OBJECT_NAMES = {"order", "order_submitted", "order_on_hold", "client", "guide", "service", "image", "image_uploading",
                "delivery", "membership", "order_quoted", "quote", "quote_line", "price_list", "retoucher"}


def _cells() -> list[Any]:
    cells = []
    for surface in ("api", "pages"):
        for name, specs in MATRIX[surface].items():
            for spec in specs:
                has_object = any(v in OBJECT_NAMES for v in spec.get("args", {}).values())
                for index, persona in enumerate(PERSONAS):
                    variants = ["own", "missing"] if has_object else ["own"]
                    for variant in variants:
                        cells.append(pytest.param(surface, name, spec, persona, index, variant,
                                                  id=f"{name}-{spec['method']}-{persona}-{variant}"))
    return cells


class _Objects(dict):
    """Objects made on first use: most cells need one or two of them."""

    def __init__(self, cast: Any, image: OrderImage) -> None:
        super().__init__()
        self.cast, self.image = cast, image
        Assignment.objects.create(image=image, retoucher=cast.retoucher, minutes=30)  # retoucher_assigned's work

    def __missing__(self, name: str) -> Any:
        cast = self.cast
        if name == "order_submitted":
            value = make_order(cast.acme, status=OrderStatus.SUBMITTED, title="Submitted")
        elif name == "order_quoted" or name in ("quote", "quote_line"):
            self["price_list"]  # noqa: B018 - quoting needs the default price list
            quoted = submitted_order(make_order(cast.acme, title="Quoted"), {"standard": 2})
            quote = quote_draft(order=quoted, by=cast.account_manager)
            quote_send(quote=quote, by=cast.account_manager)
            self.update(order_quoted=quoted, quote=quote, quote_line=quote.lines.first())
            return self[name]
        else:
            value = {
                "order": lambda: cast.acme_order, "client": lambda: cast.acme, "guide": lambda: cast.acme_guide,
                "service": lambda: Service.objects.first(), "image": lambda: self.image,
                "order_on_hold": lambda: make_order(cast.acme, status=OrderStatus.ON_HOLD, title="Held"),
                "image_uploading": lambda: OrderImage.objects.create(
                    order=self["order_submitted"], filename="late.jpg", declared_size=10,
                    upload_key=f"clients/{cast.acme.pk}/pending/late.jpg"),
                "membership": lambda: cast.acme_member.membership,
                "delivery": lambda: Delivery.objects.create(
                    order=cast.acme_order, number=1, status=DeliveryStatus.READY,
                    archive=f"clients/{cast.acme.pk}/orders/{cast.acme_order.pk}/d.zip"),
                "price_list": default_price_list, "retoucher": lambda: cast.retoucher,
            }[name]()
        self[name] = value
        return value


def _resolve(value: Any, objects: dict[str, Any], variant: str) -> Any:
    if isinstance(value, list):
        return [_resolve(v, objects, variant) for v in value]
    if isinstance(value, str) and value in OBJECT_NAMES:
        return str(uuid.uuid4()) if variant == "missing" else str(objects[value].pk)
    return value


@pytest.mark.django_db
@pytest.mark.parametrize("surface,name,spec,persona,index,variant", _cells())
def test_authorization_matrix(cast, acme_image, surface, name, spec, persona, index, variant):
    objects = _Objects(cast, acme_image)
    user = cast.personas()[persona]
    url = reverse(name, kwargs={k: _resolve(v, objects, variant) for k, v in spec.get("args", {}).items()})
    # Bodies reference objects as they are, even for the "missing" variant of the URL.
    body = {k: _resolve(v, objects, "own") for k, v in spec.get("body", {}).items()}
    expected = spec["expect"][index]
    if variant == "missing" and user is not None:
        expected = 404
    client = api_for(user) if surface == "api" else web_for(user)
    method = spec["method"].lower()
    if surface == "api" and method in {"post", "patch", "put"}:
        response = getattr(client, method)(url, body, format="json")
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


def test_every_schema_operation_is_in_the_matrix(cast, api):
    schema = api(cast.admin).get("/api/v1/schema/?format=json")
    operations = yaml.safe_load(schema.content)["paths"]
    covered = set()
    for name, specs in MATRIX["api"].items():
        for spec in specs:
            args = {k: "00000000-0000-0000-0000-000000000000" for k in spec.get("args", {})}
            path = reverse(name, kwargs=args).replace("00000000-0000-0000-0000-000000000000", "{id}")
            covered.add((path.replace("{id}", "{pk}"), spec["method"].lower()))
    for path, methods in operations.items():
        for method in methods:
            if method in {"get", "post", "patch", "put", "delete"}:
                key = (path.replace("{id}", "{pk}"), method)
                assert key in covered or (path, method) == ("/api/v1/auth/token/", "delete"), key

"""SECURITY.md A6: schemathesis drives every operation of ``/api/v1/schema/`` in process, as a client admin
and as an account manager, with generated valid and invalid input: no 5xx, and every answer (status,
content type, body) is one the schema declares. The schema is loaded through the API itself, as a
client generator would (issue 10)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agency.models import ApiToken
from tests.conftest import build_cast, received_image

pytestmark = pytest.mark.django_db
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def world() -> dict[str, Any]:
    cast = build_cast()
    received_image(cast.acme_order)
    return {"client_admin": cast.acme_admin, "manager": cast.account_manager}


@pytest.fixture
def api_schema(world: dict[str, Any]) -> Iterator[Any]:
    # In process, inside the test's transaction: as Django's test client does, the request signals must not
    # close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application(),
                                             headers={"Authorization": f"Token {ApiToken.issue(world['manager'])[1]}"})
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


SETTINGS = settings(max_examples=6, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _checker(operation: Any, token: str, answered: Counter) -> Any:
    @SETTINGS
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Token {token}"})
        answered[response.status_code // 100] += 1
        answered[(operation.label, response.status_code < 300)] += 1
        case.validate_response(response, checks=CHECKS)

    return check


def _every_operation(api_schema: Any, person: Any) -> None:
    """Each operation with generated cases, with a fresh token (one operation revokes the token it is
    called with); failures are collected so one run names them all, and enough answers must be
    successes for the run to mean something."""
    failures, answered = [], Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            _checker(operation, ApiToken.issue(person)[1], answered)()
        except Exception as exc:  # noqa: BLE001 - every operation's failure is reported together
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
    succeeded = {key[0] for key, count in answered.items() if isinstance(key, tuple) and key[1] and count}
    assert len(succeeded) >= 15 and answered[2] >= 40, (sorted(succeeded), answered[2])


def test_every_operation_answers_as_documented_to_a_client_admin(api_schema: Any, world: dict[str, Any]) -> None:
    _every_operation(api_schema, world["client_admin"])


def test_every_operation_answers_as_documented_to_a_manager(api_schema: Any, world: dict[str, Any]) -> None:
    _every_operation(api_schema, world["manager"])

"""What the tests of the jobs app share."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client as HttpClient

from jobs.models import OrderImage
from tests.conftest import Cast, api_for
from tests.uploading import upload


@pytest.fixture
def send(cast: Cast, django_capture_on_commit_callbacks) -> Callable[[str, bytes], OrderImage]:
    """Upload a file to Acme's draft as its client would, and run what its commit queues (processing,
    then the deep-zoom tiles); returns the image row as the worker left it."""
    api, web = api_for(cast.acme_member), HttpClient()

    def run(name: str, data: bytes) -> OrderImage:
        with django_capture_on_commit_callbacks(execute=True):
            result = upload(api, web, cast.acme_order, name, data)
        return OrderImage.objects.get(pk=result["id"])

    return run

"""A Python client generated from ``/api/v1/schema/`` by openapi-python-client (as an integrator would
make one) lists orders and drives one from creation to submission against a live server: the schema
is exact enough for generated code to work (issue 10)."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from agency.models import ApiToken
from jobs.models import Order, OrderStatus
from tests.conftest import api_for

pytestmark = pytest.mark.django_db(transaction=True)

# The PDF and UBL downloads are files: generated as bytes.
CONFIG = """project_name_override: loupe-client
package_name_override: loupe_client
post_hooks: []
content_type_overrides:
  application/pdf: application/octet-stream
  application/xml: application/octet-stream
"""


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (212, 175, 55)).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def loupe_client(cast, tmp_path, monkeypatch):
    schema = api_for(cast.account_manager).get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_text(json.dumps(schema.json()))
    (tmp_path / "config.yml").write_text(CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run([str(generator), "generate", "--path", "schema.json", "--output-path", "out",
                             "--config", "config.yml", "--meta", "none"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout, result.stdout  # every operation and answer was understood
    (tmp_path / "out").rename(tmp_path / "loupe_client")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "loupe_client" or m.startswith("loupe_client.")]:
        del sys.modules[name]
    return importlib.import_module("loupe_client")


def test_a_generated_client_lists_and_submits_an_order(cast, live_server, loupe_client):
    from loupe_client import AuthenticatedClient
    from loupe_client.api.images import images_complete_create
    from loupe_client.api.orders import orders_create, orders_list, orders_retrieve, orders_submit_create, orders_uploads_create
    from loupe_client.models import OrderInputRequest, TurnaroundEnum, UploadFileRequest, UploadsInputRequest

    client = AuthenticatedClient(base_url=live_server.url, token=ApiToken.issue(cast.acme_member)[1], prefix="Token")
    listed = orders_list.sync(client=client)
    assert [o.number for o in listed.results] == [cast.acme_order.number]
    assert listed.results[0].held_from is None

    created = orders_create.sync(client=client, idempotency_key="gen-1", body=OrderInputRequest(
        title="Generated client order", style_guide=cast.acme_guide.pk, services=["colour-correction"],
        turnaround=TurnaroundEnum.STANDARD))
    assert created.status.value == "draft" and created.client.name == "Acme Jewels"

    data = _jpeg()
    declared = orders_uploads_create.sync(id=created.id, client=client, body=UploadsInputRequest(files=[UploadFileRequest(
        name="ring.jpg", size=len(data), content_type="image/jpeg", sha256=hashlib.sha256(data).hexdigest())]))
    entry = declared.images[0]
    target = entry.upload
    url = target.url if target.url.startswith("http") else f"{live_server.url}{target.url}"
    put = requests.put(url, data=data, headers=target.headers.additional_properties, timeout=60)
    assert put.status_code == 200, put.text
    completed = images_complete_create.sync_detailed(id=entry.image.id, client=client)
    assert completed.status_code in (200, 202), completed.content

    submitted = orders_submit_create.sync(id=created.id, client=client)
    assert submitted.status.value == "submitted", submitted
    assert orders_retrieve.sync(id=created.id, client=client).status.value == "submitted"
    assert Order.objects.get(pk=created.id).status == OrderStatus.SUBMITTED

    refused = orders_submit_create.sync_detailed(id=created.id, client=client)  # twice: a documented problem
    assert refused.status_code == 409 and refused.parsed.detail

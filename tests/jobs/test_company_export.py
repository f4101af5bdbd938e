"""Everything of a company as one archive (issue 24): a client admin asks, the worker builds it as that person
sees the company (orders, images' details and checksums, the timeline, messages, marks with replies, invoices as
PDF and UBL, a checksummed list of the files with their download links), and it is downloaded for
``KEEP_DAYS`` days. Studio-only marks, internal notes, drafts and other companies never enter it; one archive is
made at a time; who may not export is refused and nothing changes."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client as HttpClient
from django.utils import timezone

from agency.models import SecurityEvent
from billing import invoicing
from jobs.models import Annotation, AnnotationReply, CompanyExport, ImageStatus, Message, image_prefix
from tests.billing.invoicing_setup import address, billing_profile, completed_order, issued_invoice
from tests.conftest import api_for
from tests.factories import add_images, default_price_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_history(cast):
    """An issued invoice and a draft, a received original with a client mark (a reply) and QC's studio-only mark,
    a message and an internal note; Globex's own order."""
    default_price_list()
    billing_profile()
    address(cast.acme)
    invoice = issued_invoice(cast.acme, cast)
    [draft] = invoicing.invoice_generate(by=cast.finance, order=completed_order(cast.acme, cast.account_manager,
                                                                                  title="Not billed yet"))
    order = cast.acme_order
    [image] = add_images(order, {"standard": 1}, status=ImageStatus.RECEIVED)
    image.original = default_storage.save(f"{image_prefix(image)}/original.jpg", ContentFile(b"ring"))
    image.sha256, image.size_bytes = "ab" * 32, 4
    image.save()
    point = {"type": "FragmentSelector", "value": "xywh=pixel:10,10,0,0"}
    mark = Annotation.objects.create(order=order, image=image, number=1, shape="point", selector=point, x=10, y=10,
                                     w=0, h=0, text="Dust on the prong", author=cast.acme_member, audience="client",
                                     width=4000, height=3000)
    AnnotationReply.objects.create(annotation=mark, author=cast.account_manager, audience="client", text="Fixed in v2")
    Annotation.objects.create(order=order, image=image, number=2, shape="point", selector=point, x=10, y=10, w=0, h=0,
                              text="QC-ONLY note on the shank", author=cast.qc, audience="studio", width=4000,
                              height=3000)
    Message.objects.create(order=order, author=cast.acme_member, body="Please keep the hallmark sharp.")
    Message.objects.create(order=order, author=cast.account_manager, body="INTERNAL margin talk", internal=True)
    return invoice, draft, image


def _build(user, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        answer = api_for(user).post("/api/v1/company-exports/", body, format="json")
    return answer


def _archive(export: CompanyExport) -> zipfile.ZipFile:
    with default_storage.open(export.archive, "rb") as stored:
        return zipfile.ZipFile(io.BytesIO(stored.read()))


def test_a_client_admin_gets_everything_of_the_company_and_nothing_else(cast, acme_history,
                                                                        django_capture_on_commit_callbacks):
    invoice, draft, image = acme_history
    answer = _build(cast.acme_admin, django_capture_on_commit_callbacks)
    assert answer.status_code == 201 and answer.json()["status"] == "building"
    body = api_for(cast.acme_admin).get(f"/api/v1/company-exports/{answer.json()['id']}/").json()
    assert body["status"] == "ready" and body["counts"]["invoices"] == 1 and body["counts"]["marks"] == 1
    export = CompanyExport.objects.get(pk=body["id"])
    archive = _archive(export)
    names = set(archive.namelist())
    assert {"orders.json", "files.csv", f"invoices/{invoice.number}.pdf", f"invoices/{invoice.number}.xml"} <= names
    assert archive.read(f"invoices/{invoice.number}.pdf").startswith(b"%PDF")
    assert b"<cbc:ID>" + invoice.number.encode() in archive.read(f"invoices/{invoice.number}.xml")
    assert not any("draft" in n for n in names) and len([n for n in names if n.startswith("invoices/")]) == 2
    text = archive.read("orders.json").decode()
    orders = json.loads(text)["orders"]
    assert cast.acme_order.number in {o["number"] for o in orders}
    [ours] = [o for o in orders if o["number"] == cast.acme_order.number]
    [shown] = ours["images"]
    assert shown["sha256"] == "ab" * 32 and shown["marks"][0]["text"] == "Dust on the prong"
    assert shown["marks"][0]["replies"][0]["text"] == "Fixed in v2"
    assert [m["text"] for m in ours["messages"]] == ["Please keep the hallmark sharp."]
    for secret in ("CANARY-B", "QC-ONLY", "INTERNAL margin", cast.globex_order.number):
        assert secret not in text
    rows = list(csv.DictReader(io.StringIO(archive.read("files.csv").decode())))
    [row] = rows
    link = row.pop("download")
    assert row == {"order": cast.acme_order.number, "file": image.filename, "what": "original", "size_bytes": "4",
                   "sha256": "ab" * 32}
    assert link.endswith(f"/api/v1/images/{image.pk}/download/?what=original")
    assert api_for(cast.acme_admin).get(f"/api/v1/company-exports/{export.pk}/download/").status_code == 302
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DATA_EXPORTED, company_id=cast.acme.pk).count() == 1


def test_one_archive_is_made_at_a_time(cast, acme_history):
    first = api_for(cast.acme_admin).post("/api/v1/company-exports/", {}, format="json")  # not built: no commit
    assert first.status_code == 201
    again = api_for(cast.account_manager).post("/api/v1/company-exports/", {"client": str(cast.acme.pk)},
                                               format="json")
    assert again.status_code == 409 and "being made already" in again.json()["detail"]
    assert CompanyExport.objects.filter(client=cast.acme).count() == 1
    early = api_for(cast.acme_admin).get(f"/api/v1/company-exports/{first.json()['id']}/download/")
    assert early.status_code == 409 and "still being made" in early.json()["detail"]


@pytest.mark.parametrize("who, code", [("acme_member", 403), ("finance", 403), ("globex_admin", 400)])
def test_who_may_not_export_is_refused_and_nothing_is_made(cast, who, code):
    answer = api_for(getattr(cast, who)).post("/api/v1/company-exports/", {"client": str(cast.acme.pk)},
                                              format="json")
    assert answer.status_code == code and not CompanyExport.objects.exists()


def test_an_archive_of_someone_who_left_is_not_made_and_an_old_one_is_not_handed_out(
        cast, acme_history, django_capture_on_commit_callbacks):
    from jobs.company_export import export_build

    export = CompanyExport.objects.create(client=cast.acme, requested_by=cast.acme_member)  # a member, not an admin
    assert export_build(export_id=export.pk) == "failed"
    export.refresh_from_db()
    assert "no longer runs the company's team" in export.reason and not export.archive
    ready = _build(cast.acme_admin, django_capture_on_commit_callbacks).json()
    with time_machine.travel(timezone.now() + timedelta(days=CompanyExport.KEEP_DAYS, hours=1)):
        late = api_for(cast.acme_admin).get(f"/api/v1/company-exports/{ready['id']}/download/")
    assert late.status_code == 409 and "kept 14 days" in late.json()["detail"]
    # the daily retention task deletes the archive the day after it stops being handed out, not before
    from jobs.retention import expire_exports

    made = CompanyExport.objects.get(pk=ready["id"])
    assert expire_exports(now=made.finished_at + timedelta(days=CompanyExport.KEEP_DAYS)) == 0
    assert expire_exports(now=made.finished_at + timedelta(days=CompanyExport.KEEP_DAYS, seconds=1)) == 1
    assert not default_storage.exists(made.archive) and CompanyExport.objects.get(pk=made.pk).archive == ""


def test_the_team_page_asks_for_an_archive_and_lists_it(cast, acme_history, django_capture_on_commit_callbacks):
    web = HttpClient()
    web.force_login(cast.acme_admin)
    assert f"/clients/{cast.acme.pk}/data/" in web.get("/team/").content.decode()
    card = web.get(f"/clients/{cast.acme.pk}/data/", HTTP_HX_REQUEST="true").content.decode()
    assert "Export everything" in card and "No export yet." in card
    with django_capture_on_commit_callbacks(execute=True):
        answer = web.post(f"/clients/{cast.acme.pk}/data/", HTTP_HX_REQUEST="true")
    page = answer.content.decode()
    assert answer.status_code == 200 and "Being made…" in page and "data-live-poll" in page and "sse:me" in page
    assert "<button class=\"btn btn-small\" disabled>" in page  # a second archive waits for this one
    page = web.get(f"/clients/{cast.acme.pk}/data/", HTTP_HX_REQUEST="true").content.decode()  # the card's next look
    assert "Download" in page and "1 invoice ·" in page and "data-live-poll" not in page
    export = CompanyExport.objects.get()
    assert export.status == "ready"
    assert web.get(f"/data/{export.pk}/download/").status_code == 302
    member = HttpClient()
    member.force_login(cast.acme_member)
    assert member.get(f"/clients/{cast.acme.pk}/data/").status_code == 403


def test_the_archive_reads_a_fixed_number_of_queries_however_many_orders(cast):
    """orders.json and files.csv: the same queries for one order as for four (a company of 10,000 orders is one
    archive, not 10,000 round trips per kind)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.company_export import _orders
    from tests.factories import make_order

    def grow() -> None:
        order = make_order(cast.acme, by=cast.acme_member, title="More rings")
        [image] = add_images(order, {"standard": 1}, status=ImageStatus.RECEIVED)
        Message.objects.create(order=order, author=cast.acme_member, body="Another note")
        Annotation.objects.create(order=order, image=image, number=1, shape="point",
                                  selector={"type": "FragmentSelector", "value": "xywh=pixel:1,1,0,0"},
                                  x=1, y=1, w=0, h=0, text="Dust", author=cast.acme_member, audience="client",
                                  width=4000, height=3000)

    def queries() -> int:
        with CaptureQueriesContext(connection) as seen:
            rows, _, counts = _orders(cast.acme_admin, cast.acme)
        return len(seen), counts

    from agency import brand

    grow()
    brand.current()  # the links' domain (the studio's brand) is read once a minute per process
    one, counts = queries()
    assert counts["orders"] == 2 and counts["marks"] == 1
    for _ in range(3):
        grow()
    four, counts = queries()
    assert counts["orders"] == 5 and counts["marks"] == 4 and counts["messages"] == 4
    assert four == one

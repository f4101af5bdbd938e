"""Smaller findings of the attacker's probe: each is a rule later code relies on."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection
from django.test import Client as HttpClient
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from agency.calendar import studio_calendar
from agency.logging import redact
from agency.middleware import TimezoneMiddleware
from agency.models import Closure
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_json_nested_100000_levels_is_a_400(cast, api):
    body = "[" * 100_000 + "]" * 100_000
    response = api(cast.acme_member).generic("POST", "/api/v1/orders/", body, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert "nested too deeply" in response.json()["detail"]


def test_debug_without_secret_key_makes_a_random_key_per_installation(tmp_path):
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "agency.settings", "DEBUG": "1",
           "LOUPE_VAR_DIR": str(tmp_path)}
    read = [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"]
    first = subprocess.run(read, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    second = subprocess.run(read, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip().splitlines()[-1]
    assert len(key) >= 50 and "insecure" not in key and second.stdout.strip().splitlines()[-1] == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    other = tmp_path / "other"
    third = subprocess.run(read, cwd=ROOT, env={**env, "LOUPE_VAR_DIR": str(other)}, capture_output=True, text=True,
                           timeout=60)
    assert third.stdout.strip().splitlines()[-1] != key  # another installation, another key


def _reset(web, email, ip="203.0.113.7"):
    return web.post("/password/reset/", {"email": email}, REMOTE_ADDR=ip)


def test_reset_mails_are_throttled_per_address_and_per_client_address(cast, settings):
    web = HttpClient()
    answers = {_reset(web, cast.acme_member.email).status_code for _ in range(5)}
    assert answers == {302}  # the page answers the same, whatever the count
    assert len(mail.outbox) == settings.LOUPE_RESET_MAILS_PER_ADDRESS
    mail.outbox.clear()
    for n in range(settings.LOUPE_RESET_MAILS_PER_IP + 3):
        _reset(web, f"someone{n}@example.test", ip="198.51.100.9")
    _reset(web, cast.acme_admin.email, ip="198.51.100.9")
    assert mail.outbox == []  # that client address is over its limit, even for a real account
    _reset(web, cast.acme_admin.email, ip="192.0.2.44")
    assert [m.to for m in mail.outbox] == [[cast.acme_admin.email]]


def test_a_reset_lifts_a_lockout_made_from_many_addresses(cast):
    email = cast.acme_member.email
    api = APIClient()
    for n in range(10):  # someone else tries passwords from ten addresses
        api.post("/api/v1/auth/token/", {"email": email, "password": f"guess-{n}"}, format="json",
                 REMOTE_ADDR=f"10.0.0.{n + 1}")
    locked = api.post("/api/v1/auth/token/", {"email": email, "password": PASSWORD}, format="json",
                      REMOTE_ADDR="192.0.2.1")
    assert locked.status_code == 429
    web = HttpClient()
    _reset(web, email, ip="192.0.2.1")
    link = re.search(r"/password/reset/[^/\s]+/[^/\s]+/", mail.outbox[-1].body).group(0)
    form = web.get(link, follow=True, REMOTE_ADDR="192.0.2.1")
    done = web.post(form.redirect_chain[-1][0], {"new_password1": "a-fresh-long-password",
                                                 "new_password2": "a-fresh-long-password"}, REMOTE_ADDR="192.0.2.1")
    assert done.status_code == 302
    again = api.post("/api/v1/auth/token/", {"email": email, "password": "a-fresh-long-password"}, format="json",
                     REMOTE_ADDR="192.0.2.1")
    assert again.status_code == 201


def test_signed_local_links_are_redacted_from_logs(caplog):
    logger = logging.getLogger("django.server")
    line = '"GET /files/eyJrIjoiY2xpZW50cy9hYmMifQ:1t2:sig/ HTTP/1.1" 200 / "PUT /api/v1/uploads/local/eyJr:1t:xyz/ HTTP/1.1"'
    assert "eyJr" not in redact(line) and redact(line).count("[redacted]") == 2
    from agency.logging import RedactSecretsFilter

    handler = logging.StreamHandler()
    handler.addFilter(RedactSecretsFilter())
    record = logger.makeRecord("django.server", logging.INFO, __file__, 1, "%s", (line,), None)
    handler.filter(record)
    assert "eyJr" not in record.getMessage()


def test_originals_are_served_with_the_detected_type(cast, acme_image, api):
    acme_image.content_type = "text/html"  # what the client declared
    acme_image.save()
    response = api(cast.acme_member).get(f"/api/v1/images/{acme_image.pk}/download/?what=original")
    assert response.status_code == 302
    file = HttpClient().get(response["Location"])
    assert file.status_code == 200 and file["Content-Type"] == "image/jpeg"
    assert file["Content-Disposition"].startswith("attachment")


def test_unknown_api_paths_answer_problem_json_even_with_debug(cast, settings):
    settings.DEBUG = True
    for client in (APIClient(), HttpClient()):
        response = client.get("/api/v1/nothing/here/")
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_local_upload_targets_are_absolute(cast, api):
    response = api(cast.acme_member).post(f"/api/v1/orders/{cast.acme_order.pk}/uploads/", {"files": [
        {"name": "a.jpg", "size": 10, "content_type": "image/jpeg", "sha256": "0" * 64},
        {"name": "b.tif", "size": 70 * 1024 * 1024, "content_type": "image/tiff", "sha256": "0" * 64},
    ]}, format="json")
    single, multi = (entry["upload"] for entry in response.json()["images"])
    assert single["url"].startswith("http://testserver/api/v1/uploads/local/")
    assert single["complete_url"].startswith("http://testserver/api/v1/images/")
    assert multi["parts_url"].startswith("http://testserver/api/v1/images/")
    signed = api(cast.acme_member).post(multi["parts_url"], {"number": 1, "sha256": "0" * 64}, format="json").json()
    assert signed["url"].startswith("http://testserver/api/v1/uploads/local/")


def test_the_studio_calendar_is_read_once_per_process_and_dropped_on_edit():
    from datetime import date

    studio_calendar()
    with CaptureQueriesContext(connection) as queries:
        calendar = studio_calendar()
    assert len(queries) == 0
    assert calendar.is_working_day(date(2026, 12, 2))
    Closure.objects.create(start_date=date(2026, 12, 2), end_date=date(2026, 12, 2), reason="Move")
    assert not studio_calendar().is_working_day(date(2026, 12, 2))


def test_the_time_zone_middleware_adds_no_query(cast):
    """The user comes with seat and company from the one query the auth middleware makes."""
    from django.contrib.auth import get_user
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    cast.acme.time_zone = "America/New_York"
    cast.acme.save()
    web = HttpClient()
    web.force_login(cast.acme_member)
    request = RequestFactory().get("/")
    request.session = SessionStore(web.session.session_key)
    request.user = get_user(request)
    zones = []
    middleware = TimezoneMiddleware(lambda r: zones.append(str(timezone.get_current_timezone())))
    with CaptureQueriesContext(connection) as queries:
        middleware(request)
    assert len(queries) == 0 and zones == ["America/New_York"]


def test_the_favicon_is_served_and_every_page_names_it(client, cast):
    """Browsers ask for /favicon.ico on every page; it must lead to a real icon, not a 404."""
    from django.contrib.staticfiles import finders

    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"].endswith("favicon.ico")
    path = finders.find("favicon.ico")
    assert path and open(path, "rb").read(4) == b"\x00\x00\x01\x00"  # an ICO header
    page = client.get("/login/").content.decode()
    assert 'rel="icon"' in page and "favicon.svg" in page

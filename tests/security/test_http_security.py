"""S1 cookies and headers, S4 CSRF on the session API, C2 error hygiene, admin for admins only,
and secrets kept out of logs."""

from __future__ import annotations

import logging

import pytest
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import path

from agency.logging import redact
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

HTTPS_SETTINGS = {
    "SESSION_COOKIE_NAME": "__Host-sessionid", "CSRF_COOKIE_NAME": "__Host-csrftoken",
    "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31_536_000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
}


@override_settings(**HTTPS_SETTINGS)
def test_cookies_are_host_prefixed_secure_and_lax(cast):
    web = HttpClient()
    web.get("/login/", secure=True)
    response = web.post("/login/", {"username": cast.acme_member.email, "password": PASSWORD}, secure=True)
    assert response.status_code == 302
    session = response.cookies["__Host-sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax" and session["path"] == "/"
    assert not session["domain"]
    csrf = web.cookies["__Host-csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"


@override_settings(**HTTPS_SETTINGS)
@pytest.mark.parametrize("url", ["/login/", "/orders/", "/api/v1/me/", "/api/v1/orders/", "/healthz/"])
def test_security_headers_on_every_kind_of_response(cast, url):
    web = HttpClient()
    web.force_login(cast.acme_member)
    response = web.get(url, secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@override_settings(**HTTPS_SETTINGS)
def test_plain_http_is_redirected_to_https():
    response = HttpClient().get("/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")


@pytest.mark.parametrize("method,url", [
    ("post", "/api/v1/orders/"), ("patch", "/api/v1/orders/{order}/"), ("post", "/api/v1/orders/{order}/submit/"),
    ("post", "/api/v1/orders/{order}/cancel/"), ("post", "/api/v1/style-guides/"), ("post", "/orders/new/"),
    ("post", "/orders/{order}/submit/"), ("post", "/logout/"),
])
def test_session_requests_without_csrf_token_are_refused(cast, method, url):
    web = HttpClient(enforce_csrf_checks=True)
    web.force_login(cast.acme_member)
    response = getattr(web, method)(url.format(order=cast.acme_order.pk), "{}", content_type="application/json")
    assert response.status_code == 403
    cast.acme_order.refresh_from_db()
    assert cast.acme_order.status == "draft"


def _boom(request):
    raise RuntimeError("secret internals: SELECT password FROM users /etc/loupe/settings.py")


urlpatterns = [path("boom/", _boom), path("api/v1/boom/", _boom)]
handler500 = "agency.views.server_error"  # the same handler as agency/urls.py


@override_settings(ROOT_URLCONF="tests.security.test_http_security", DEBUG=False)
@pytest.mark.parametrize("url,content_type", [("/api/v1/boom/", "application/problem+json"),
                                              ("/boom/", "text/html; charset=utf-8")])
def test_server_errors_say_nothing_about_internals(url, content_type, caplog):
    web = HttpClient(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = web.get(url)
    assert response.status_code == 500 and response["Content-Type"] == content_type
    for leak in (b"Traceback", b"SELECT", b"/etc/loupe", b"RuntimeError", b"secret internals"):
        assert leak not in response.content
    assert any("Internal Server Error" in r.getMessage() for r in caplog.records)
    if url.startswith("/api/"):
        assert response.json()["status"] == 500


def test_unknown_api_path_is_a_problem_document():
    response = HttpClient().get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_logs_redact_secrets():
    line = ("GET https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIA123&X-Amz-Signature=abcdef0123 "
            "Authorization: Token 0123456789abcdefghijklmnop password=hunter2")
    cleaned = redact(line)
    for secret in ("abcdef0123", "AKIA123", "0123456789abcdefghijklmnop", "hunter2"):
        assert secret not in cleaned
    assert "[redacted]" in cleaned


def test_failed_login_is_logged_without_the_password(cast, caplog):
    with caplog.at_level(logging.INFO):
        HttpClient().post("/login/", {"username": cast.acme_member.email, "password": "my-secret-typo"})
    assert any("failed login" in r.getMessage() for r in caplog.records)
    assert all("my-secret-typo" not in r.getMessage() for r in caplog.records)

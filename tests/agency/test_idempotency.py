"""Idempotency-Key on the API's POSTs (issue 10): a retried request replays the first answer and does
nothing twice; a reused key with another body is 422; keys are per person and last 24 hours."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agency.idempotency import forget_expired
from agency.models import IdempotencyKey
from jobs.models import Order
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def api_for(user):
    """A signed-in session (the middleware sees who sends the key before DRF runs)."""
    client = APIClient()
    client.force_login(user)
    return client


def _order(cast, **overrides):
    body = {"title": "Engagement rings", "style_guide": str(cast.acme_guide.pk), "services": ["colour-correction"],
            "turnaround": "express"}
    return {**body, **overrides}


def test_a_retried_create_replays_the_first_answer(cast):
    api = api_for(cast.acme_member)
    before = Order.objects.count()
    first = api.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="order-7f1c")
    again = api.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="order-7f1c")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Order.objects.count() == before + 1
    other = api.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="order-8a2d")
    assert other.status_code == 201 and Order.objects.count() == before + 2


def test_the_same_key_with_another_body_is_refused(cast):
    api = api_for(cast.acme_member)
    api.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    count = Order.objects.count()
    refused = api.post("/api/v1/orders/", _order(cast, title="Something else"), format="json",
                       HTTP_IDEMPOTENCY_KEY="k1")
    assert refused.status_code == 422 and "different request" in refused.json()["detail"]
    assert refused["Content-Type"] == "application/problem+json"
    assert Order.objects.count() == count


def test_the_same_key_on_another_path_is_refused(cast):
    """The same key and the same (empty) body sent to another order's action is another request: 422,
    and the second order is left as it was."""
    from jobs.models import OrderStatus
    from tests.factories import add_images, make_order

    first, second = (make_order(cast.acme, by=cast.acme_member, title=t) for t in ("First", "Second"))
    for order in (first, second):
        add_images(order, {"standard": 1})
    api = api_for(cast.acme_member)
    done = api.post(f"/api/v1/orders/{first.pk}/submit/", {}, format="json", HTTP_IDEMPOTENCY_KEY="submit-it")
    assert done.status_code == 200, done.content
    refused = api.post(f"/api/v1/orders/{second.pk}/submit/", {}, format="json", HTTP_IDEMPOTENCY_KEY="submit-it")
    assert refused.status_code == 422 and "different request" in refused.json()["detail"]
    second.refresh_from_db()
    assert second.status == OrderStatus.DRAFT


def test_the_same_key_with_another_content_type_is_refused(cast):
    api = api_for(cast.acme_member)
    api.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="k-type")
    count = Order.objects.count()
    refused = api.post("/api/v1/orders/", _order(cast), format="multipart", HTTP_IDEMPOTENCY_KEY="k-type")  # same fields
    assert refused.status_code == 422 and Order.objects.count() == count


@pytest.mark.parametrize("key", ["x" * 256, "", " padded ", "tab\there"])
def test_a_malformed_key_is_refused(cast, key):
    count = Order.objects.count()
    refused = api_for(cast.acme_member).post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert refused.status_code == 400 and "1 to 255" in refused.json()["detail"]
    assert Order.objects.count() == count


def test_a_255_character_key_works(cast):
    response = api_for(cast.acme_member).post("/api/v1/orders/", _order(cast), format="json",
                                              HTTP_IDEMPOTENCY_KEY="k" * 255)
    assert response.status_code == 201


def test_keys_are_per_person(cast):
    count = Order.objects.count()
    for person in (cast.acme_member, cast.acme_admin):
        assert api_for(person).post("/api/v1/orders/", _order(cast), format="json",
                                    HTTP_IDEMPOTENCY_KEY="same-key-two-people").status_code == 201
    assert Order.objects.count() == count + 2


def test_after_24_hours_the_key_executes_anew(cast):
    api = api_for(cast.acme_member)
    api.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="daily")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    count = Order.objects.count()
    again = api.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="daily")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Order.objects.count() == count + 1


def test_refusals_are_replayed_but_not_authentication_failures(cast):
    api = api_for(cast.acme_member)
    bad = api.post("/api/v1/orders/", _order(cast, turnaround="yesterday"), format="json", HTTP_IDEMPOTENCY_KEY="bad")
    again = api.post("/api/v1/orders/", _order(cast, turnaround="yesterday"), format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert bad.status_code == again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    # a token answers for its owner; a wrong token is a 401 that keeps nothing
    key = APIClient().post("/api/v1/auth/token/", {"email": cast.acme_member.email, "password": PASSWORD},
                           format="json").json()["token"]
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert wrong.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="tok").status_code == 401
    right = APIClient()
    right.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    made = right.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="tok")
    replay = right.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="tok")
    assert made.status_code == 201 and replay.json()["id"] == made.json()["id"]
    # the session's answer for the same key is the same person's
    assert api.post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="tok").json()["id"] == \
        made.json()["id"]


def test_actions_and_other_creates_are_covered(cast):
    api = api_for(cast.acme_member)
    order = api.post("/api/v1/orders/", _order(cast), format="json").json()
    first = api.post(f"/api/v1/orders/{order['id']}/cancel/", {"reason": "changed my mind"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="cancel-1")
    again = api.post(f"/api/v1/orders/{order['id']}/cancel/", {"reason": "changed my mind"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="cancel-1")
    assert first.status_code == 200 and again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    # without the key the second cancel is refused as it always was
    assert api.post(f"/api/v1/orders/{order['id']}/cancel/", {"reason": "x"}, format="json").status_code in (403, 409)


def test_old_answers_are_forgotten(cast):
    api_for(cast.acme_member).post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="old")
    api_for(cast.acme_member).post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(days=2))
    assert forget_expired() == 1 and list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_the_schema_documents_the_header(cast):
    schema = api_for(cast.acme_member).get("/api/v1/schema/?format=json").json()
    post = schema["paths"]["/api/v1/orders/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    assert {"409", "422"} <= set(post["responses"])


def test_a_replay_carries_the_first_answers_status_type_and_location(cast, rf):
    """Said by the middleware itself, whatever view answers: a 201 with a Location is replayed with it."""
    from django.http import HttpResponse

    from agency.idempotency import IdempotencyMiddleware

    answers = iter([HttpResponse(b'{"id": 7}', status=201, content_type="application/json",
                                 headers={"Location": "/api/v1/things/7/"})])
    middleware = IdempotencyMiddleware(lambda request: next(answers))

    def post():
        request = rf.post("/api/v1/things/", {"name": "x"}, content_type="application/json",
                          HTTP_IDEMPOTENCY_KEY="thing-1")
        request.user = cast.acme_member
        return middleware(request)

    first, again = post(), post()  # the view answers once: a second call would exhaust ``answers``
    assert (again.status_code, again["Content-Type"], again["Location"], again.content) == (
        201, "application/json", "/api/v1/things/7/", b'{"id": 7}')
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first


def test_an_empty_token_is_nobody_without_asking_the_database(django_assert_num_queries):
    from agency.auth import token_user

    with django_assert_num_queries(0):
        assert token_user("") is None


def test_the_same_bytes_under_another_content_type_are_another_request(cast, rf):
    """The fingerprint holds the content type itself, not only the body it usually changes."""
    from django.http import HttpResponse

    from agency.idempotency import IdempotencyMiddleware

    middleware = IdempotencyMiddleware(lambda request: HttpResponse(b"{}", status=201, content_type="application/json"))

    def post(content_type):
        request = rf.generic("POST", "/api/v1/things/", b'{"name": "x"}', content_type=content_type,
                             HTTP_IDEMPOTENCY_KEY="same-bytes")
        request.user = cast.acme_member
        return middleware(request)

    assert post("application/json").status_code == 201
    assert post("text/plain").status_code == 422
    assert post("application/json")["Idempotent-Replayed"] == "true"


def test_a_request_from_nobody_keeps_no_key(cast):
    from rest_framework.test import APIClient

    response = APIClient().post("/api/v1/orders/", _order(cast), format="json", HTTP_IDEMPOTENCY_KEY="anon-1")
    assert response.status_code in (401, 403) and not IdempotencyKey.objects.exists()


def _secret_posts(cast, receiver_url):
    from clients import webhooks

    endpoint, _ = webhooks.endpoint_create(by=cast.acme_admin, client=cast.acme, url=receiver_url,
                                           events=["order.submitted"])
    return [("/api/v1/tokens/", {"name": "Shop sync"}, "key"),
            ("/api/v1/webhooks/", {"url": receiver_url, "events": ["order.submitted"]}, "secret"),
            (f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/", {}, "secret")]


def test_an_answer_with_a_secret_is_never_kept_and_a_replay_says_it_was_shown_once(cast, settings):
    """Issue 20, item 6: a replayed token or webhook creation, or a secret rotation, never hands the
    secret out again, and the key's row never stores it."""
    from agency.idempotency import SHOWN_ONCE

    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    api = api_for(cast.acme_admin)
    for n, (path, body, field) in enumerate(_secret_posts(cast, "http://127.0.0.1:9/hooks")):
        first = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"secret-{n}")
        assert first.status_code in (200, 201), first.content
        secret = first.json()[field]
        assert first["Cache-Control"] == "no-store"
        again = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"secret-{n}")
        assert (again.status_code, again["Idempotent-Replayed"], again.json()["title"], again.json()["detail"]) == (
            409, "true", "Secret shown once", SHOWN_ONCE)
        assert secret.encode() not in again.content
        assert secret.encode() not in bytes(IdempotencyKey.objects.get(key=f"secret-{n}").body)


def _middleware_posting(rf, answer):
    """The middleware around a view that answers ``answer()``; ``post(user, body, key)`` sends to it."""
    from agency.idempotency import IdempotencyMiddleware

    middleware = IdempotencyMiddleware(lambda request: answer())

    def post(user, body=b'{"name": "x"}', key="thing-1"):
        request = rf.generic("POST", "/api/v1/things/", body, content_type="application/json",
                             HTTP_IDEMPOTENCY_KEY=key)
        request.user = user
        return middleware(request)

    return post


def test_a_repeat_while_the_first_runs_and_a_reused_key_say_why_in_full(cast, rf):
    from django.http import HttpResponse

    post = _middleware_posting(rf, lambda: HttpResponse(b"{}", status=201, content_type="application/json"))
    post(cast.acme_member)
    IdempotencyKey.objects.filter(user=cast.acme_member).update(status_code=None)  # as while the first still runs
    running = post(cast.acme_member)
    assert (running.status_code, running["Content-Type"]) == (409, "application/problem+json")
    assert {k: v for k, v in json.loads(running.content).items() if k in {"title", "detail", "status"}} == {
        "status": 409, "title": "Request in progress",
        "detail": "A request with this Idempotency-Key is still being processed; retry in a moment to get its answer."}
    reused = post(cast.acme_member, body=b'{"name": "y"}')
    assert {k: v for k, v in json.loads(reused.content).items() if k in {"title", "detail", "status"}} == {
        "status": 422, "title": "Idempotency-Key reused",
        "detail": "This Idempotency-Key was sent with a different request in the last 24 hours. "
                  "Use a new key for a new request."}


def test_a_key_is_looked_up_and_forgotten_only_for_its_own_person(cast, rf):
    """Another person's earlier row under the same key, with another body, is neither this person's first
    answer nor removed when this person's key is renewed; an old row of another key stays for the sweep."""
    from django.http import HttpResponse

    calls = []
    post = _middleware_posting(rf, lambda: calls.append(1) or HttpResponse(b"{}", status=201, content_type="application/json"))
    post(cast.acme_admin, body=b'{"name": "other"}')  # the colleague's row comes first (a lower id)
    post(cast.acme_member)
    again = post(cast.acme_member)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true" and len(calls) == 2

    post(cast.acme_member, key="thing-2")
    old = timezone.now() - timedelta(hours=25)
    IdempotencyKey.objects.update(created_at=old)
    post(cast.acme_member)  # a day later the key runs anew: only this person's row under this key goes
    assert len(calls) == 4
    assert sorted((row.user_id == cast.acme_member.pk, row.key, row.created_at == old)
                  for row in IdempotencyKey.objects.all()) == [
        (False, "thing-1", True), (True, "thing-1", False), (True, "thing-2", True)]


def test_a_streamed_answer_is_not_kept(cast, rf):
    from django.http import StreamingHttpResponse

    calls = []
    post = _middleware_posting(rf, lambda: calls.append(1) or StreamingHttpResponse(iter([b"a", b"b"]), status=200))
    post(cast.acme_member)
    again = post(cast.acme_member)
    assert b"".join(again.streaming_content) == b"ab" and "Idempotent-Replayed" not in again
    assert len(calls) == 2 and not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("status,kept", [(200, True), (422, True), (499, True), (401, False), (403, False),
                                         (429, False), (500, False), (501, False)])
def test_which_answers_are_kept(cast, rf, status, kept):
    """Refusals before any work and server errors are not kept (the same key may try again); any other
    answer is, with its type and without a Location it did not have."""
    from django.http import HttpResponse

    calls = []
    post = _middleware_posting(rf, lambda: calls.append(1) or HttpResponse(b"{}", status=status,
                                                                           content_type="application/json"))
    post(cast.acme_member)
    again = post(cast.acme_member)
    assert (len(calls), again.has_header("Idempotent-Replayed")) == ((1, True) if kept else (2, False))
    if kept:
        assert (again.status_code, again["Content-Type"], again.has_header("Location")) == (
            status, "application/json", False)


def test_what_does_not_fit_its_column_is_cut(cast, rf):
    """A content type is kept to 100 characters and a Location to 500 (their columns)."""
    from django.http import HttpResponse

    content_type = "application/json; profile=" + "p" * 200
    location = "/api/v1/things/" + "7" * 600
    post = _middleware_posting(rf, lambda: HttpResponse(b"{}", status=201, content_type=content_type,
                                                        headers={"Location": location}))
    post(cast.acme_member)
    row = IdempotencyKey.objects.get()
    assert (row.content_type, row.location) == (content_type[:100], location[:500])


def test_a_page_forms_values_make_its_fingerprint_but_not_its_csrf_token(rf):
    """The CSRF token may be rotated between a form's two sendings; anything else, files included (by
    name and size), makes it another form."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from agency.idempotency import _page_fingerprint

    def sent(csrf="a", note="x", file=b"12345", name="ring.jpg"):
        data = {"csrfmiddlewaretoken": csrf, "note": note, "form_key": "k",
                "file": SimpleUploadedFile(name, file, content_type="image/jpeg")}
        return _page_fingerprint(rf.post("/orders/1/upload/", data))

    assert sent() == sent(csrf="b")
    assert len({sent(), sent(note="y"), sent(file=b"123456"), sent(name="ring2.jpg")}) == 4

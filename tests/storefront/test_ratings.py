"""Clients rate finished orders; the studio's page counts every rating honestly and shows only the comments
their authors published; managers read every rating beside first-time approval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from agency.models import Notification
from jobs.models import Event, ImageStatus, Order, OrderStatus, Version, VersionStatus
from storefront import selectors, services
from storefront.models import Rating
from tests.factories import add_images, client_user, make_order

pytestmark = pytest.mark.django_db


def completed(client, title="Rings", **fields):
    order = make_order(client, title=title, status=OrderStatus.COMPLETED)
    Order.objects.filter(pk=order.pk).update(completed_at=timezone.now(), **fields)
    return Order.objects.get(pk=order.pk)


def rate(order, by, score=4, **fields):
    return services.rating_give(order=order, by=by, score=score, **fields)


def snapshot():
    return (list(Rating.objects.values()), Event.objects.filter(verb="order.rated").count())


# -- giving a rating -----------------------------------------------------------------------------------

def test_a_client_admin_rates_a_completed_order_on_its_page(cast, web, django_capture_on_commit_callbacks):
    order = completed(cast.acme)
    page = web(cast.acme_admin)
    form = page.get(reverse("storefront:order_rating", args=[order.pk]))
    assert form.status_code == 200
    assert form.context["form"].initial == {"shown_name": cast.acme_admin.full_name, "shown_company": "Acme Jewels"}
    with django_capture_on_commit_callbacks(execute=True):
        answer = page.post(reverse("storefront:order_rating", args=[order.pk]), {
            "score": "5", "comment": "Prongs spotless, colours true.", "publish": "on", "shown_name": "Ada  A.",
            "shown_company": "Acme Jewels"})
    assert answer.status_code == 302 and answer["Location"] == reverse("jobs:order_detail", args=[order.pk])
    rating = Rating.objects.get(order=order)
    assert (rating.score, rating.comment, rating.publish, rating.shown_name, rating.client_id, rating.by_id) == (
        5, "Prongs spotless, colours true.", True, "Ada A.", cast.acme.pk, cast.acme_admin.pk)
    event = Event.objects.get(order=order, verb="order.rated")
    assert (event.message, event.audience, event.data) == ("Acme Jewels rated the order 5 of 5", "client",
                                                           {"score": 5, "changed": False, "published": True})
    # the account managers hear of it; the client's people do not (they gave it)
    from jobs.notifications import account_managers

    told = Notification.objects.filter(kind="rating_received")
    managers = {u.pk for u in account_managers(order)}
    assert cast.account_manager.pk in managers
    assert {n.user_id for n in told} == managers
    assert {n.title for n in told} == {f"{order.number}: Acme Jewels rated the order 5 of 5"}


def test_the_same_answer_twice_changes_nothing_and_a_change_counts_from_when_it_was_made(cast):
    order = completed(cast.acme)
    with time_machine.travel(datetime(2026, 5, 4, 10, tzinfo=UTC), tick=False):
        first = rate(order, cast.acme_admin, 3, comment="Late")
    again = rate(order, cast.acme_admin, 3, comment="  Late ")
    assert again.pk == first.pk and again.rated_at == first.rated_at
    assert Event.objects.filter(order=order, verb="order.rated").count() == 1
    with time_machine.travel(datetime(2026, 6, 1, 9, tzinfo=UTC), tick=False):
        changed = rate(order, cast.acme_admin, 4, comment="Late, but fixed fast")
    assert Rating.objects.count() == 1
    assert (changed.score, changed.rated_at) == (4, datetime(2026, 6, 1, 9, tzinfo=UTC))
    assert Event.objects.filter(order=order, verb="order.rated").latest("created_at").message == (
        "Acme Jewels changed the rating to 4 of 5")


def test_the_api_rates_reads_and_answers_404_before_a_rating(cast, api):
    order = completed(cast.acme)
    url = f"/api/v1/orders/{order.pk}/rating/"
    none_yet = api(cast.acme_member).get(url)
    assert none_yet.status_code == 404 and none_yet.json()["detail"] == f"Acme Jewels has not rated {order.number} yet."
    given = api(cast.acme_admin).put(url, {"score": 2, "comment": "Halo too bright"}, format="json")
    assert given.status_code == 200, given.content
    body = given.json()
    assert (body["score"], body["comment"], body["publish"], body["by"]) == (2, "Halo too bright", False,
                                                                            cast.acme_admin.full_name)
    for reader in (cast.acme_member, cast.account_manager, cast.admin):
        assert api(reader).get(url).json()["score"] == 2


@pytest.mark.parametrize("who", ["acme_member", "account_manager", "retoucher", "finance"])
def test_only_the_companys_admins_rate(cast, api, web, who):
    order = completed(cast.acme)
    before = snapshot()
    answer = api(getattr(cast, who)).put(f"/api/v1/orders/{order.pk}/rating/", {"score": 5}, format="json")
    page = web(getattr(cast, who)).post(reverse("storefront:order_rating", args=[order.pk]), {"score": "5"})
    if who == "retoucher":  # the order is not theirs to see at all
        assert (answer.status_code, page.status_code) == (404, 404)
    else:
        assert (answer.status_code, page.status_code) == (403, 403)
        assert answer.json()["detail"] == "Only an admin of Acme Jewels rates its orders."
    assert snapshot() == before


def test_another_companys_order_is_not_found(cast, api, web):
    order = completed(cast.acme)
    rate(order, cast.acme_admin, 5)
    before = snapshot()
    assert api(cast.globex_admin).get(f"/api/v1/orders/{order.pk}/rating/").status_code == 404
    assert api(cast.globex_admin).put(f"/api/v1/orders/{order.pk}/rating/", {"score": 1}, format="json").status_code == 404
    assert web(cast.globex_admin).get(reverse("storefront:order_rating", args=[order.pk])).status_code == 404
    assert web(cast.globex_admin).get(reverse("storefront:order_rating_panel", args=[order.pk])).status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("status", [OrderStatus.DELIVERED, OrderStatus.IN_PRODUCTION, OrderStatus.CANCELLED])
def test_an_order_is_rated_once_it_is_completed(cast, api, web, status):
    order = make_order(cast.acme, status=status)
    before = snapshot()
    answer = api(cast.acme_admin).put(f"/api/v1/orders/{order.pk}/rating/", {"score": 5}, format="json")
    assert answer.status_code == 409
    assert answer.json()["detail"] == (f"{order.number} is {order.get_status_display().lower()}: an order is rated once "
                                       "it is completed.")
    page = web(cast.acme_admin).post(reverse("storefront:order_rating", args=[order.pk]), {"score": "5"})
    assert page.status_code == 400 and b"<form" not in page.content.split(b"<main")[1]  # no form is offered
    assert "an order is rated once it is completed." in page.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("body,field,detail", [
    ({"score": 0}, "score", "0 is not a rating: give the order 1 to 5 stars."),
    ({"score": 6}, "score", "6 is not a rating: give the order 1 to 5 stars."),
    ({"score": "five"}, "score", None),
    ({}, "score", None),
    ({"score": 4, "publish": True}, "comment", "There is no comment to publish: write one, or leave it unpublished."),
    ({"score": 4, "publish": True, "comment": "Great", "shown_name": "  "}, "shown_name",
     "Say how your name should appear beside the published comment."),
    ({"score": 4, "comment": "x" * 2001}, "comment", None),
    ({"score": 4, "shown_name": "x" * 81}, "shown_name", None),
])
def test_bad_input_is_refused_with_its_reason(cast, api, body, field, detail):
    order = completed(cast.acme)
    before = snapshot()
    answer = api(cast.acme_admin).put(f"/api/v1/orders/{order.pk}/rating/", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["errors"]
    if detail:
        assert answer.json()["detail"] == detail
    assert snapshot() == before


def test_the_page_keeps_what_was_typed_when_it_refuses(cast, web):
    order = completed(cast.acme)
    answer = web(cast.acme_admin).post(reverse("storefront:order_rating", args=[order.pk]), {
        "score": "4", "comment": "", "publish": "on", "shown_name": "Ada"})
    assert answer.status_code == 400
    assert answer.context["form"].errors == {"comment": ["There is no comment to publish: write one, or leave it "
                                                         "unpublished."]}
    assert b'value="Ada"' in answer.content and not Rating.objects.exists()


@pytest.mark.parametrize("score", [True, 4.5, [4]])
def test_the_service_refuses_what_is_not_a_whole_star(cast, score):
    from agency.exceptions import RuleViolation

    with pytest.raises(RuleViolation):
        rate(completed(cast.acme), cast.acme_admin, score)
    assert not Rating.objects.exists()


# -- asking for one ---------------------------------------------------------------------------------------

def test_completing_an_order_asks_its_admins_once(cast, django_capture_on_commit_callbacks):
    from jobs import workflow

    second_admin = client_user(cast.acme, role="client_admin", full_name="Bea Boss")
    order = make_order(cast.acme, status=OrderStatus.DELIVERED)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        workflow.order_complete(order=Order.objects.get(pk=order.pk), by=None, message="All approved")
    asked = Notification.objects.filter(kind="rating_request")
    assert sorted(n.user_id for n in asked) == sorted([cast.acme_admin.pk, second_admin.pk])  # not the member
    assert {n.url for n in asked} == {reverse("storefront:order_rating", args=[order.pk])}
    assert sorted(m.to[0] for m in mail.outbox if "Rate the finished order" in m.subject) == sorted(
        [cast.acme_admin.email, second_admin.email])
    from storefront.tasks import ask_for_rating

    assert ask_for_rating(str(order.pk)) == 0  # delivered twice: nobody is asked again
    assert Notification.objects.filter(kind="rating_request").count() == 2


def test_an_order_already_rated_or_reopened_asks_nobody(cast):
    from storefront.tasks import ask_for_rating

    order = completed(cast.acme)
    rate(order, cast.acme_admin, 5)
    assert ask_for_rating(str(order.pk)) == 0
    other = make_order(cast.acme, status=OrderStatus.DELIVERED)
    assert ask_for_rating(str(other.pk)) == 0
    assert not Notification.objects.filter(kind="rating_request").exists()


def test_the_order_page_offers_the_rating_to_admins_and_shows_it_to_the_company(cast, web):
    order = completed(cast.acme)
    panel = reverse("storefront:order_rating_panel", args=[order.pk])
    assert b"Rate this order" in web(cast.acme_admin).get(panel).content
    member = web(cast.acme_member).get(panel).content.decode()
    assert "Acme Jewels has not rated this order yet" in member and "Rate this order" not in member
    assert web(cast.retoucher).get(panel).status_code == 404  # not their order
    assert b"rating-card" not in web(cast.finance).get(panel).content  # not a reader of ratings
    rate(order, cast.acme_admin, 4, comment="Good", publish=True, shown_name="Ada A.")
    shown = web(cast.account_manager).get(panel).content.decode()
    assert "4 of 5" in shown and "Published on the studio's page as “Ada A.”" in shown
    detail = web(cast.acme_admin).get(reverse("jobs:order_detail", args=[order.pk])).content.decode()
    assert reverse("storefront:order_rating_panel", args=[order.pk]) in detail
    running = make_order(cast.acme, status=OrderStatus.DELIVERED)
    assert web(cast.acme_admin).get(reverse("storefront:order_rating_panel", args=[running.pk])).content == b""


# -- the public figures -------------------------------------------------------------------------------------

NOW = datetime(2027, 3, 15, 12, tzinfo=UTC)


def rated(client, by, score, *, at, **fields):
    order = completed(client, title=f"Order {score} {at:%Y%m%d}")
    with time_machine.travel(at, tick=False):
        return rate(order, by, score, **fields)


def test_the_average_counts_every_rating_not_only_the_published_ones(cast):
    rated(cast.acme, cast.acme_admin, 5, at=NOW - timedelta(days=10), comment="Superb", publish=True, shown_name="Ada")
    rated(cast.acme, cast.acme_admin, 5, at=NOW - timedelta(days=20), comment="Superb again", publish=True,
          shown_name="Ada", shown_company="Acme")
    rated(cast.globex, cast.globex_admin, 1, at=NOW - timedelta(days=5), comment="Missed the date twice")  # unpublished
    rated(cast.globex, cast.globex_admin, 2, at=NOW - timedelta(days=6))
    figures = selectors.public_ratings(now=NOW)
    assert (figures.count, figures.average) == (4, Decimal("3.3"))  # (5+5+1+2)/4 = 3.25, rounded half up
    assert figures.stars == {5: 2, 4: 0, 3: 0, 2: 1, 1: 1}
    assert [r.comment for r in figures.comments] == ["Superb", "Superb again"] and figures.comments_total == 2
    body = figures.as_data()
    assert body["stars"] == {"5": 2, "4": 0, "3": 0, "2": 1, "1": 1} and body["average"] == "3.3"
    assert [(c["name"], c["company"]) for c in body["comments"]] == [("Ada", ""), ("Ada", "Acme")]


def test_twelve_months_is_counted_to_the_instant(cast):
    since = NOW.replace(year=2026)
    rated(cast.acme, cast.acme_admin, 1, at=since)  # exactly twelve months ago: out
    rated(cast.acme, cast.acme_admin, 5, at=since + timedelta(seconds=1))  # in
    assert (selectors.public_ratings(now=NOW).count, selectors.public_ratings(now=NOW).average) == (1, Decimal("5.0"))


def test_a_leap_day_looks_back_to_the_28th():
    assert selectors.twelve_months_before(datetime(2028, 2, 29, 12, tzinfo=UTC)) == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert selectors.twelve_months_before(datetime(2027, 3, 1, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_no_ratings_is_said_not_averaged(db):
    figures = selectors.public_ratings(now=NOW)
    assert (figures.count, figures.average, figures.as_data()["average"]) == (0, None, None)


def test_the_public_page_and_api_show_the_honest_figures_and_only_published_words(cast, api, client):
    now = timezone.now()
    rated(cast.acme, cast.acme_admin, 5, at=now - timedelta(days=3), comment="Every facet sparkles", publish=True,
          shown_name="Ada A.", shown_company="a Geneva jeweller")
    rated(cast.globex, cast.globex_admin, 1, at=now - timedelta(days=2), comment="Globex internal complaint")
    page = client.get(reverse("storefront:home"))
    assert page.status_code == 200 and page["Cache-Control"] == "public, no-cache"
    text = page.content.decode()
    assert "3.0" in text and "2 ratings from clients in the last twelve months" in text
    assert "Every facet sparkles" in text and "Ada A., a Geneva jeweller" in text
    assert "Globex internal complaint" not in text and "Globex" not in text and "Acme Jewels" not in text
    answer = api(None).get("/api/v1/public/ratings/")
    assert answer.status_code == 200
    assert (answer.json()["count"], answer.json()["average"]) == (2, "3.0")
    assert [c["comment"] for c in answer.json()["comments"]] == ["Every facet sparkles"]
    assert "Globex" not in answer.content.decode()


def test_the_sign_in_page_links_to_the_studio(client):
    assert reverse("storefront:home").encode() in client.get(reverse("login")).content


def test_the_public_api_is_rate_limited_per_address(db, api, settings):
    from django.core.cache import cache

    cache.clear()
    from storefront.api import PublicThrottle

    reader = api(None)
    codes = [reader.get("/api/v1/public/ratings/", REMOTE_ADDR="203.0.113.9").status_code
             for _ in range(PublicThrottle.limit + 1)]
    assert codes[:-1] == [200] * PublicThrottle.limit and codes[-1] == 429
    assert reader.get("/api/v1/public/ratings/", REMOTE_ADDR="203.0.113.10").status_code == 200  # another address
    cache.clear()


def test_the_public_page_runs_a_fixed_number_of_queries(cast, client, django_assert_max_num_queries):
    now = timezone.now()
    for n in range(12):
        rated(cast.acme, cast.acme_admin, 1 + n % 5, at=now - timedelta(days=n + 1), comment=f"Comment {n}",
              publish=True, shown_name=f"Person {n}")
    client.get(reverse("storefront:home"))  # the studio's brand is read once a minute per process (agency.brand)
    with django_assert_max_num_queries(4):
        assert client.get(reverse("storefront:home")).status_code == 200


# -- the managers' report --------------------------------------------------------------------------------------

def test_managers_see_every_rating_per_client_and_retoucher_beside_first_time_approval(cast, web):
    acme_order = completed(cast.acme)
    [picture] = add_images(acme_order, {"standard": 1}, status=ImageStatus.APPROVED)
    Version.objects.create(image=picture, number=1, status=VersionStatus.PASSED, created_by=cast.retoucher)
    Version.objects.create(image=picture, number=2, status=VersionStatus.PASSED, created_by=cast.retoucher)
    rate(acme_order, cast.acme_admin, 2)  # unpublished: still in the report
    second = completed(cast.acme, title="Pendants")
    rate(second, cast.acme_admin, 5)
    rate(completed(cast.globex), cast.globex_admin, 4)
    report = selectors.ratings_report(cast.account_manager)
    assert [(r.key, r.count, r.average, r.low) for r in report["clients"]] == [
        ("Acme Jewels", 2, Decimal("3.5"), 1), (cast.globex.name, 1, Decimal("4.0"), 0)]
    # one rating per retoucher and order, however many of their versions passed on it
    assert [(r.key, r.count, r.average) for r in report["retouchers"]] == [(cast.retoucher.full_name, 1, Decimal("2.0"))]
    assert report["clients"][0].first_time["images"] == 1
    panel = web(cast.account_manager).get(reverse("storefront:quality_ratings"))
    assert panel.status_code == 200 and "Acme Jewels" in panel.content.decode()
    quality = web(cast.account_manager).get(reverse("jobs:quality_report")).content.decode()
    assert reverse("storefront:quality_ratings") in quality


@pytest.mark.parametrize("who", ["acme_admin", "retoucher", "qc"])
def test_the_report_panel_is_for_the_readers_of_the_quality_report(cast, web, who):
    assert web(getattr(cast, who)).get(reverse("storefront:quality_ratings")).status_code == 403


def test_a_company_reads_only_its_own_ratings(cast, api):
    acme_order, globex_order = completed(cast.acme), completed(cast.globex)
    rate(acme_order, cast.acme_admin, 5, comment="Acme's words")
    rate(globex_order, cast.globex_admin, 1, comment="Globex's words")
    assert selectors.order_rating(cast.acme_member, globex_order) is None
    answer = api(cast.acme_member).get(f"/api/v1/orders/{acme_order.pk}/rating/")
    assert answer.json()["comment"] == "Acme's words"


# -- the studio takes an abusive published comment off its page --------------------------------------------

def test_a_manager_takes_a_comment_off_the_page_and_the_rating_still_counts(cast, api, web, client):
    now = timezone.now()
    abusive = rated(cast.acme, cast.acme_admin, 1, at=now - timedelta(days=2), comment="Maria Manager is an idiot",
                    publish=True, shown_name="Ann")
    rated(cast.globex, cast.globex_admin, 5, at=now - timedelta(days=3), comment="Flawless", publish=True,
          shown_name="Bea")
    order = abusive.order
    refused = api(cast.account_manager).post(f"/api/v1/orders/{order.pk}/rating/visibility/", {"hidden": True},
                                             format="json")
    assert refused.status_code == 400 and "reason" in str(refused.json())
    for who, refusal in ((cast.acme_admin, 403), (cast.finance, 403), (cast.qc, 404)):  # QC sees retouched work only
        answer = api(who).post(f"/api/v1/orders/{order.pk}/rating/visibility/", {"hidden": True, "reason": "x"},
                               format="json")
        assert answer.status_code == refusal
    assert Rating.objects.get(pk=abusive.pk).hidden_at is None
    answer = api(cast.account_manager).post(f"/api/v1/orders/{order.pk}/rating/visibility/",
                                            {"hidden": True, "reason": "Names a person"}, format="json")
    assert answer.status_code == 200 and answer.json()["hidden_reason"] == "Names a person"
    figures = selectors.public_ratings()
    assert [r.comment for r in figures.comments] == ["Flawless"] and (figures.count, figures.average) == (2, Decimal("3.0"))
    assert "idiot" not in client.get(reverse("storefront:home")).content.decode()
    events = Event.objects.filter(order=order, verb="order.rating_hidden")
    assert events.count() == 1 and events.get().audience == "client"
    # twice changes nothing; the author reads why on their rating page
    api(cast.account_manager).post(f"/api/v1/orders/{order.pk}/rating/visibility/",
                                   {"hidden": True, "reason": "Again"}, format="json")
    assert Rating.objects.get(pk=abusive.pk).hidden_reason == "Names a person" and events.count() == 1
    page = web(cast.acme_admin).get(reverse("storefront:order_rating", args=[order.pk])).content.decode()
    assert "The studio took your comment off its public page" in page and "Names a person" in page
    # a changed comment is the author's again; the managers' page shows it back and lets them take it off anew
    rate(order, cast.acme_admin, 2, comment="Two retouches missed the deadline", publish=True, shown_name="Ann")
    assert Rating.objects.get(pk=abusive.pk).hidden_at is None
    listing = web(cast.account_manager).get(reverse("storefront:portfolio_manage")).content.decode()
    assert "Two retouches missed the deadline" in listing and "Take off" in listing
    shown = web(cast.account_manager).post(reverse("storefront:rating_visibility", args=[order.pk]),
                                           {"hidden": "1", "reason": "Off topic"})
    assert shown.status_code == 302 and Rating.objects.get(pk=abusive.pk).hidden_reason == "Off topic"
    web(cast.account_manager).post(reverse("storefront:rating_visibility", args=[order.pk]), {"hidden": "0"})
    assert Rating.objects.get(pk=abusive.pk).hidden_at is None


def test_there_is_nothing_to_hide_without_a_published_comment(cast, api):
    quiet = rated(cast.acme, cast.acme_admin, 3, at=timezone.now() - timedelta(days=1), comment="Fine")  # unpublished
    before = snapshot()
    answer = api(cast.account_manager).post(f"/api/v1/orders/{quiet.order_id}/rating/visibility/",
                                            {"hidden": True, "reason": "x"}, format="json")
    assert answer.status_code == 409 and "no published comment" in answer.json()["detail"]
    assert snapshot() == before

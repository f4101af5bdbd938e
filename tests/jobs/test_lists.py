"""Order lists as each person meets them: whose move it is ("Action needed"), their actions first,
counts and thumbnails, one time zone per page, the timeline in the order things happened."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Case, IntegerField, Value, When
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from billing.services import quote_draft
from billing.workflow import quote_send
from jobs import next_step as next_step_table
from jobs.intake import uploads
from jobs.models import Event, ImageStatus, Order, OrderImage, OrderStatus, RevisionRound, RoundStatus
from jobs.next_step import STEPS, next_step, with_next_step
from jobs.selectors import order_list
from tests.conftest import api_for, received_image, require_postgres
from tests.factories import PASSWORD, add_images, default_price_list, make_order, submitted_order

pytestmark = pytest.mark.django_db


def _step(order, user):
    return next_step(with_next_step(Order.objects.filter(pk=order.pk), user).get(), user)


def _orders_in_every_state(cast):
    acme = cast.acme
    orders = {
        "draft": make_order(acme, by=cast.acme_member, title="Draft"),
        "submitted": make_order(acme, by=cast.acme_member, status=OrderStatus.SUBMITTED, title="Submitted"),
        "quoted": make_order(acme, by=cast.acme_member, status=OrderStatus.QUOTED, title="Quoted"),
        "delivered": make_order(acme, by=cast.acme_member, status=OrderStatus.DELIVERED, title="Delivered"),
        "ready": make_order(acme, by=cast.acme_member, status=OrderStatus.IN_PRODUCTION, title="Ready"),
        "unscheduled": make_order(acme, by=cast.acme_member, status=OrderStatus.IN_PRODUCTION, title="New work"),
        "working": make_order(acme, by=cast.acme_member, status=OrderStatus.IN_PRODUCTION, title="Working"),
        "billable": make_order(acme, by=cast.acme_member, status=OrderStatus.REVISION, title="Billable round"),
    }
    add_images(orders["ready"], {"standard": 2}, status=ImageStatus.READY)
    add_images(orders["unscheduled"], {"standard": 1}, status=ImageStatus.RECEIVED)
    add_images(orders["working"], {"standard": 1}, status=ImageStatus.IN_PROGRESS)
    add_images(orders["delivered"], {"standard": 1}, status=ImageStatus.DELIVERED)
    RevisionRound.objects.create(order=orders["billable"], number=1, status=RoundStatus.AWAITING_CONFIRMATION,
                                 billable=True, requested_by=cast.acme_member)
    return orders


def test_whose_move_it_is_for_each_state_and_person(cast):
    orders = _orders_in_every_state(cast)
    expected = {  # (state, person): (code, words, action needed)
        ("draft", "acme_member"): ("submit", "Add your photographs and submit", True),
        ("draft", "account_manager"): ("submit", "Draft: the client has not submitted it", False),
        ("submitted", "account_manager"): ("quote", "Send a quote", True),
        ("submitted", "acme_member"): ("quote", "The studio is preparing your quote", False),
        ("quoted", "acme_admin"): ("answer", "Answer the quote", True),
        ("quoted", "acme_member"): ("answer", "Waiting for your company admin to answer the quote", False),
        ("quoted", "account_manager"): ("answer", "Waiting for the client's answer", False),
        ("delivered", "acme_member"): ("review", "Review the delivery", True),
        ("delivered", "account_manager"): ("review", "Waiting for the client's review", False),
        ("ready", "account_manager"): ("deliver", "Deliver 2 ready images", True),
        ("ready", "acme_admin"): ("deliver", "Being retouched", False),
        ("ready", "finance"): ("deliver", "2 ready to deliver", False),
        ("unscheduled", "account_manager"): ("schedule", "Schedule 1 image", True),
        ("working", "account_manager"): ("production", "Retouching and QC", False),
        ("billable", "acme_admin"): ("confirm", "Confirm the billable revision round", True),
        ("billable", "acme_member"): ("confirm", "Waiting for your company admin to confirm the revision round", False),
    }
    for (state, person), (code, words, mine) in expected.items():
        step = _step(orders[state], getattr(cast, person))
        assert (step.code, step.text, step.mine) == (code, words, mine), (state, person)


@pytest.mark.parametrize("person", ["acme_member", "acme_admin", "account_manager", "finance", "retoucher"])
def test_the_database_and_python_read_the_steps_table_alike(cast, person):
    """The steps' conditions are evaluated by the database (the viewer's actions first, the "Needs your
    action" count) and in Python (the step's name and words): for every order state, both agree on the
    first step that holds, on the first of the viewer's own, and on whether the viewer has one."""
    _orders_in_every_state(cast)
    revision = make_order(cast.acme, by=cast.acme_member, status=OrderStatus.REVISION, title="Round with delivered")
    add_images(revision, {"standard": 1}, status=ImageStatus.DELIVERED)
    add_images(revision, {"standard": 1}, status=ImageStatus.IN_PROGRESS)
    for status in (OrderStatus.ON_HOLD, OrderStatus.COMPLETED, OrderStatus.CANCELLED):
        make_order(cast.acme, by=cast.acme_member, status=status, title=str(status))
    user = getattr(cast, person)
    mine = next_step_table._mine(user)
    rows = with_next_step(Order.objects.filter(client=cast.acme), user).annotate(
        db_step=Case(*[When(step.when, then=Value(i)) for i, step in enumerate(STEPS)], default=Value(None),
                     output_field=IntegerField()),
        db_mine=Case(*[When(STEPS[i].when, then=Value(i)) for i in mine], default=Value(None),
                     output_field=IntegerField()),
    )
    seen = set()
    for row in rows:
        assert next_step_table.first_step(row) == row.db_step, row.title
        assert next_step_table.first_step(row, mine) == row.db_mine, row.title
        assert (row.db_mine is not None) == (row.action_first == 0) == next_step(row, user).mine, row.title
        seen.add(STEPS[row.db_step].code)
    assert {"submit", "quote", "answer", "confirm", "review", "deliver", "schedule", "production", "revision",
            "hold", "completed", "cancelled"} <= seen


def test_the_viewers_own_actions_come_first_and_can_be_filtered(cast, web):
    old = make_order(cast.acme, by=cast.acme_member, status=OrderStatus.DELIVERED, title="Old delivery")
    add_images(old, {"standard": 1}, status=ImageStatus.DELIVERED)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    newer = make_order(cast.acme, by=cast.acme_member, status=OrderStatus.SUBMITTED, title="Newer")
    titles = [o.title for o in order_list(cast.acme_member)]
    assert set(titles[:2]) == {"Old delivery", "Acme rings"} and titles[2] == "Newer"  # actions first, then newest
    assert [o.title for o in order_list(cast.account_manager)][0] == "Newer"  # the studio's move
    mine = [o.title for o in order_list(cast.acme_member, mine=True)]
    assert mine == ["Acme rings", "Old delivery"]  # the draft to submit and the delivery to review, newest first
    page = web(cast.acme_member).get(reverse("jobs:order_list") + "?mine=on").content.decode()
    assert "Needs your action" in page and "Action needed:" in page and "Newer" not in page
    body = api_for(cast.acme_member).get("/api/v1/orders/?mine=true").json()
    assert [o["title"] for o in body["results"]] == mine
    assert body["results"][1]["next_step"] == {"code": "review", "text": "Review the delivery", "action_needed": True}
    assert newer.pk  # listed for everyone, only not first


@pytest.mark.parametrize("person", ["acme_member", "account_manager", "retoucher"])
def test_the_pages_counts_agree_with_the_list_for_every_filter(cast, web, person):
    """The page counts with plain queries (and the action count with only the facts the viewer's steps
    read): each figure must still be the list's own, with and without filters, over several pages."""
    user = getattr(cast, person)
    for n in range(26):
        make_order(cast.acme, by=cast.acme_member, title=f"Ring {n:02d}",
                   status=[OrderStatus.DRAFT, OrderStatus.SUBMITTED, OrderStatus.DELIVERED][n % 3])
    delivered = Order.objects.filter(title="Ring 02").get()
    add_images(delivered, {"standard": 1}, status=ImageStatus.DELIVERED)
    client = web(user)
    url = reverse("jobs:order_list")
    for query in ("", "?mine=on", "?status=submitted", "?q=Ring+1", "?status=delivered&mine=on", "?q=nothing"):
        filters = {"mine": "mine=on" in query, "status": "submitted" if "submitted" in query else
                   ("delivered" if "delivered" in query else None), "search": "Ring 1" if "Ring" in query else
                   ("nothing" if "nothing" in query else "")}
        listed = order_list(user, **filters)
        context = client.get(url + query).context
        assert context["page"].paginator.count == len(listed), (person, query)
        assert context["action_count"] == sum(o.action_first == 0 for o in order_list(user)), (person, query)


def test_list_rows_show_thumbnail_counts_and_due(cast, web):
    order = cast.acme_order
    image = received_image(order)
    OrderImage.objects.create(order=order, filename="bad.jpg", status=ImageStatus.REJECTED, reason="not an image")
    page = web(cast.acme_member).get(reverse("jobs:order_list")).content.decode()
    assert f"/api/v1/images/{image.pk}/download/?what=thumbnail" in page
    listed = order_list(cast.acme_member).get(pk=order.pk)
    assert listed.image_count == 1  # the refused file is not one of the order's images


def test_the_list_costs_the_same_queries_for_two_and_twenty_orders(cast, django_assert_max_num_queries, web):
    client = web(cast.acme_member)
    client.get(reverse("jobs:order_list"))
    for n in range(2):
        received_image(make_order(cast.acme, by=cast.acme_member, title=f"Order {n}"))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("jobs:order_list"))
    for n in range(18):
        received_image(make_order(cast.acme, by=cast.acme_member, title=f"More {n}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("jobs:order_list"))


def test_times_in_stored_text_follow_the_reader_and_the_zone_is_named_once(cast, web):
    """A New York client and the Berlin studio read the same quote event, each in their own zone."""
    cast.acme.time_zone = "America/New_York"
    cast.acme.save()
    default_price_list()
    order = submitted_order(make_order(cast.acme, by=cast.acme_member, title="Zones"), {"standard": 1})
    quote = quote_send(quote=quote_draft(order=order, by=cast.account_manager), by=cast.account_manager)
    event = Event.objects.get(order=order, verb="quote.sent")
    assert "[[time:" in event.message  # stored as UTC, never formatted when written
    for person, zone in ((cast.acme_member, "America/New_York"), (cast.account_manager, "Europe/Berlin")):
        local = timezone.localtime(quote.promised_due_at, ZoneInfo(zone)).strftime("%H:%M")
        page = web(person).get(reverse("jobs:order_detail", args=[order.pk])).content.decode()
        body = page.split("<footer")[0]
        assert "[[time:" not in page and local in body and " CET" not in body and " EST" not in body
        assert page.count("times shown in") == 1
        api = APIClient()
        api.force_login(person)  # a real session, so the request knows its reader before the view runs
        events = api.get(f"/api/v1/orders/{order.pk}/events/").json()["results"]
        sent = next(e for e in events if e["verb"] == "quote.sent")
        assert local in sent["message"] and "[[time:" not in sent["message"]
    # with a token, the reader is known only once DRF authenticates: the zone follows them all the same
    key = APIClient().post("/api/v1/auth/token/", {"email": cast.acme_member.email, "password": PASSWORD},
                           format="json").json()["token"]
    tokened = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    events = tokened.get(f"/api/v1/orders/{order.pk}/events/").json()["results"]
    new_york = timezone.localtime(quote.promised_due_at, ZoneInfo("America/New_York")).strftime("%H:%M")
    assert new_york in next(e for e in events if e["verb"] == "quote.sent")["message"]


def test_the_timeline_lists_the_cause_before_its_effect(cast):
    default_price_list()
    order = submitted_order(make_order(cast.acme, by=cast.acme_member, title="Order of events"), {"standard": 1})
    quote_send(quote=quote_draft(order=order, by=cast.account_manager), by=cast.account_manager)
    verbs = list(Event.objects.filter(order=order).order_by("created_at").values_list("verb", flat=True))
    assert verbs.index("quote.sent") < verbs.index("order.quoted")


def test_remove_all_refused_files_in_one_click(cast, web):
    order = cast.acme_order
    keep = received_image(order)
    for name in ("a.txt.jpg", "b.txt.jpg"):
        OrderImage.objects.create(order=order, filename=name, status=ImageStatus.REJECTED, reason="not an image")
    page = web(cast.acme_member).get(reverse("jobs:order_detail", args=[order.pk])).content.decode()
    assert "Remove all 2 refused" in page and page.count(">Remove</button>") + page.count("Remove</button>") >= 2
    answer = web(cast.acme_member).post(reverse("jobs:order_remove_rejected", args=[order.pk]))
    assert answer.status_code == 302
    assert list(order.images.values_list("pk", flat=True)) == [keep.pk]
    # once production starts the images are fixed: refused with the reason, nothing removed
    OrderImage.objects.create(order=order, filename="c.jpg", status=ImageStatus.REJECTED, reason="not an image")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.IN_PRODUCTION)
    late = api_for(cast.acme_member).post(f"/api/v1/orders/{order.pk}/remove-rejected/")
    assert late.status_code == 409 and "only while it is a draft or submitted" in late.json()["detail"]
    assert order.images.count() == 2
    assert uploads.images_editable(cast.acme_member, Order.objects.get(pk=order.pk)) is False


def test_a_single_style_guide_is_preselected(cast, web):
    form = web(cast.acme_member).get(reverse("jobs:order_create")).context["form"]
    assert form.initial["style_guide"] == cast.acme_guide
    manager_form = web(cast.account_manager).get(reverse("jobs:order_create")).context["form"]
    assert "style_guide" not in manager_form.initial  # two companies' guides: a real choice


def test_each_person_lands_where_their_work_is(cast, web):
    assert web(cast.retoucher).get("/")["Location"] == reverse("jobs:work_queue")
    assert web(cast.qc).get("/")["Location"] == reverse("jobs:qc_queue")
    assert web(cast.finance).get("/")["Location"] == reverse("billing:invoice_list")
    for person in (cast.acme_member, cast.acme_admin, cast.account_manager, cast.admin):
        assert web(person).get("/")["Location"] == reverse("jobs:order_list")


def test_a_finished_clock_says_how_long_the_work_took(cast, web):
    order = make_order(cast.acme, by=cast.acme_member, status=OrderStatus.DELIVERED, title="Done in time")
    now = timezone.now()
    Order.objects.filter(pk=order.pk).update(sla_target_hours=48, sla_consumed_seconds=3 * 3600 + 20 * 60,
                                             due_at=now + timedelta(days=1), delivered_at=now)
    page = web(cast.acme_member).get(reverse("jobs:order_detail", args=[order.pk])).content.decode()
    assert "The work took 3 h 20 min of the 48 business hours promised: delivered on time." in page
    assert "0.0 h used" not in page


# -- search --------------------------------------------------------------------------------------------------------

def test_search_finds_an_order_by_number_title_po_sku_or_file_name_the_viewer_may_see(cast, web):
    bridal = make_order(cast.acme, by=cast.acme_member, status=OrderStatus.IN_PRODUCTION, title="Bridal set")
    Order.objects.filter(pk=bridal.pk).update(po_number="PO-7731")
    ring, band = add_images(bridal, {"standard": 2})
    OrderImage.objects.filter(pk=ring.pk).update(sku="RING-0042", filename="solitaire_front.jpg")
    OrderImage.objects.filter(pk=band.pk).update(sku="BAND-0007", filename="eternity_band.jpg")
    globex = make_order(cast.globex, by=cast.globex_member, title="Globex RING-0042 lookalike")
    add_images(globex, {"standard": 1})
    OrderImage.objects.filter(order=globex).update(sku="RING-0042")
    for term in (bridal.number.lower(), "bridal", "po-7731", "ring-0042", "SOLITAIRE_FRONT"):
        assert [o.pk for o in order_list(cast.acme_member, search=term)] == [bridal.pk], term
    assert {o.pk for o in order_list(cast.account_manager, search="ring-0042")} == {bridal.pk, globex.pk}
    assert [o.pk for o in order_list(cast.globex_member, search="ring-0042")] == [globex.pk]  # never another tenant's
    # a retoucher finds the order by their own picture, not by a colleague's in the same order
    from jobs.models import Assignment

    Assignment.objects.create(image=ring, retoucher=cast.retoucher, assigned_by=cast.account_manager, minutes=30)
    assert [o.pk for o in order_list(cast.retoucher, search="solitaire")] == [bridal.pk]
    assert list(order_list(cast.retoucher, search="eternity")) == []
    body = api_for(cast.acme_member).get("/api/v1/orders/?search=BAND-0007").json()
    assert [o["id"] for o in body["results"]] == [str(bridal.pk)]
    assert "Bridal set" in web(cast.acme_member).get(reverse("jobs:order_list") + "?search=eternity").content.decode()


@pytest.mark.postgres
def test_every_searched_text_is_served_by_a_trigram_index_on_postgresql(cast):
    """With sequential scans priced out, the search still plans: each side of it reads its own indexes (at the
    demo's size PostgreSQL rightly prefers a scan; at a studio's five years the indexes are what keeps it fast)."""
    from django.db import connection, transaction

    from jobs.selectors import search_condition

    require_postgres()  # trigram indexes are PostgreSQL's; CI's PostgreSQL pass demands it (LOUPE_REQUIRE_POSTGRES)
    add_images(make_order(cast.acme, by=cast.acme_member, title="Bridal set"), {"standard": 2})
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Order.objects.filter(search_condition("RING-0042", cast.account_manager)).explain()
    assert "Seq Scan" not in plan, plan
    for index in ("order_number_trgm", "order_title_trgm", "order_po_number_trgm", "orderimage_sku_trgm",
                  "orderimage_filename_trgm"):
        assert index in plan, plan

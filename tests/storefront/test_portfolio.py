"""The public portfolio: pairs of approved work, shown only while the client's consent is in force, curated by
the studio's managers; a withdrawal takes a pair off the page, the API and the files at once."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from jobs.imaging import pairs
from jobs.models import Event, ImageStatus, Order, OrderImage, OrderStatus
from storefront import selectors, services, tasks
from storefront.models import PortfolioConsent, PortfolioPair
from tests.factories import delivered_with_previews

pytestmark = pytest.mark.django_db


def approved_order(client, title="Rings", count=2):
    delivery = delivered_with_previews(client, title, count=count)
    Order.objects.filter(pk=delivery.order_id).update(status=OrderStatus.COMPLETED)
    OrderImage.objects.filter(order=delivery.order_id).update(status=ImageStatus.APPROVED)
    order = Order.objects.select_related("client").get(pk=delivery.order_id)
    return order, list(OrderImage.objects.filter(order=order).order_by("filename"))


def shown_pair(cast, django_capture_on_commit_callbacks, *, title="Rose-gold solitaire"):
    order, images = approved_order(cast.acme)
    services.consent_give(order=order, by=cast.acme_admin)
    with django_capture_on_commit_callbacks(execute=True):
        pair = services.pair_create(image=images[0], by=cast.account_manager, title=title, service="colour",
                                    piece="ring")
    pair = services.pair_update(pair=PortfolioPair.objects.get(pk=pair.pk), by=cast.account_manager, published=True)
    return order, images, PortfolioPair.objects.get(pk=pair.pk)


def state():
    return (sorted(PortfolioConsent.objects.values_list("pk", "withdrawn_at")),
            sorted(PortfolioPair.objects.values_list("pk", "published", "before", "after")),
            Event.objects.filter(verb__startswith="portfolio.").count())


# -- the copies ---------------------------------------------------------------------------------------------

def webp(size, colour=(200, 160, 90)):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "WEBP")
    return out.getvalue()


def test_a_camera_frame_beside_a_square_version_is_shown_whole_on_the_versions_canvas():
    made = pairs.web_pair(webp((3000, 2000)), webp((2400, 2400), (20, 20, 20)), mark="Loupe Studio")
    assert (made.width, made.height) == (1200, 1200)
    with Image.open(io.BytesIO(made.before)) as before, Image.open(io.BytesIO(made.after)) as after:
        assert before.size == after.size == (1200, 1200)
        before = before.convert("RGB")
        # the 3:2 original fills the width, 800 px high, centred: white above and below, the picture between
        assert before.getpixel((600, 100)) == (255, 255, 255) and before.getpixel((600, 1100)) == (255, 255, 255)
        assert before.getpixel((600, 600))[0] in range(190, 211) and before.getpixel((5, 600))[0] in range(190, 211)


def test_a_small_picture_is_never_enlarged_and_the_mark_is_drawn():
    made = pairs.web_pair(webp((300, 200)), webp((400, 300), (20, 20, 20)), mark="Loupe Studio")
    assert (made.width, made.height) == (400, 300)
    plain = pairs.web_pair(webp((300, 200)), webp((400, 300), (20, 20, 20)), mark="")
    assert made.after != plain.after  # the corner carries the studio's name
    with Image.open(io.BytesIO(made.after)) as after:
        assert after.convert("L").crop((200, 250, 400, 300)).getextrema()[1] > 100  # light letters on dark


def test_copies_are_made_under_new_names_and_the_old_ones_deleted(cast, django_capture_on_commit_callbacks):
    _, _, pair = shown_pair(cast, django_capture_on_commit_callbacks)
    assert pair.copies_at and pair.before.startswith(f"portfolio/{pair.pk}/") and default_storage.exists(pair.before)
    old = [pair.before, pair.after]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.make_copies(str(pair.pk)) == "made"
    pair.refresh_from_db()
    assert pair.before not in old and default_storage.exists(pair.before)
    assert not any(default_storage.exists(key) for key in old)


def test_a_picture_without_previews_fails_with_its_reason_and_cannot_be_published(cast, django_capture_on_commit_callbacks):
    order, images = approved_order(cast.acme)
    OrderImage.objects.filter(pk=images[0].pk).update(preview="")
    services.consent_give(order=order, by=cast.acme_admin)
    with django_capture_on_commit_callbacks(execute=True):
        pair = services.pair_create(image=images[0], by=cast.account_manager, title="Ring", service="colour",
                                    piece="ring")
    pair.refresh_from_db()
    assert (pair.copies_at, pair.copy_error) == (None, "the original or the version has no preview yet")
    from agency.exceptions import InvalidTransition

    with pytest.raises(InvalidTransition, match="are not made yet: the original or the version has no preview yet"):
        services.pair_update(pair=pair, by=cast.account_manager, published=True)
    assert PortfolioPair.objects.get(pk=pair.pk).published is False


def test_a_damaged_preview_is_a_failed_copy_not_a_crash(cast, django_capture_on_commit_callbacks):
    order, images = approved_order(cast.acme)
    with default_storage.open(images[0].preview.name, "wb") as handle:
        handle.write(b"RIFF\x00\x00\x00\x00WEBPVP8 garbage")
    services.consent_give(order=order, by=cast.acme_admin)
    with django_capture_on_commit_callbacks(execute=True):
        pair = services.pair_create(image=images[0], by=cast.account_manager, title="Ring", service="colour",
                                    piece="ring")
    pair.refresh_from_db()
    assert pair.copies_at is None and pair.copy_error.startswith("the previews could not be read")


# -- consent ---------------------------------------------------------------------------------------------

def test_consent_for_the_whole_order_covers_its_pictures_and_giving_it_twice_changes_nothing(cast):
    order, images = approved_order(cast.acme)
    assert services.consent_give(order=order, by=cast.acme_admin) == 1
    before = state()
    assert services.consent_give(order=order, by=cast.acme_admin) == 0
    assert services.consent_give(order=order, by=cast.acme_admin, images=[images[0].pk]) == 0
    assert state() == before
    assert [allowed for _, allowed, _ in selectors.order_portfolio(cast.acme_member, order).pictures] == [True, True]
    event = Event.objects.get(order=order, verb="portfolio.consented")
    assert (event.audience, event.message) == ("client", "Acme Jewels lets the studio show all its approved pictures "
                                                         "on its public page")


def test_withdrawing_one_picture_of_a_shared_order_keeps_the_others_shared(cast, django_capture_on_commit_callbacks):
    order, images, pair = shown_pair(cast, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.consent_withdraw(order=order, by=cast.acme_admin, images=[images[0].pk]) == 1
    allowed = {image.pk: ok for image, ok, _ in selectors.order_portfolio(cast.acme_admin, order).pictures}
    assert allowed == {images[0].pk: False, images[1].pk: True}
    assert not selectors.public_pairs().exists()
    gone = PortfolioPair.objects.get(pk=pair.pk)
    assert (gone.published, gone.before, gone.after, gone.copies_at) == (False, "", "", None)
    assert not default_storage.exists(pair.before) and not default_storage.exists(pair.after)
    # the other picture can still be added
    other = services.pair_create(image=images[1], by=cast.account_manager, title="Band", service="detail", piece="ring")
    assert other.pk


def test_a_withdrawal_takes_the_pair_off_the_page_the_api_and_the_file_at_once(cast, client, api,
                                                                                 django_capture_on_commit_callbacks):
    order, _, pair = shown_pair(cast, django_capture_on_commit_callbacks)
    page = client.get(reverse("storefront:home")).content.decode()
    file_url = reverse("storefront:pair_file", args=[pair.pk, "after"])
    assert "Rose-gold solitaire" in page and file_url in page
    served = client.get(file_url)
    assert served.status_code == 200 and served["Content-Type"] == "image/webp"
    assert served["Cache-Control"] == "public, no-cache" and served["ETag"]
    # a cache asking again gets "not modified" while the pair is shown...
    assert client.get(file_url, HTTP_IF_NONE_MATCH=served["ETag"]).status_code == 304
    assert [p["title"] for p in api(None).get("/api/v1/public/portfolio/").json()["results"]] == ["Rose-gold solitaire"]
    services.consent_withdraw(order=order, by=cast.acme_admin)  # files not deleted yet: the rule alone takes it down
    assert "Rose-gold solitaire" not in client.get(reverse("storefront:home")).content.decode()
    assert client.get(file_url).status_code == 404
    assert client.get(file_url, HTTP_IF_NONE_MATCH=served["ETag"]).status_code == 404  # ...and not after
    assert api(None).get("/api/v1/public/portfolio/").json()["results"] == []


@pytest.mark.parametrize("who", ["acme_member", "account_manager", "admin"])
def test_only_the_companys_admins_give_or_withdraw_consent(cast, api, who):
    order, images = approved_order(cast.acme)
    before = state()
    url = f"/api/v1/orders/{order.pk}/portfolio-consent/"
    for method in ("post", "delete"):
        answer = getattr(api(getattr(cast, who)), method)(url, {}, format="json")
        assert answer.status_code == 403
        assert answer.json()["detail"] == "Only an admin of Acme Jewels decides what of its work is shown in public."
    assert state() == before


def test_another_companys_order_is_not_found(cast, api, web):
    order, _ = approved_order(cast.acme)
    before = state()
    assert api(cast.globex_admin).post(f"/api/v1/orders/{order.pk}/portfolio-consent/", {}, format="json").status_code == 404
    assert web(cast.globex_admin).post(reverse("storefront:order_portfolio", args=[order.pk]),
                                       {"action": "give"}).status_code == 404
    assert state() == before


def test_pictures_of_another_order_or_none_are_refused(cast, api):
    order, _ = approved_order(cast.acme)
    _, others = approved_order(cast.acme, "Pendants")
    before = state()
    url = f"/api/v1/orders/{order.pk}/portfolio-consent/"
    wrong = api(cast.acme_admin).post(url, {"images": [str(others[0].pk)]}, format="json")
    assert wrong.status_code == 400 and wrong.json()["errors"] == {"images": [f"Only pictures of {order.number} can be "
                                                                               "named here."]}
    empty = api(cast.acme_admin).post(url, {"images": []}, format="json")
    assert empty.status_code == 400 and "images" in empty.json()["errors"]
    assert api(cast.acme_admin).post(url, {"images": ["not-an-id"]}, format="json").status_code == 400
    assert state() == before


@pytest.mark.parametrize("status", [OrderStatus.DRAFT, OrderStatus.CANCELLED])
def test_nothing_of_a_draft_or_cancelled_order_is_shown(cast, api, status):
    order, _ = approved_order(cast.acme)
    Order.objects.filter(pk=order.pk).update(status=status)
    before = state()
    answer = api(cast.acme_admin).post(f"/api/v1/orders/{order.pk}/portfolio-consent/", {}, format="json")
    assert answer.status_code == 409 and "nothing of it can be shown" in answer.json()["detail"]
    assert state() == before


def test_the_api_gives_reads_and_withdraws(cast, api):
    order, images = approved_order(cast.acme)
    url = f"/api/v1/orders/{order.pk}/portfolio-consent/"
    given = api(cast.acme_admin).post(url, {"images": [str(images[1].pk)]}, format="json")
    assert given.status_code == 200
    assert given.json()["whole_order"] is False
    assert [(p["filename"], p["allowed"], p["shown"]) for p in given.json()["pictures"]] == [
        (images[0].filename, False, False), (images[1].filename, True, False)]
    assert api(cast.account_manager).get(url).json() == given.json()
    withdrawn = api(cast.acme_admin).delete(url, {"images": [str(images[1].pk)]}, format="json")
    assert [p["allowed"] for p in withdrawn.json()["pictures"]] == [False, False]


def test_the_order_page_offers_consent_to_admins_only(cast, web):
    order, images = approved_order(cast.acme)
    panel = reverse("storefront:order_portfolio", args=[order.pk])
    admin_view = web(cast.acme_admin).get(panel).content.decode()
    assert "Allow the whole order" in admin_view and images[0].filename in admin_view
    member_view = web(cast.acme_member).get(panel).content.decode()
    assert "Allow" not in member_view and "has not agreed" in member_view
    assert web(cast.retoucher).get(panel).status_code == 404
    answer = web(cast.acme_admin).post(panel, {"action": "give", "image": [str(images[0].pk)]})
    assert answer.status_code == 302 and answer["Location"].endswith("#portfolio")
    assert list(PortfolioConsent.objects.values_list("image", flat=True)) == [images[0].pk]
    refused = web(cast.acme_member).post(panel, {"action": "give"})
    assert refused.status_code == 403 and "Only an admin of Acme Jewels decides" in refused.content.decode()
    finance = web(cast.finance).post(panel, {"action": "give"})
    assert finance.status_code == 403 and "Only an admin of Acme Jewels decides" in finance.content.decode()
    assert list(PortfolioConsent.objects.values_list("image", flat=True)) == [images[0].pk]
    detail = web(cast.acme_admin).get(reverse("jobs:order_detail", args=[order.pk])).content.decode()
    assert panel in detail


# -- curation ----------------------------------------------------------------------------------------------

def test_a_picture_without_consent_or_not_approved_cannot_be_added(cast, api):
    from agency.exceptions import InvalidTransition

    order, images = approved_order(cast.acme)
    with pytest.raises(InvalidTransition, match="Acme Jewels has not agreed to show"):
        services.pair_create(image=images[0], by=cast.account_manager, title="Ring", service="colour", piece="ring")
    services.consent_give(order=order, by=cast.acme_admin)
    OrderImage.objects.filter(pk=images[1].pk).update(status=ImageStatus.REVISION_REQUESTED)
    answer = api(cast.account_manager).post("/api/v1/portfolio/", {
        "image": str(images[1].pk), "title": "Ring", "service": "colour", "piece": "ring"}, format="json")
    assert answer.status_code == 409 and "only a picture its client approved can be shown" in answer.json()["detail"]
    assert not PortfolioPair.objects.exists()


@pytest.mark.parametrize("body,field", [({"title": "  "}, "title"), ({"service": "magic"}, "service"),
                                        ({"piece": "crown"}, "piece"), ({"position": -1}, "position")])
def test_bad_descriptions_are_refused(cast, api, body, field):
    order, images = approved_order(cast.acme)
    services.consent_give(order=order, by=cast.acme_admin)
    answer = api(cast.account_manager).post("/api/v1/portfolio/", {
        "image": str(images[0].pk), "title": "Ring", "service": "colour", "piece": "ring", **body}, format="json")
    assert answer.status_code == 400 and field in answer.json()["errors"]
    assert not PortfolioPair.objects.exists()


def test_adding_twice_is_refused_and_the_studio_publishes_orders_and_removes(cast, api, django_capture_on_commit_callbacks):
    order, images = approved_order(cast.acme)
    services.consent_give(order=order, by=cast.acme_admin)
    body = {"image": str(images[0].pk), "title": "Solitaire", "service": "shine", "piece": "ring"}
    with django_capture_on_commit_callbacks(execute=True):
        made = api(cast.account_manager).post("/api/v1/portfolio/", body, format="json")
    assert made.status_code == 201 and made.json()["shown"] is False
    again = api(cast.account_manager).post("/api/v1/portfolio/", body, format="json")
    assert again.status_code == 409 and again.json()["detail"] == f"{images[0].filename} is already in the portfolio."
    pk = made.json()["id"]
    shown = api(cast.account_manager).patch(f"/api/v1/portfolio/{pk}/", {"published": True, "position": 3}, format="json")
    assert shown.status_code == 200 and (shown.json()["shown"], shown.json()["position"]) == (True, 3)
    assert Event.objects.filter(order=order, verb="portfolio.shown").count() == 1
    api(cast.account_manager).patch(f"/api/v1/portfolio/{pk}/", {"published": True}, format="json")  # twice: no new line
    assert Event.objects.filter(order=order, verb="portfolio.shown").count() == 1
    # the client reads its own pairs; another company and the public API do not name them
    assert [p["id"] for p in api(cast.acme_member).get("/api/v1/portfolio/").json()["results"]] == [pk]
    assert api(cast.globex_admin).get("/api/v1/portfolio/").json()["results"] == []
    assert "Acme" not in api(None).get("/api/v1/public/portfolio/").content.decode()
    keys = PortfolioPair.objects.values_list("before", "after").get(pk=pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert api(cast.account_manager).delete(f"/api/v1/portfolio/{pk}/").status_code == 204
    assert not PortfolioPair.objects.exists() and not any(default_storage.exists(k) for k in keys)
    assert Event.objects.filter(order=order, verb="portfolio.hidden").count() == 1


@pytest.mark.parametrize("who,code", [("acme_admin", 403), ("retoucher", 404), ("qc", 404), ("finance", 403)])
def test_only_managers_curate(cast, api, web, who, code, django_capture_on_commit_callbacks):
    order, images, pair = shown_pair(cast, django_capture_on_commit_callbacks)
    before = state()
    user = getattr(cast, who)
    assert api(user).patch(f"/api/v1/portfolio/{pair.pk}/", {"published": False}, format="json").status_code == code
    assert api(user).delete(f"/api/v1/portfolio/{pair.pk}/").status_code == code
    assert web(user).get(reverse("storefront:portfolio_manage")).status_code == 403
    assert state() == before


def test_a_pair_whose_consent_was_withdrawn_cannot_be_published_again(cast, django_capture_on_commit_callbacks):
    from agency.exceptions import InvalidTransition

    order, images, pair = shown_pair(cast, django_capture_on_commit_callbacks)
    services.consent_withdraw(order=order, by=cast.acme_admin)
    with pytest.raises(InvalidTransition, match="Acme Jewels no longer lets the studio show"):
        services.pair_update(pair=pair, by=cast.account_manager, published=True)
    # copies made after a withdrawal are thrown away, not kept
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.make_copies(str(pair.pk)) == "not allowed"
    assert PortfolioPair.objects.get(pk=pair.pk).before == ""


def test_the_managers_page_lists_pairs_and_candidates_and_adds(cast, web, django_capture_on_commit_callbacks):
    order, images = approved_order(cast.acme, count=3)
    services.consent_give(order=order, by=cast.acme_admin)
    page = web(cast.account_manager)
    listing = page.get(reverse("storefront:portfolio_manage")).content.decode()
    assert all(image.filename in listing for image in images)
    with django_capture_on_commit_callbacks(execute=True):
        added = page.post(reverse("storefront:portfolio_manage"), {
            "image": str(images[0].pk), "new-title": "Halo ring", "new-service": "detail", "new-piece": "ring"})
    assert added.status_code == 302
    pair = PortfolioPair.objects.get()
    assert (pair.title, pair.service, pair.copies_at is not None) == ("Halo ring", "detail", True)
    refused = page.post(reverse("storefront:portfolio_manage"), {
        "image": str(images[1].pk), "new-title": "", "new-service": "detail", "new-piece": "ring"})
    assert refused.status_code == 400 and PortfolioPair.objects.count() == 1
    assert page.post(reverse("storefront:pair_edit", args=[pair.pk]), {"action": "publish"}).status_code == 302
    assert selectors.public_pairs().get() == pair
    saved = page.post(reverse("storefront:pair_edit", args=[pair.pk]), {
        "action": "save", "title": "Halo ring, pavé", "service": "detail", "piece": "ring", "position": "2"})
    assert saved.status_code == 302 and PortfolioPair.objects.get().title == "Halo ring, pavé"


def test_the_public_page_filters_by_service_and_piece(cast, client, django_capture_on_commit_callbacks):
    _, _, pair = shown_pair(cast, django_capture_on_commit_callbacks)
    assert pair.title in client.get(reverse("storefront:home") + "?service=colour&piece=ring").content.decode()
    other = client.get(reverse("storefront:home") + "?service=shine").content.decode()
    assert pair.title not in other and "Nothing shown for this choice yet" in other
    assert pair.title in client.get(reverse("storefront:home") + "?service=<script>").content.decode()  # ignored
    assert client.get("/api/v1/public/portfolio/?piece=crown").status_code == 400
    assert client.get(reverse("storefront:pair_file", args=[pair.pk, "middle"])).status_code == 404


def test_the_public_page_runs_a_fixed_number_of_queries(cast, client, django_capture_on_commit_callbacks,
                                                        django_assert_max_num_queries):
    shown_pair(cast, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(5):
        client.get(reverse("storefront:home"))
    order, images = approved_order(cast.acme, "Pendants", count=4)
    services.consent_give(order=order, by=cast.acme_admin)
    for n, image in enumerate(images):
        with django_capture_on_commit_callbacks(execute=True):
            made = services.pair_create(image=image, by=cast.account_manager, title=f"P{n}", service="colour",
                                        piece="necklace")
        services.pair_update(pair=made, by=cast.account_manager, published=True)
    with django_assert_max_num_queries(5):
        assert client.get(reverse("storefront:home")).content.decode().count("data-pair") == 5


def test_the_public_rule_itself_requires_consent_in_force_whatever_the_pairs_flags_say(
        cast, client, django_capture_on_commit_callbacks):
    """The page does not trust the take-down alone: a consent ended any other way (a per-picture consent
    withdrawn while the pair still says "published") hides the pair too."""
    from django.utils import timezone

    order, images, pair = shown_pair(cast, django_capture_on_commit_callbacks)
    assert selectors.public_pairs().get() == pair
    PortfolioConsent.objects.filter(order=order).update(withdrawn_at=timezone.now())
    assert PortfolioPair.objects.get(pk=pair.pk).published is True
    assert not selectors.public_pairs().exists()
    assert client.get(reverse("storefront:pair_file", args=[pair.pk, "after"])).status_code == 404
    # a consent for this picture alone shows it again
    PortfolioConsent.objects.create(client=cast.acme, order=order, image=images[0], given_by=cast.acme_admin)
    assert selectors.public_pairs().get() == pair
    # one for another picture of the order does not
    PortfolioConsent.objects.filter(image=images[0]).update(withdrawn_at=timezone.now())
    PortfolioConsent.objects.create(client=cast.acme, order=order, image=images[1], given_by=cast.acme_admin)
    assert not selectors.public_pairs().exists()


def test_the_sitemap_lists_the_public_pages_and_the_views_that_show_work(cast, client, django_capture_on_commit_callbacks,
                                                                         settings):
    settings.LOUPE_BASE_URL = "https://retouch.example.test"
    empty = client.get("/sitemap.xml")
    assert empty.status_code == 200 and empty["Content-Type"] == "application/xml"
    urls = re.findall(r"<loc>([^<]+)</loc>", empty.content.decode())
    assert urls == ["https://retouch.example.test/studio/", "https://retouch.example.test/studio/estimate/",
                    "https://retouch.example.test/studio/trial/"]
    order, _, pair = shown_pair(cast, django_capture_on_commit_callbacks)
    listed = client.get("/sitemap.xml").content.decode()
    assert f"<loc>https://retouch.example.test/studio/?service={pair.service}</loc>" in listed
    assert f"<loc>https://retouch.example.test/studio/?piece={pair.piece}</loc>" in listed
    assert "<lastmod>" in listed
    services.consent_withdraw(order=order, by=cast.acme_admin)  # withdrawn: its views leave the map
    assert "?service=" not in client.get("/sitemap.xml").content.decode()
    robots = client.get("/robots.txt").content.decode()
    assert robots.splitlines() == ["User-agent: *", "Allow: /studio/", "Disallow: /",
                                   "Sitemap: https://retouch.example.test/sitemap.xml"]

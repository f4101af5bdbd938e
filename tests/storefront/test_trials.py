"""Free trials (issue 23, storefront/trials.py): a prospect's request, refused field by field for bad input and
writing nothing then; a manager's answer, accepting (the company, its admin invited, its first style guide and a
free first order that is a pilot, all at once, or nothing) or declining with a reason the prospect is mailed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.test import override_settings
from django.utils import timezone

from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import Role, User
from billing import services as quoting
from billing import workflow as quotes
from clients.models import Client, Membership, StyleGuide
from jobs import workflow
from jobs.models import (
    Delivery,
    DeliveryItem,
    DeliveryStatus,
    ImageStatus,
    Order,
    OrderImage,
    OrderStatus,
    PilotStatus,
    Version,
    VersionStatus,
)
from jobs.production import pilots
from storefront import trials
from storefront.models import Estimate, TrialRequest, TrialStatus
from tests.conftest import api_for, web_for
from tests.factories import add_images, default_price_list
from tests.pages import page_text

pytestmark = pytest.mark.django_db
URL = "/api/v1/public/trials/"
GOOD = {"company": "Maison Opale", "contact_name": "Inès Laurent", "email": "Ines@Opale.test", "country": "fr",
        "vat_number": "FR40303265045", "pictures": 8, "services": ["colour-correction", "background-removal"],
        "message": "Rings on white, soft shadow."}


def _counts():
    return (TrialRequest.objects.count(), Client.objects.count(), User.objects.count(), Order.objects.count(),
            StyleGuide.objects.count())


def _request(**changes):
    fields = {**GOOD, **changes}
    return trials.trial_request(**fields)


def test_a_prospect_asks_on_the_api_and_the_managers_hear_of_it(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = HttpClient().post(URL, GOOD, content_type="application/json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["status"] == "requested" and body["pictures"] == 8 and "by e-mail" in body["next"]
    trial = TrialRequest.objects.get(pk=body["id"])
    assert (trial.email, trial.country, trial.vat_number, trial.services) == (
        "ines@opale.test", "FR", "FR40303265045", ["colour-correction", "background-removal"])
    assert trial.ip_address == "127.0.0.1"  # the address agency.auth.client_ip names (behind a proxy: its client's)
    assert cast.account_manager.notifications.filter(kind="trial_requested").exists()
    assert any("Maison Opale asks for a free trial of 8 pictures" in m.subject for m in mail.outbox)


BAD = [
    ("no company", {"company": "  "}, "company"),
    ("a bad address", {"email": "ines@"}, "email"),
    ("an unknown country", {"country": "XX"}, "country"),
    ("a VAT id of another country", {"vat_number": "DE811128135"}, "vat_number"),
    ("no service", {"services": []}, "services"),
    ("an unknown service", {"services": ["gold-plating"]}, "services"),
    ("no pictures", {"pictures": 0}, "pictures"),
    ("more than offered", {"pictures": 11}, "pictures"),
    ("an expired estimate", {"estimate": "9f0c3a57-8f4a-4a62-9b64-3c2a4d8e1f00"}, "estimate"),
]


@pytest.mark.parametrize("label,change,field", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_name_their_field_and_write_nothing(cast, label, change, field):
    before = _counts()
    answer = HttpClient().post(URL, {**GOOD, **change}, content_type="application/json")
    assert answer.status_code == 400, label
    assert field in str(answer.json()), answer.json()
    assert _counts() == before


def test_the_offer_is_the_boundary_and_none_means_no_trials(cast):
    assert _request(pictures=10).pictures == 10  # LOUPE_TRIAL_PICTURES, the default offer
    with pytest.raises(RuleViolation, match="up to 10 pictures"):
        _request(pictures=11)
    with override_settings(LOUPE_TRIAL_PICTURES=0), pytest.raises(RuleViolation, match="does not offer"):
        _request()


def test_a_request_from_an_estimate_keeps_its_figures(cast):
    estimate = Estimate.objects.create(expires_at=timezone.now() + timedelta(hours=3), services=["colour-correction"],
                                       turnaround="standard", count=120, price=Decimal("342.00"), currency="EUR")
    page = HttpClient().get(f"/studio/trial/?estimate={estimate.pk}")
    assert "Following your estimate: 120 pictures, 342.00 EUR net" in page_text(page.content)
    trial = _request(estimate_id=estimate.pk)
    assert trial.estimate_summary.startswith("120 pictures: 342.00 EUR net")


def test_accepting_creates_the_company_its_admin_its_guide_and_a_free_pilot_order(cast,
                                                                                   django_capture_on_commit_callbacks):
    trial = _request()
    with django_capture_on_commit_callbacks(execute=True):
        answer = api_for(cast.account_manager).post(f"/api/v1/trials/{trial.pk}/accept/")
    assert answer.status_code == 200, answer.content
    trial.refresh_from_db()
    client = trial.client
    assert (trial.status, client.name, client.billing_country, client.vat_number, client.account_manager) == (
        TrialStatus.ACCEPTED, "Maison Opale", "FR", "FR40303265045", cast.account_manager)
    admin = Membership.objects.get(client=client).user
    assert (admin.email, admin.full_name, admin.role, admin.has_usable_password()) == (
        "ines@opale.test", "Inès Laurent", Role.CLIENT_ADMIN, False)
    assert any(m.to == ["ines@opale.test"] and "invited you" in m.subject for m in mail.outbox)
    order = trial.order
    assert (order.client, order.status, order.free_pictures, order.title) == (client, OrderStatus.DRAFT, 8,
                                                                              "Free trial: 8 pictures")
    assert sorted(order.services.values_list("code", flat=True)) == ["background-removal", "colour-correction"]
    assert "Rings on white, soft shadow." in order.style_guide.notes
    # answering twice is refused and changes nothing
    again = api_for(cast.account_manager).post(f"/api/v1/trials/{trial.pk}/accept/")
    assert again.status_code == 409 and "is accepted" in again.json()["detail"]
    assert Client.objects.filter(name="Maison Opale").count() == 1


def test_the_free_order_is_at_most_its_pictures_costs_nothing_and_is_a_pilot(cast):
    default_price_list()
    trial = trials.trial_accept(trial=_request(pictures=3), by=cast.account_manager)
    order = trial.order
    admin = User.objects.get(email="ines@opale.test")
    add_images(order, {"standard": 3, "complex": 1})
    before = Order.objects.get(pk=order.pk).status
    with pytest.raises(RuleViolation, match="free trial of at most 3 pictures; remove 1"):
        workflow.order_submit(order_id=order.pk, by=admin)
    assert Order.objects.get(pk=order.pk).status == before
    OrderImage.objects.filter(order=order, complexity="complex").delete()
    workflow.order_submit(order_id=order.pk, by=admin)
    with pytest.raises(InvalidTransition, match="free trial: every picture of it is the pilot"):
        pilots.pilot_choose(order=order, by=cast.account_manager, images=[])
    quote = quoting.quote_draft(order=order, by=cast.account_manager)
    assert (quote.total, quote.net_total, quote.minimum_order) == (Decimal("0.00"), Decimal("0.00"), Decimal("0"))
    lines = list(quote.lines.values_list("kind", "description", "amount"))
    assert lines[-1][:2] == ("discount", "Free trial (3 pictures)") and lines[-1][2] < 0
    quotes.quote_send(quote=quote, by=cast.account_manager)
    quotes.quote_accept(quote=quote, by=admin)
    order.refresh_from_db()
    assert order.pilot_status == PilotStatus.RUNNING
    assert sorted(OrderImage.objects.filter(order=order).values_list("in_pilot", "status")) == [
        (True, ImageStatus.RECEIVED)] * 3
    # the trial's changes go into the style guide when it is approved, and the order completes
    pictures = list(OrderImage.objects.filter(order=order))
    delivery = Delivery.objects.create(order=order, number=1, status=DeliveryStatus.READY, archive="d.zip")
    for image in pictures:
        version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file="v.png",
                                         preview="p.webp", created_by=cast.retoucher, width=2400, height=2400)
        DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    OrderImage.objects.filter(order=order).update(status=ImageStatus.DELIVERED)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED)
    guide = order.style_guide
    answer = api_for(admin).post(f"/api/v1/orders/{order.pk}/review/", {"items": [
        {"image": str(i.pk), "decision": "approve"} for i in pictures]}, format="json")
    assert answer.status_code == 200, answer.content
    order.refresh_from_db()
    assert (order.status, order.pilot_status, order.style_guide_id) == (OrderStatus.COMPLETED, PilotStatus.APPROVED,
                                                                        guide.pk)


def test_accepting_a_known_company_or_address_creates_nothing(cast):
    Client.objects.create(name="MAISON OPALE")
    trial = _request()
    before = _counts()
    with pytest.raises(RuleViolation, match="already a client"):
        trials.trial_accept(trial=trial, by=cast.account_manager)
    assert _counts() == before and TrialRequest.objects.get(pk=trial.pk).status == TrialStatus.REQUESTED
    taken = _request(company="Opale Paris", email=cast.acme_member.email)
    before = _counts()
    with pytest.raises(RuleViolation, match="cannot be invited"):
        trials.trial_accept(trial=taken, by=cast.account_manager)
    assert _counts() == before and TrialRequest.objects.get(pk=taken.pk).status == TrialStatus.REQUESTED


def test_declining_needs_a_reason_and_tells_the_prospect(cast, django_capture_on_commit_callbacks):
    trial = _request()
    manager = api_for(cast.account_manager)
    refused = manager.post(f"/api/v1/trials/{trial.pk}/decline/", {"reason": "  "}, format="json")
    assert refused.status_code == 400 and TrialRequest.objects.get(pk=trial.pk).status == TrialStatus.REQUESTED
    with django_capture_on_commit_callbacks(execute=True):
        answer = manager.post(f"/api/v1/trials/{trial.pk}/decline/", {"reason": "We do not retouch watches."},
                              format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "declined"
    sent = [m for m in mail.outbox if m.to == ["ines@opale.test"]]
    assert len(sent) == 1 and "We do not retouch watches." in sent[0].body
    assert manager.post(f"/api/v1/trials/{trial.pk}/accept/").status_code == 409
    assert Client.objects.filter(name="Maison Opale").count() == 0


@pytest.mark.parametrize("persona", ["acme_admin", "acme_member", "retoucher", "qc", "finance"])
def test_only_the_studios_managers_read_and_answer_trials(cast, persona):
    trial = _request()
    user = getattr(cast, persona)
    api = api_for(user)
    assert api.get("/api/v1/trials/").status_code == 403
    assert api.post(f"/api/v1/trials/{trial.pk}/accept/").status_code == 404  # outside their scope
    with pytest.raises(NotPermitted):
        trials.trial_decline(trial=trial, by=user, reason="No")
    assert web_for(user).get(f"/trials/{trial.pk}/").status_code in (403, 404)
    assert TrialRequest.objects.get(pk=trial.pk).status == TrialStatus.REQUESTED


def test_the_pages_a_prospect_and_a_manager_use(cast):
    visitor = HttpClient()
    form = page_text(visitor.get("/studio/trial/").content)
    assert "Up to 10 of your pictures, retouched free of charge" in form
    bad = visitor.post("/studio/trial/", {**GOOD, "country": "XX", "services": GOOD["services"]})
    assert bad.status_code == 400 and TrialRequest.objects.count() == 0
    sent = visitor.post("/studio/trial/", {**GOOD, "services": GOOD["services"]})
    assert sent.status_code == 302 and sent["Location"] == "/studio/trial/sent/"
    trial = TrialRequest.objects.get()
    web = web_for(cast.account_manager)
    listing = page_text(web.get("/trials/").content)
    assert "Maison Opale" in listing and "Inès Laurent" in listing
    declined = web.post(f"/trials/{trial.pk}/", {"action": "decline", "reason": ""})
    assert declined.status_code == 400 and TrialRequest.objects.get().status == TrialStatus.REQUESTED
    accepted = web.post(f"/trials/{trial.pk}/", {"action": "accept"})
    assert accepted.status_code == 302
    trial.refresh_from_db()
    detail = page_text(web.get(f"/trials/{trial.pk}/").content)
    assert f"free trial order {trial.order.number}" in detail
    twice = web.post(f"/trials/{trial.pk}/", {"action": "accept"})
    assert twice.status_code == 409 and Client.objects.filter(name="Maison Opale").count() == 1


def test_answering_a_trial_needs_a_request_waiting(cast):
    trial = _request()
    TrialRequest.objects.filter(pk=trial.pk).update(status=TrialStatus.DECLINED)
    trial.refresh_from_db()
    with pytest.raises(InvalidTransition, match="is declined"):
        trials.trial_accept(trial=trial, by=cast.account_manager)

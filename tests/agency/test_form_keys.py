"""Every click is safe: a page form sent twice with its one-time key acts once (the second answer is the
first one's, and says so), a key sent again with other values is refused, and QC's decision names the
version and state it was taken on."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from agency.calendar import studio_today
from agency.idempotency import OTHER_VALUES, SENT_TWICE
from billing.models import Invoice, Payment
from tests.billing.invoicing_setup import address, billing_profile, issued_invoice
from tests.conftest import web_for
from tests.factories import default_price_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(cast):
    default_price_list()
    billing_profile()
    address(cast.acme)
    return issued_invoice(cast.acme, cast)


def _pay(web, invoice, key, amount):
    data = {"amount": str(amount), "received_on": str(studio_today()), "method": "transfer", "reference": "SEPA"}
    return web.post(f"/invoices/{invoice.pk}/pay/", {**data, **({"form_key": key} if key else {})}, follow=True)


def test_record_payment_sent_twice_books_the_balance_once(cast, invoice):
    web = web_for(cast.finance)
    key = str(uuid.uuid4())
    first = _pay(web, invoice, key, invoice.total)
    assert first.status_code == 200 and SENT_TWICE not in first.content.decode()
    again = _pay(web, invoice, key, invoice.total)
    assert again.redirect_chain == first.redirect_chain  # the same answer: back to the invoice
    assert SENT_TWICE in again.content.decode()
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert Invoice.objects.get(pk=invoice.pk).paid_total == invoice.total


def test_a_new_key_is_a_new_action_and_no_key_is_as_before(cast, invoice):
    web = web_for(cast.finance)
    _pay(web, invoice, str(uuid.uuid4()), Decimal("10.00"))
    _pay(web, invoice, str(uuid.uuid4()), Decimal("10.00"))
    _pay(web, invoice, None, Decimal("10.00"))
    assert Payment.objects.filter(invoice=invoice).count() == 3


def test_a_key_sent_again_with_other_values_is_refused_and_changes_nothing(cast, invoice):
    web = web_for(cast.finance)
    key = str(uuid.uuid4())
    _pay(web, invoice, key, Decimal("10.00"))
    other = web.post(f"/invoices/{invoice.pk}/pay/", {"amount": "20.00", "received_on": str(studio_today()),
                                                      "method": "transfer", "form_key": key})
    assert other.status_code == 409 and f'<p class="refused-reason">{OTHER_VALUES}</p>' in other.content.decode()
    assert [p.amount for p in Payment.objects.filter(invoice=invoice)] == [Decimal("10.00")]


def test_keys_are_per_person(cast, invoice):
    """Another person's form with the same key is their own action (keys never collide across people)."""
    from tests.factories import UserFactory

    key = str(uuid.uuid4())
    _pay(web_for(cast.finance), invoice, key, Decimal("10.00"))
    colleague = UserFactory(role=cast.finance.role)
    _pay(web_for(colleague), invoice, key, Decimal("10.00"))
    assert Payment.objects.filter(invoice=invoice).count() == 2


def test_a_refusal_is_answered_again_without_running_again(cast, invoice):
    web = web_for(cast.finance)
    key = str(uuid.uuid4())
    data = {"amount": str(invoice.total + 1), "received_on": str(studio_today()), "method": "transfer", "form_key": key}
    first = web.post(f"/invoices/{invoice.pk}/pay/", data)
    again = web.post(f"/invoices/{invoice.pk}/pay/", data)
    assert first.status_code == again.status_code == 400 and "is due" in again.content.decode()
    assert again["Idempotent-Replayed"] == "true" and not Payment.objects.exists()


class _FakeClock:
    """The repeat's waiting, without waiting: ``sleep`` moves ``monotonic`` on (in tenths, exactly) and
    runs ``on_sleep`` (the first post finishing, or giving its key up, while the repeat waits)."""

    def __init__(self, monkeypatch, on_sleep=None):
        import agency.idempotency

        self.tenths, self.naps, self.on_sleep = 0, [], on_sleep
        monkeypatch.setattr(agency.idempotency.time, "monotonic", lambda: self.tenths / 10)
        monkeypatch.setattr(agency.idempotency.time, "sleep", self.sleep)

    def sleep(self, seconds):
        self.naps.append(seconds)
        self.tenths += round(seconds * 10)
        if self.on_sleep:
            self.on_sleep(len(self.naps))


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """Every test here waits on the fake clock: a broken wait fails at once instead of taking 20 s."""
    return _FakeClock(monkeypatch)


def _as_if_still_running(key):
    from agency.models import IdempotencyKey

    row = IdempotencyKey.objects.get(key=f"form:{key}")
    answer = {f: getattr(row, f) for f in ("status_code", "content_type", "location", "body")}
    IdempotencyKey.objects.filter(pk=row.pk).update(status_code=None, location="", body=b"")
    return row, answer


def test_a_repeat_while_the_first_runs_waits_for_its_answer_looking_every_tenth_of_a_second(cast, invoice, clock):
    from agency.models import IdempotencyKey

    web = web_for(cast.finance)
    key = str(uuid.uuid4())
    first = _pay(web, invoice, key, Decimal("10.00"))
    row, answer = _as_if_still_running(key)
    clock.on_sleep = lambda naps: naps == 3 and IdempotencyKey.objects.filter(pk=row.pk).update(**answer)
    again = _pay(web, invoice, key, Decimal("10.00"))
    assert clock.naps == [0.1, 0.1, 0.1]  # it answered as soon as the first had
    assert again.redirect_chain == first.redirect_chain and SENT_TWICE in again.content.decode()
    assert [p.amount for p in Payment.objects.filter(invoice=invoice)] == [Decimal("10.00")]


def test_a_repeat_gives_up_after_twenty_seconds_and_says_so(cast, invoice, clock):
    from agency.idempotency import WAIT_FOR_FIRST_SECONDS

    web = web_for(cast.finance)
    key = str(uuid.uuid4())
    _pay(web, invoice, key, Decimal("10.00"))
    _as_if_still_running(key)
    again = _pay(web, invoice, key, Decimal("10.00"))
    assert WAIT_FOR_FIRST_SECONDS == 20 and len(clock.naps) == 200  # looked until the 20th second, not after
    assert again.status_code == 409
    assert ('<p class="refused-reason">That form is still being processed; reload the page in a moment.</p>'
            in again.content.decode())
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_a_repeat_runs_when_the_first_gave_its_key_up_while_it_waited(cast, invoice, clock):
    """The first post failed (an error lets its key go): the repeat is the one that acts, once."""
    from agency.models import IdempotencyKey

    web = web_for(cast.finance)
    key = str(uuid.uuid4())
    _pay(web, invoice, key, Decimal("10.00"))
    row, _ = _as_if_still_running(key)
    Payment.objects.filter(invoice=invoice).delete()  # as if the first had rolled back
    clock.on_sleep = lambda naps: IdempotencyKey.objects.filter(pk=row.pk).delete()
    again = _pay(web, invoice, key, Decimal("10.00"))
    assert again.status_code == 200 and SENT_TWICE not in again.content.decode()
    assert [p.amount for p in Payment.objects.filter(invoice=invoice)] == [Decimal("10.00")]


def test_a_repeat_of_a_finished_form_does_not_wait(cast, invoice, clock):
    web = web_for(cast.finance)
    key = str(uuid.uuid4())
    _pay(web, invoice, key, Decimal("10.00"))
    _pay(web, invoice, key, Decimal("10.00"))
    assert clock.naps == []

"""The quality report's closed months, tallied by the worker (jobs.quality): the report reads the same figures
before and after the tally, reads the tallies (not the rows) for tallied months, counts later months live, and
the daily run counts the last closed month again."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from jobs import quality
from jobs.models import Complexity, ImageStatus, OrderImage, OrderStatus, QualityTally, Version, VersionStatus
from jobs.tasks import tally_quality
from tests.factories import add_images, make_order

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=BERLIN)


def _approved(order, retoucher, when, *, rejected_first=False, overridden=False):
    image = add_images(order, {"standard": 1}, status=ImageStatus.APPROVED)[0]
    OrderImage.objects.filter(pk=image.pk).update(
        approved_at=when, created_at=when, complexity_estimate=Complexity.SIMPLE if overridden else Complexity.STANDARD)
    if rejected_first:
        Version.objects.create(image=image, number=1, status=VersionStatus.FAILED, created_by=retoucher, qc_at=when)
    Version.objects.create(image=image, number=2 if rejected_first else 1, status=VersionStatus.PASSED,
                           created_by=retoucher, qc_at=when)
    return image


@pytest.fixture
def history(cast):
    order = make_order(cast.acme, by=cast.acme_member, status=OrderStatus.COMPLETED)
    other = make_order(cast.globex, by=cast.globex_member, status=OrderStatus.COMPLETED)
    # January: Acme 2 (one sent back by QC), February: Acme 1 graded otherwise, Globex 1; March (now): Acme 1
    _approved(order, cast.retoucher, datetime(2026, 1, 10, 9, tzinfo=BERLIN), rejected_first=True)
    _approved(order, cast.retoucher, datetime(2026, 1, 31, 23, 30, tzinfo=BERLIN))  # Berlin's January, UTC's too
    _approved(order, cast.retoucher_other, datetime(2026, 2, 1, 0, 30, tzinfo=BERLIN), overridden=True)  # UTC: 31 Jan
    _approved(other, cast.retoucher_other, datetime(2026, 2, 20, 9, tzinfo=BERLIN))
    _approved(order, cast.retoucher, datetime(2026, 3, 2, 9, tzinfo=BERLIN))
    return order, other


def test_the_report_is_the_same_counted_live_or_from_the_tallies(cast, history):
    with time_machine.travel(NOW, tick=False):
        live = quality.report(cast.account_manager)
        assert QualityTally.objects.count() == 0
        assert tally_quality() > 0
        tallied = quality.report(cast.account_manager)
    assert tallied == live
    months = [row["key"].date() for row in live["ftar_month"]]
    assert [(m.year, m.month) for m in months] == [(2026, 1), (2026, 2), (2026, 3)]
    assert [row["images"] for row in live["ftar_month"]] == [2, 2, 1]  # the studio's months, not UTC's
    qc = {row["key"]: (row["rejected"], row["reviewed"]) for row in live["qc_retoucher"]}
    assert qc == {cast.retoucher.full_name: (1, 4), cast.retoucher_other.full_name: (0, 2)}
    overrides = {row["key"]: (row["overridden"], row["measured"]) for row in live["override_client"]}
    assert overrides == {"Acme Jewels": (1, 4), cast.globex.name: (0, 1)}
    # the current month is never tallied: it is still moving
    assert set(QualityTally.objects.values_list("month", flat=True)) == {datetime(2026, 1, 1).date(),
                                                                          datetime(2026, 2, 1).date()}


def test_tallied_months_are_read_from_the_tallies_and_later_months_live(cast, history):
    order, _ = history
    with time_machine.travel(NOW, tick=False):
        tally_quality()
        before = quality.report(cast.account_manager)
        # January's rows change behind the tally's back: the report keeps January's tallied figures ...
        OrderImage.objects.filter(order=order, approved_at__month=1).update(status=ImageStatus.DELIVERED)
        # ... and March's new approval is counted at once
        _approved(order, cast.retoucher, datetime(2026, 3, 14, 9, tzinfo=BERLIN))
        after = quality.report(cast.account_manager)
    assert [row["images"] for row in after["ftar_month"]] == [2, 2, 2]
    assert after["ftar_month"][:2] == before["ftar_month"][:2]


def test_the_daily_run_counts_the_last_closed_month_again_and_a_new_month_once_it_closes(cast, history):
    order, _ = history
    with time_machine.travel(NOW, tick=False):
        tally_quality()
        OrderImage.objects.filter(order=order, approved_at__month=2).update(complexity=Complexity.SIMPLE)
        OrderImage.objects.filter(order=order, approved_at__month=1).update(complexity=Complexity.SIMPLE)
        tally_quality()  # the next day: February (the last closed month) again, not January
        report = quality.report(cast.account_manager)
    months = {row["key"].month: (row["overridden"], row["measured"]) for row in report["override_month"]}
    assert months[2] == (0, 2) and months[1] == (0, 2)  # February recounted; January as tallied before
    with time_machine.travel(datetime(2026, 4, 1, 0, 30, tzinfo=BERLIN), tick=False):
        tally_quality()
        march = QualityTally.objects.filter(month=datetime(2026, 3, 1).date(), kind="ftar", per="client")
        assert [(row.client_id, row.total) for row in march] == [(cast.acme.pk, 1)]
        assert quality.report(cast.account_manager)["ftar_month"][-1]["images"] == 1


def test_a_studio_with_nothing_to_count_tallies_nothing(cast):
    with time_machine.travel(NOW, tick=False):
        assert tally_quality() == 0
        assert quality.report(cast.account_manager)["ftar_month"] == []

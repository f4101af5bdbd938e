"""The jobs permission rules on their own, against hand-written answers (the pages and the API ask them)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from agency.models import Role
from jobs import permissions
from jobs.models import Assignment, OrderStatus
from tests.factories import UserFactory, add_images, make_order

pytestmark = pytest.mark.django_db


def test_only_the_retoucher_an_image_is_assigned_to_now_works_on_it(cast):
    order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION)
    mine, theirs = add_images(order, {"standard": 2})
    rita, rob = cast.retoucher, UserFactory(role=Role.RETOUCHER)
    Assignment.objects.create(image=mine, retoucher=rita, minutes=10)
    Assignment.objects.create(image=theirs, retoucher=rob, minutes=10)
    Assignment.objects.create(image=mine, retoucher=rob, minutes=10, active=False)  # was his, reassigned
    answers = {(who, image): permissions.can_work_on(who, image)
               for who in (rita, rob) for image in (mine, theirs)}
    assert answers == {(rita, mine): True, (rita, theirs): False, (rob, mine): False, (rob, theirs): True}
    assert not permissions.can_work_on(AnonymousUser(), mine)
    for other in (cast.qc, cast.account_manager, cast.acme_admin):
        assert not permissions.can_work_on(other, mine), other


def test_only_the_studio_sees_internal_events_and_only_managers_reclass_revisions(cast):
    studio = {cast.retoucher, cast.qc, cast.account_manager, cast.finance, cast.admin}
    clients = {cast.acme_admin, cast.acme_member, cast.globex_admin}
    assert {u for u in studio | clients if permissions.can_see_internal_events(u)} == studio
    assert not permissions.can_see_internal_events(AnonymousUser())
    assert {u for u in studio | clients if permissions.can_classify_revisions(u)} == {cast.account_manager, cast.admin}


def test_which_timeline_lines_each_role_reads(cast):
    """A hand-written table, not the constants it checks: clients read the client's lines, retouchers and
    QC also the studio's, the money and planning roles every line (the managers' too)."""
    expected = {
        "acme_admin": {"client"}, "acme_member": {"client"},
        "retoucher": {"client", "studio"}, "qc": {"client", "studio"},
        "account_manager": {"client", "studio", "managers"}, "finance": {"client", "studio", "managers"},
        "admin": {"client", "studio", "managers"},
    }
    assert {name: set(permissions.readable_audiences(getattr(cast, name))) for name in expected} == expected

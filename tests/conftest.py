"""The standard cast (CONVENTIONS.md §2.7): two client companies and every studio role."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as HttpClient
from rest_framework.test import APIClient

from agency.models import Role, User
from clients.models import Client, StyleGuide
from jobs.models import Order
from tests.factories import (
    ClientFactory,
    StyleGuideFactory,
    UserFactory,
    client_user,
    ensure_service_catalog,
    make_order,
)


@dataclass
class Cast:
    acme: Client
    globex: Client
    acme_guide: StyleGuide
    globex_guide: StyleGuide
    acme_admin: User
    acme_member: User
    globex_member: User
    globex_admin: User
    account_manager: User
    retoucher: User
    retoucher_other: User
    qc: User
    finance: User
    admin: User
    acme_order: Order
    globex_order: Order

    def personas(self) -> dict[str, User | None]:
        return {
            "anon": None, "client_admin_A": self.acme_admin, "client_member_A": self.acme_member,
            "client_member_B": self.globex_member, "account_manager": self.account_manager,
            "retoucher_assigned": self.retoucher, "retoucher_other": self.retoucher_other, "qc": self.qc,
            "finance": self.finance, "admin": self.admin, "client_admin_B": self.globex_admin,
        }


@pytest.fixture
def cast(db: Any) -> Cast:
    return build_cast()


def build_cast() -> Cast:
    """Two companies (Globex's names carry the canary ``CANARY-B``) and every role."""
    ensure_service_catalog()
    acme = ClientFactory(name="Acme Jewels")
    globex = ClientFactory(name="Globex Gems CANARY-B-7f3a")
    acme_guide = StyleGuideFactory(client=acme, name="Acme white")
    globex_guide = StyleGuideFactory(client=globex, name="CANARY-B-7f3a guide")
    acme_member = client_user(acme, Role.CLIENT_MEMBER, full_name="Alice Acme")
    globex_member = client_user(globex, Role.CLIENT_MEMBER, full_name="Bob Globex")
    return Cast(
        acme=acme, globex=globex, acme_guide=acme_guide, globex_guide=globex_guide,
        acme_admin=client_user(acme, Role.CLIENT_ADMIN, full_name="Ann Acme"),
        acme_member=acme_member, globex_member=globex_member,
        globex_admin=client_user(globex, Role.CLIENT_ADMIN, full_name="Bea Globex"),
        account_manager=UserFactory(role=Role.ACCOUNT_MANAGER, full_name="Maria Manager"),
        retoucher=UserFactory(role=Role.RETOUCHER), retoucher_other=UserFactory(role=Role.RETOUCHER),
        qc=UserFactory(role=Role.QC), finance=UserFactory(role=Role.FINANCE), admin=UserFactory(role=Role.ADMIN),
        acme_order=make_order(acme, by=acme_member, title="Acme rings"),
        globex_order=make_order(globex, by=globex_member, title="CANARY-B-7f3a order"),
    )


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--clock", metavar="INSTANT", default=os.environ.get("LOUPE_TEST_CLOCK", ""),
        help="Travel every test to this ISO 8601 instant with its UTC offset (for example "
             "2027-03-28T01:30:00+01:00); the clock ticks from there and starts again at the instant for each test. "
             "CI runs the date-sensitive areas at a year end, a DST switch and a leap day (docs/testing.md).")


def pytest_configure(config: Any) -> None:
    """With ``--clock``, one time-machine journey from before collection (so a module's ``NOW = timezone.now()``
    is taken at the instant too, not on the real clock) to the end of the session."""
    instant = config.getoption("--clock")
    if not instant:
        return
    import time_machine

    moment = datetime.fromisoformat(instant)
    if moment.tzinfo is None:
        raise pytest.UsageError(f"--clock={instant} needs a UTC offset (for example +01:00)")
    # the clock stands still at the instant while modules are collected (their NOW is the instant exactly, never
    # a few seconds after the instant each test starts at), and ticks from the first test on (``_clock``)
    journey = time_machine.travel(moment, tick=False)
    traveller = journey.start()
    traveller.instant = moment
    config._loupe_clock = (journey, traveller)


def pytest_unconfigure(config: Any) -> None:
    clock = getattr(config, "_loupe_clock", None)
    if clock is not None:
        clock[0].stop()


@pytest.fixture(scope="session")
def _traveller(request: Any) -> Any:
    """The session's time-machine journey under ``--clock`` (module fixtures are built inside it too), or None."""
    clock = getattr(request.config, "_loupe_clock", None)
    return clock[1] if clock else None


@pytest.fixture(autouse=True)
def _clock(_traveller: Any) -> Any:
    """Each test starts at the ``--clock`` instant (or on the real clock without it)."""
    if _traveller is not None:
        _traveller.move_to(_traveller.instant, tick=True)
    yield


def pytest_report_header(config: Any) -> list[str]:
    from django.db import connection

    clock = config.getoption("--clock")
    return [f"loupe database: {connection.vendor} ({os.environ.get('DATABASE_URL', 'sqlite default')})",
            f"loupe clock: {'every test starts at ' + clock if clock else 'the real one'}"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None, request: Any) -> Any:
    """With ``--reuse-db`` (``make mutants``), SQLite's test database is this process's own file, named when
    its session starts. A session in a process forked from one that kept its database (mutmut's workers)
    starts from a copy of that migrated file instead of migrating again, and removes the copy at its end."""
    import sqlite3

    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3" or not request.config.getvalue("reuse_db"):
        yield  # the usual run: Django's in-memory test database
        return
    folder = os.environ["LOUPE_VAR_DIR"]
    own = os.path.join(folder, f"test-db-{os.getpid()}.sqlite3")
    database.setdefault("TEST", {})["NAME"] = own
    parent = os.path.join(folder, f"test-db-{os.getppid()}.sqlite3")
    copied = not os.path.exists(own) and os.path.exists(parent)
    if copied:
        with sqlite3.connect(parent) as source, sqlite3.connect(own) as target:
            source.backup(target)  # consistent, write-ahead log included
        _use_the_copy_as_it_is(own)
    yield
    if copied:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(own + suffix)


def _use_the_copy_as_it_is(name: str) -> None:
    """The copied database is migrated: Django's test-database set-up would still read the migration graph
    and run ``migrate`` and the post-migrate handlers on it (a quarter of a second in every mutant's process,
    about a tenth of a clean ``make mutants``), so this process only points its connection at the copy."""
    from django.db import connection

    def create_test_db(*args: Any, **kwargs: Any) -> str:
        connection.close()
        connection.settings_dict["NAME"] = name
        return name

    connection.creation.create_test_db = create_test_db


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Any:
    """Per-process caches (throttle counters, the studio calendar, its brand) start empty in every test, as a
    rolled-back test's rows never told them it ended."""
    from django.core.cache import cache

    from agency import brand
    from agency.calendar import forget_studio_calendar

    cache.clear()
    forget_studio_calendar()
    brand.forget()
    yield


def require(tool: str, available: bool, *, switch: str, how: str) -> None:
    """A test that needs ``tool`` skips, naming it and how to get it, when it is missing; when CI's
    ``switch`` (``LOUPE_REQUIRE_…=1``) is set, a missing tool is a failure, so no skip can hide one."""
    if available:
        return
    message = f"{tool} is not available: {how}"
    if os.environ.get(switch) == "1":
        pytest.fail(f"{switch}=1 but {message}")
    pytest.skip(f"{message} ({switch}=1 makes this a failure)")


def redis_answers() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


def require_redis() -> None:
    require("Redis", redis_answers(), switch="LOUPE_REQUIRE_REDIS",
            how="nothing answers on 127.0.0.1:6379 (apt-get install redis-server; redis-server --daemonize yes)")


def require_postgres() -> None:
    from django.db import connection

    require("PostgreSQL", connection.vendor == "postgresql", switch="LOUPE_REQUIRE_POSTGRES",
            how=f"the suite runs on {connection.vendor}; run it with DATABASE_URL=postgres://… (CI's second pass)")


def api_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def web_for(user: User | None) -> HttpClient:
    client = HttpClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def api() -> Any:
    return api_for


@pytest.fixture
def web() -> Any:
    return web_for


# The areas whose rules read the calendar: money (numbering per year, monthly runs, due dates, aging),
# quotes and their expiry, the SLA clock and the business calendar, scheduling and leave, revision
# rounds and auto-approval, tokens, sessions, invitations and one-time links, retention windows, the
# seed. CI runs them again at a year end, on New Year's night, at the switch to summer time and on a
# leap day (``--clock``, docs/testing.md). The whole suite can run that way; these are the ones it must.
DATE_SENSITIVE = (
    "tests/billing/", "tests/test_state_tables.py",
    "tests/agency/test_calendar.py", "tests/agency/test_access.py", "tests/agency/test_auth.py",
    "tests/agency/test_two_factor.py", "tests/agency/test_idempotency.py", "tests/agency/test_seed_demo.py",
    "tests/agency/test_hardening.py",
    "tests/clients/test_team.py", "tests/clients/test_webhooks.py", "tests/clients/test_security_log.py",
    "tests/jobs/test_scheduling.py", "tests/jobs/test_workflow.py", "tests/jobs/test_review_rules.py",
    "tests/jobs/test_production.py", "tests/jobs/test_lists.py", "tests/jobs/test_retention.py",
    "tests/jobs/test_company_export.py", "tests/jobs/test_shares.py", "tests/jobs/test_review_deadlines.py",
    "tests/jobs/test_reviewers.py", "tests/jobs/test_pilots.py", "tests/storefront/test_ratings.py",
    "tests/storefront/test_estimates.py", "tests/storefront/test_trials.py",
    "tests/security/test_revocation.py",
)


# The authorization matrix's 4,800 requests judge who may do what: the permission modules and tenancy.
AUTHZ_MATRIX = "tests/security/test_authz_matrix.py"
JUDGED_BY_THE_MATRIX = ("agency.permissions.", "clients.permissions.", "jobs.permissions.", "billing.permissions.",
                        "clients.tenancy.")
# What every request passes through (the middleware, the sign-in backend, the two-factor check) is reached by
# hundreds of tests that only pass through it: a function of these modules reached by more than PASS_THROUGH
# tests is judged by the tests of its own behaviour.
OWN_TESTS = {
    "agency.idempotency.": ("tests/agency/test_idempotency.py", "tests/agency/test_form_keys.py"),
    "agency.auth.": ("tests/agency/test_auth.py", "tests/agency/test_hardening.py", "tests/agency/test_two_factor.py",
                     "tests/security/test_http_security.py", "tests/security/test_revocation.py"),
    "agency.two_factor.": ("tests/agency/test_two_factor.py", "tests/agency/test_access.py", "tests/agency/test_auth.py",
                           "tests/security/test_revocation.py"),
}
PASS_THROUGH = 400


def mutant_judges(mutant: str, nodeids: list[str], killers: Iterable[str] = ()) -> list[str]:
    """The tests that judge ``mutant`` (``make mutants``, docs/testing.md) out of those mutmut found reaching
    its function, in the order they run. The authorization matrix (4,800 requests) judges the permission
    modules and tenancy only; a pass-through function is judged by its module's own tests. Each mutant no test
    fails runs every one of its tests, and these two rules were most of a run's time (1¾ hours). The tests that
    already killed another mutant of the same function (``killers``) run first, in mutmut's order otherwise:
    one usually kills the next mutant too, and a killed mutant then costs one test, not every test before it."""
    if "__mutmut_" not in mutant:
        return nodeids
    kept = nodeids
    if not mutant.startswith(JUDGED_BY_THE_MATRIX):
        kept = [nodeid for nodeid in nodeids if not nodeid.startswith(AUTHZ_MATRIX)] or nodeids
        own = next((paths for prefix, paths in OWN_TESTS.items() if mutant.startswith(prefix)), None)
        if own is not None and len(nodeids) > PASS_THROUGH:
            kept = [nodeid for nodeid in kept if nodeid.startswith(own)] or kept
    first = set(killers)
    return sorted(kept, key=lambda nodeid: nodeid not in first)


def _killers(config: Any, mutant: str) -> Path:
    """Where the tests that killed a mutant of ``mutant``'s function are written, one node id a line
    (``mutants/.killers/``: a clean run, ``rm -rf mutants``, starts without them)."""
    function = mutant.partition("__mutmut_")[0]
    return Path(config.rootpath) / ".killers" / function


def _judge_the_mutant(config: Any, items: list[Any]) -> None:
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    killers = _killers(config, mutant)
    known = killers.read_text().split("\n") if "__mutmut_" in mutant and killers.exists() else []
    by_id = {item.nodeid: item for item in items}
    judges = mutant_judges(mutant, list(by_id), known)
    if len(judges) < len(items):
        chosen = set(judges)
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in chosen])
    items[:] = [by_id[nodeid] for nodeid in judges]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """Under ``make mutants``, a test that fails kills the mutant: it is written down for the next mutants of
    the same function (``mutant_judges`` runs it first). One short append, atomic between mutmut's workers."""
    report = yield
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if report.failed and "__mutmut_" in mutant:
        killers = _killers(item.config, mutant)
        killers.parent.mkdir(exist_ok=True)
        with open(killers, "a") as lines:
            lines.write(report.nodeid + "\n")
    return report


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Mark the date-sensitive areas (``-m date_sensitive``). The PostgreSQL pass skips tests that would
    only repeat the SQLite pass (the suite stays under ten minutes per engine): the make-run supervisor
    and the page audit do not touch the engine."""
    for item in items:
        if item.nodeid.startswith(DATE_SENSITIVE):
            item.add_marker(pytest.mark.date_sensitive)
    _judge_the_mutant(config, items)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        return
    skip = pytest.mark.skip(reason="engine-independent: it runs once, in the SQLite pass")
    for item in items:
        if item.get_closest_marker("engine_independent"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def master_300mib(tmp_path_factory: Any) -> Any:
    """A 10240 x 10240 RGB TIFF, uncompressed: 300 MiB and a few hundred bytes of header (made once for
    the large-upload tests, through the API and in the browser)."""
    from PIL import Image

    path = tmp_path_factory.mktemp("large") / "MASTER_0001.tif"
    Image.new("RGB", (10240, 10240), (182, 150, 64)).save(path, "TIFF")
    assert path.stat().st_size > 300 * 1024 * 1024
    return path


@pytest.fixture
def acme_image(cast: Cast) -> Any:
    """An image of Acme's order with a real thumbnail in storage."""
    return received_image(cast.acme_order)


def received_image(order: Order, filename: str = "RING_1.jpg", seed: int = 1) -> Any:
    """A received image with its original, thumbnail and preview really in storage."""
    from django.core.files.base import ContentFile

    from jobs.imaging.demo import encode_jpeg, render_jewelry
    from jobs.imaging.pipeline import encode_webp
    from jobs.models import ImageStatus, OrderImage

    picture = render_jewelry("ring", seed=seed, size=300)
    image = OrderImage(order=order, filename=filename, status=ImageStatus.RECEIVED, width=300, height=300,
                       format="JPEG", position=order.images.count() + 1)
    image.thumbnail.save("thumb.webp", ContentFile(encode_webp(picture.resize((256, 256)))), save=False)
    image.preview.save("preview.webp", ContentFile(encode_webp(picture)), save=False)
    image.original.save(filename, ContentFile(encode_jpeg(picture)), save=False)
    image.save()
    return image


@pytest.fixture
def acme_version_factory(cast: Cast) -> Any:
    """Images of Acme's order (now in production) that passed QC and wait to be delivered, each with
    its version: a gold disc cut out on transparency, 900×600."""
    from django.core.files.base import ContentFile
    from PIL import Image, ImageDraw

    from jobs.models import ImageStatus, OrderImage, OrderStatus, Version, VersionStatus

    cast.acme_guide.output_formats = ["JPEG", "PNG"]
    cast.acme_guide.save()
    Order.objects.filter(pk=cast.acme_order.pk).update(status=OrderStatus.IN_PRODUCTION)
    cast.acme_order.refresh_from_db()

    def make(sku: str = "SKU-1", size: tuple[int, int] = (900, 600)) -> Any:
        import io

        picture = Image.new("RGBA", size, (0, 0, 0, 0))
        ImageDraw.Draw(picture).ellipse((size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4),
                                        fill=(212, 175, 55, 255))
        buf = io.BytesIO()
        picture.save(buf, "PNG")
        image = OrderImage.objects.create(order=cast.acme_order, filename=f"{sku}.png", sku=sku,
                                          status=ImageStatus.READY)
        version = Version(image=image, number=1, status=VersionStatus.PASSED, created_by=cast.retoucher)
        version.file.save("v1.png", ContentFile(buf.getvalue()), save=True)
        return version

    return make

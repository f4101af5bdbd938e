"""The structure DESIGN.md §1 and CONVENTIONS.md §2 describe, checked: a rule written in the wrong
place fails here before it is copied."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["agency", "clients", "jobs", "billing", "storefront"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _sources(app: str) -> list[Path]:
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("app,forbidden", [("agency", {"clients", "jobs", "billing", "storefront"}),
                                           ("clients", {"jobs", "billing", "storefront"}),
                                           ("jobs", {"billing", "storefront"}), ("billing", {"storefront"})])
def test_imports_point_down_the_table(app, forbidden):
    commands = ROOT / "agency" / "management" / "commands"
    composition_roots = {ROOT / "agency" / "urls.py", commands / "seed_demo.py", commands / "seed_scale.py"}
    offenders = {str(p.relative_to(ROOT)): _imports(p) & forbidden for p in _sources(app) if p not in composition_roots}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_tasks_are_queued_through_one_helper():
    offenders = [str(p.relative_to(ROOT)) for app in APPS for p in _sources(app)
                 if "async_task(" in p.read_text() and p != ROOT / "agency" / "tasks.py"]
    assert offenders == []


# -- Every module, not a list of names ---------------------------------------------------------------

def _modules() -> list[Path]:
    return [p for app in APPS for p in _sources(app)]


# The acting person's role tested outside the permission modules, in every spelling: ``user.role ==``,
# ``by.role in …_ROLES``, ``.is_client``, ``.is_studio``, ``getattr(user, "role")``. A target's role ("is this
# person a retoucher?", a role a form offers) is data; a line that reads one says ``# a target's role``.
ACTOR = r"\b(?:by|user|actor|viewer|request\.user)"
ROLE_SPELLINGS = re.compile(ACTOR + r"\.(?:role|is_client|is_studio)\b|getattr\(" + ACTOR + r", \"role\"")
# Where roles are defined or turned into rules: the permission modules, the role model itself, and the
# tenancy function (which filters by role by definition).
ROLE_HOMES = {"agency/models.py", "clients/tenancy.py", "agency/permissions.py", "clients/permissions.py",
              "jobs/permissions.py", "billing/permissions.py", "storefront/permissions.py"}


def test_who_may_do_what_is_only_in_permissions_modules():
    """Views, viewsets, services, tasks and templates' context call ``permissions.py`` functions; no
    other module tests the acting person's role, whatever the spelling."""
    offenders = []
    for path in _modules():
        relative = str(path.relative_to(ROOT))
        if relative in ROLE_HOMES:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if ROLE_SPELLINGS.search(line) and "# a target's role" not in line:
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def _tenant_models() -> set[str]:
    from django.apps import apps

    return {model.__name__ for model in apps.get_models() if getattr(model, "tenant_path", None)}


# A read of a tenant's rows that does not start from ``scope()``, in the modules that read for people
# (selectors and exports). Listed here with the reason when the rows come from a scoped read already.
UNSCOPED_ALLOWED = {
    ("jobs/selectors.py", "OrderImage"): "correlated to the scoped order list (OuterRef) and filtered by a scoped pk set",
    ("jobs/selectors.py", "DeliveryItem"): "the items of images read through scope() just before",
    ("jobs/selectors.py", "RevisionItem"): "correlated to scoped approved images (OuterRef)",
    ("jobs/selectors.py", "Version"): "correlated to scoped approved images (OuterRef)",
    ("jobs/selectors.py", "TilePyramid"): "whether a scoped image or version has tiles (Exists, OuterRef)",
    ("jobs/selectors.py", "Annotation"): "the highest mark number of images read through scope() (numbers never repeat)",
    ("billing/exports.py", "Invoice"): "_load() reads the documents whose ids documents_in() read through scope()",
    ("billing/exports.py", "InvoiceLine"): "the lines of those documents",
    ("billing/exports.py", "Export"): "an export is the finance user's own job; its task reads it by id",
    ("billing/selectors.py", "PriceList"): "the studio's default list, read by a client company without a list of its own "
                                           "(its quotes are priced from it)",
    ("storefront/selectors.py", "Rating"): "the public page's figures: every rating counts in the studio's average "
                                           "(anonymous; only comments their authors published are shown, with "
                                           "the name they chose)",
    ("storefront/selectors.py", "Version"): "the passed versions of the orders whose ratings were read through scope()",
    ("storefront/selectors.py", "PortfolioConsent"): "consent_in_force(): an Exists correlated to the outer query's "
                                                     "picture (a scoped list, or the public pairs)",
    ("storefront/selectors.py", "PortfolioPair"): "the public page's pairs: published by the studio with their client's "
                                                  "consent in force (anonymous by design)",
}


@pytest.mark.django_db
def test_reads_for_people_start_from_scope():
    """Every ``<TenantModel>.objects`` in a selectors or exports module sits inside ``scope(…)`` (or is on
    the list above with its reason)."""
    tenant = _tenant_models()
    offenders = []
    for path in _modules():
        relative = str(path.relative_to(ROOT))
        if path.name not in {"selectors.py", "exports.py"}:
            continue
        tree = ast.parse(path.read_text())
        scoped: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "scope" and node.args:
                scoped |= {id(inner) for inner in ast.walk(node.args[0])}
            # ``Model.objects.none()`` reads nothing
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "none":
                scoped |= {id(inner) for inner in ast.walk(node.func)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "objects" and isinstance(node.value, ast.Name)
                    and node.value.id in tenant and id(node) not in scoped
                    and (relative, node.value.id) not in UNSCOPED_ALLOWED):
                offenders.append(f"{relative}:{node.lineno}: {node.value.id}.objects")
    assert offenders == []


def test_every_timeline_line_names_its_audience_as_the_verb_list_says():
    """``record_event`` has no default audience; each call passes the one ``jobs.events.VERBS`` gives
    its verb (a literal verb, or one of a literal set the call chooses from), and nothing but
    ``jobs/events.py`` builds ``Event`` rows."""
    from jobs.events import VERBS

    offenders = []
    for path in _modules():
        relative = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name == "Event" and relative != "jobs/events.py":
                offenders.append(f"{relative}:{node.lineno}: builds an Event directly")
            if name not in {"record_event", "new_event"} or relative == "jobs/events.py":
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            audience = keywords.get("audience")
            if audience is None:
                offenders.append(f"{relative}:{node.lineno}: no audience")
                continue
            said = ast.unparse(audience).rsplit(".", 1)[-1].lower()
            verb = keywords.get("verb")
            if isinstance(verb, ast.Constant):
                if VERBS.get(verb.value) != said:
                    offenders.append(f"{relative}:{node.lineno}: {verb.value} is {VERBS.get(verb.value)}, not {said}")
    assert offenders == []
    assert set(VERBS.values()) <= {"client", "studio", "managers"}


def test_side_effects_leave_through_the_task_queue():
    """Mail, storage clean-up and webhooks are queued after commit with ``agency.tasks.enqueue_on_commit``;
    nothing else registers ``transaction.on_commit`` callbacks in the web process but ``agency.live.publish``
    (a live page's news: one Redis PUBLISH after commit, which a queued task would only delay)."""
    homes = {ROOT / "agency" / "tasks.py", ROOT / "agency" / "live.py"}
    offenders = [str(p.relative_to(ROOT)) for p in _modules()
                 if "on_commit(" in p.read_text().replace("enqueue_on_commit(", "") and p not in homes]
    assert offenders == []


def test_statuses_change_only_through_their_table():
    """No module writes a ``status`` by hand: ``StateTable.move`` and ``.claim`` are the only writers (a
    row's first status, at creation, is not a change)."""
    pattern = re.compile(r"\.update\([^)]*\bstatus=|\.status\s*=[^=]|\.status, [^=]*=")
    offenders = []
    for path in _modules():
        relative = str(path.relative_to(ROOT))
        if relative == "agency/statemachine.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_each_status_group_is_declared_once():
    """A named group of states (``IN_WORK``, ``WORK_LEFT``…) is one object, declared once and imported
    where it is used; two declarations of the same set of states are two places to change one rule."""
    import importlib
    import pkgutil

    from django.db.models import TextChoices

    declared: dict[tuple[type, frozenset[Any]], dict[int, str]] = {}
    for app in APPS:
        package = importlib.import_module(app)
        for info in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" in info.name:
                continue
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if not name.isupper() or not isinstance(value, set | frozenset | tuple | list) or len(value) < 2:
                    continue
                kinds = {type(v) for v in value}
                if len(kinds) != 1 or not issubclass(next(iter(kinds)), TextChoices):
                    continue
                objects = declared.setdefault((kinds.pop(), frozenset(value)), {})
                objects.setdefault(id(value), f"{info.name}.{name}")
    twice = {f"{kind.__name__} {sorted(states)}": sorted(objects.values())
             for (kind, states), objects in declared.items() if len(objects) > 1}
    assert twice == {}


def _signal(path: str) -> Any:
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _our_receivers(signal: Any) -> set[str]:
    """The dotted names of the functions of Loupe's own apps connected to ``signal``."""
    import weakref

    found = set()
    for entry in signal.receivers:
        reference = entry[1]
        receiver = reference() if isinstance(reference, weakref.ReferenceType) else reference
        if receiver is None:
            continue
        name = f"{receiver.__module__}.{receiver.__qualname__}"
        if name.split(".", 1)[0] in APPS:
            found.add(name)
    return found


def test_what_else_happens_when_is_the_list_of_connected_receivers():
    """docs/architecture.md's "What else happens when…" table names every receiver Loupe connects, and
    nothing else: each row's receiver is connected to its signal, and each signal in the table has no
    receiver of ours the table leaves out."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## What else happens when", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w.]+)` \| `([\w.]+)` \|", section, flags=re.M)
    assert len(rows) >= 10
    documented: dict[str, set[str]] = {}
    for signal, receiver in rows:
        documented.setdefault(signal, set()).add(receiver)
    for signal, receivers in documented.items():
        assert _our_receivers(_signal(signal)) == receivers, signal
    # and no signal of Loupe's own has a receiver the table does not name
    from jobs.review.proofing import revision_round_changed
    from jobs.workflow import order_status_changed

    for signal, path in ((order_status_changed, "jobs.workflow.order_status_changed"),
                         (revision_round_changed, "jobs.review.proofing.revision_round_changed")):
        assert path in documented and _our_receivers(signal) == documented[path]


def test_every_receiver_says_its_rule():
    """Each receiver in a ``receivers.py`` has a docstring: the rule it applies."""
    import importlib
    import inspect

    for app in APPS:
        if not (ROOT / app / "receivers.py").exists():
            continue
        module = importlib.import_module(f"{app}.receivers")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and name != "connect":
                assert (function.__doc__ or "").strip(), f"{app}.receivers.{name} has no docstring"

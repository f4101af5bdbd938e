"""The structure DESIGN.md §1 and CONVENTIONS.md §2 describe, checked: a rule written in the wrong
place fails here before it is copied."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["agency", "clients", "jobs", "billing"]


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


@pytest.mark.parametrize("app,forbidden", [("agency", {"clients", "jobs", "billing"}), ("clients", {"jobs", "billing"}),
                                           ("jobs", {"billing"})])
def test_imports_point_down_the_table(app, forbidden):
    composition_roots = {ROOT / "agency" / "urls.py", ROOT / "agency" / "management" / "commands" / "seed_demo.py"}
    offenders = {str(p.relative_to(ROOT)): _imports(p) & forbidden for p in _sources(app) if p not in composition_roots}
    assert {k: v for k, v in offenders.items() if v} == {}


# The actor's role tested outside permissions.py (a target's role, "is this person a retoucher?", is data).
ROLE_CHECK = re.compile(r"\b(?:by|user|actor|request\.user)\.role\b|\b(?:MANAGER|ALL_ORDERS|STUDIO)_ROLES\b")


@pytest.mark.parametrize("module", ["views.py", "api.py", "planning.py", "deliveries.py", "uploads.py", "services.py",
                                    "workflow.py", "context_processors.py"])
def test_who_may_do_what_is_only_in_permissions_modules(module):
    """Views, viewsets and services call ``permissions.py`` functions; none tests a role itself."""
    offenders = []
    for app in APPS:
        path = ROOT / app / module
        if path.exists():
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if ROLE_CHECK.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_tasks_are_queued_through_one_helper():
    offenders = [str(p.relative_to(ROOT)) for app in APPS for p in _sources(app)
                 if "async_task(" in p.read_text() and p != ROOT / "agency" / "tasks.py"]
    assert offenders == []

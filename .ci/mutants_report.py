"""Print the mutation score of each rule module after ``mutmut run`` (``make mutants``).

Reads mutmut's results (``mutants/<module>.py.meta``) and the equivalent mutants listed in
docs/testing.md (a line "- `<mutant name>`: <why it cannot be told apart>"), and prints per module: mutants,
killed, survived, without a test, the raw score and the score once the listed equivalents are set aside.
Exits 1 when a module is below the goal (90 %) or a survivor is neither killed nor listed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

GOAL = 0.90
ROOT = Path(__file__).resolve().parent.parent
KILLED = {1, 3, 36, 24, -24, 152, 255, -9, -11}  # a failing test, a pytest internal error, a timeout, a crash
NOT_COUNTED = {34, None}  # skipped by mutmut, or not run yet (an interrupted run; the next one goes on)


def equivalents() -> dict[str, str]:
    text = (ROOT / "docs" / "testing.md").read_text()
    return dict(re.findall(r"^- `([\w.]+__mutmut_\d+)`: (.+)$", text, flags=re.M))


def main() -> int:
    listed = equivalents()
    rows, unexplained, failing = [], [], []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        pending = sum(v is None for v in codes.values())
        counted = {k: v for k, v in codes.items() if v not in NOT_COUNTED}
        killed = sum(v in KILLED for v in counted.values())
        alive = sorted(k for k, v in counted.items() if v not in KILLED)
        equivalent = [k for k in alive if k in listed]
        unexplained += [k for k in alive if k not in listed]
        raw = killed / len(counted) if counted else None
        net = killed / (len(counted) - len(equivalent)) if len(counted) > len(equivalent) else None
        rows.append((module, len(counted), killed, len(alive), sum(v in {5, 33} for v in counted.values()),
                     len(equivalent), raw, net, pending))
        if net is not None and net < GOAL:
            failing.append(module)
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'module':<{width}}  mutants  killed  alive  no-test  equivalent   raw    net  not run")
    for module, total, killed, alive, no_test, equivalent, raw, net, pending in rows:
        scores = "  ".join(f"{x:5.1%}" if x is not None else "    —" for x in (raw, net))
        print(f"{module:<{width}}  {total:7d}  {killed:6d}  {alive:5d}  {no_test:7d}  {equivalent:10d}  {scores}"
              f"  {pending or '':>7}")
    total = sum(r[1] for r in rows)
    killed = sum(r[2] for r in rows)
    equivalent = sum(r[5] for r in rows)
    if total:
        print(f"{'all':<{width}}  {total:7d}  {killed:6d}  {total - killed:5d}  {'':7}  {equivalent:10d}  "
              f"{killed / total:5.1%}  {killed / max(total - equivalent, 1):5.1%}")
    if unexplained:
        print(f"\n{len(unexplained)} survivors are neither killed nor listed as equivalent in docs/testing.md:")
        for name in unexplained:
            print(f"  {name}")
    if failing:
        print(f"\nBelow the goal of {GOAL:.0%}: {', '.join(failing)}")
    not_run = sum(r[8] for r in rows)
    if not_run:
        print(f"\n{not_run} mutants have not run yet: `make mutants` goes on where it stopped.")
    return 1 if failing or unexplained or not_run else 0


if __name__ == "__main__":
    sys.exit(main())

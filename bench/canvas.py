"""Review canvas benchmark (issue 21): how soon the picture is sharp in Chromium on localhost.

On the demo studio (PostgreSQL, gunicorn, production settings, tiles made by ``manage.py make_tiles``), QC's
page of the revised ring (a square v2 beside its 3:2 original, side by side) is opened in a fresh browser
context each run (nothing cached) and timed:

- first sharp screen: from navigation start until every tile both panes show at fit is drawn
  (OpenSeadragon's ``getFullyLoaded()`` on each pane's picture); goal < 300 ms;
- each zoom step (100 %, 200 %, 400 % of the file's pixels, from the toolbar): from the click until the
  new view's tiles are drawn; goal < 150 ms per step;
- baseline, in the same run: the same page with JavaScript off (the previews one under the other, as
  before the canvas), from navigation start to the page's ``load`` event; the first sharp screen is
  printed as a ratio of it.

    .venv/bin/python bench/canvas.py [--runs 5] [--database postgres://postgres@127.0.0.1:5432/loupe_bench_canvas]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import DEMO_PASSWORD, fresh_database, migrate_and_seed, production_env, start_gunicorn, stop  # noqa: E402

QC = "quinn.qc@loupe.test"
SHARP = """() => { const c = window.LoupeCanvas && LoupeCanvas.canvases[0];
  return !!c && c.viewers.length > 0 && c.viewers.every(v => v.world.getItemCount() > 0
    && v.world.getItemAt(0).getFullyLoaded() && !v.world.needsDraw()); }"""


def _version_page(env: dict[str, str]) -> str:
    """The QC page of the demo's revised ring (its latest version)."""
    code = ("import django; django.setup(); from jobs.models import Version; "
            "v = Version.objects.filter(image__annotations__isnull=False).order_by('-number').first(); print(v.pk)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return f"/versions/{out.stdout.strip()}/qc/"


def _login(page, url: str) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("E-mail address").fill(QC)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/qc/")


def measure(url: str, path: str, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"baseline": [], "fit": [], "100 %": [], "200 %": [], "400 %": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for _ in range(runs):
            for script in (False, True):
                context = browser.new_context(viewport={"width": 1440, "height": 1000}, java_script_enabled=script)
                page = context.new_page()
                said: list[str] = []
                page.on("console", lambda m, said=said: said.append(m.text))
                page.on("requestfailed", lambda r, said=said: said.append(f"failed {r.url}"))
                page.on("response", lambda r, said=said: said.append(f"{r.status} {r.url}") if r.status >= 400 else None)
                _login(page, url)
                page.goto(url + path, wait_until="load" if not script else "commit")
                if not script:
                    times["baseline"].append(page.evaluate(
                        "performance.getEntriesByType('navigation')[0].loadEventEnd"))
                else:
                    try:
                        page.wait_for_function(SHARP, polling="raf", timeout=30_000)
                    except Exception:
                        raise SystemExit("the canvas never became sharp: " + "; ".join(said[-8:])) from None
                    times["fit"].append(page.evaluate("performance.now()"))
                    for step in ("100 %", "200 %", "400 %"):
                        start = page.evaluate("performance.now()")
                        page.get_by_role("button", name=step).click()
                        page.wait_for_function("""() => { const v = LoupeCanvas.canvases[0].viewers[0];
                          return Math.abs(v.viewport.getZoom(true) - v.viewport.getZoom()) < 1e-9; }""", polling="raf")
                        page.wait_for_function(SHARP, polling="raf", timeout=30_000)
                        times[step].append(page.evaluate("performance.now()") - start)
                context.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/loupe_bench_canvas")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loupe-bench-canvas-") as var:
        env = production_env(args.database, var)
        fresh_database(args.database)
        migrate_and_seed(env)
        for command in (["make_tiles"], ["collectstatic", "--noinput", "-v0"]):  # whitenoise serves what is collected
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        path = _version_page(env)
        web, url = start_gunicorn(env)
        try:
            times = measure(url, path, args.runs)
        finally:
            stop(web)
    base = statistics.median(times["baseline"])
    print(f"QC page of a square v2 beside its 3:2 original, side by side, {args.runs} cold runs (median, ms):")
    print(f"  baseline: the page without JavaScript, previews loaded   {base:7.0f}")
    fit = statistics.median(times["fit"])
    print(f"  first sharp screen at fit                                 {fit:7.0f}  ({fit / base:.2f}× baseline; "
          f"goal < 300 ms: {'met' if fit < 300 else 'missed'})")
    for step in ("100 %", "200 %", "400 %"):
        value = statistics.median(times[step])
        print(f"  zoom to {step:6} until sharp                              {value:7.0f}  "
              f"(goal < 150 ms: {'met' if value < 150 else 'missed'})")


if __name__ == "__main__":
    main()

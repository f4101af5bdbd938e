"""Complexity grade benchmark (issue 23). Prints, on generated jewelry photographs of known difficulty
(jobs.imaging.difficulty: clutter, reflections, outline and dust, each 0-3):

- the rank correlation (Spearman) of the predicted difficulty (``complexity.score``) and of the three grades
  (``complexity.grade``) with the known difficulty, on the set the weights were fitted on (seed 2026) and on
  sets they never saw (other seeds), beside the best any three grades could reach on the same set (the
  "ceiling": the known difficulty itself cut into three); goal 0.8 for the grades;
- per feature, its correlation with its own factor's level;
- the cost: median seconds per picture of the worker's preview step (``pipeline.make_previews`` of a 6000 x 4000
  camera JPEG) without and with the grade (measured on the 1600 px preview's pixels the step holds), and what the
  grade adds (goal: at most 30 %).

    .venv/bin/python bench/complexity.py [--count 208] [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def correlations(seed: int, count: int) -> dict[str, float]:
    from jobs.imaging import complexity, difficulty

    rows = [(levels, complexity.features(difficulty.picture(levels, seed=s)))
            for levels, s in difficulty.generated_set(count, seed=seed)]
    known = [levels.difficulty for levels, _ in rows]
    grades = [{"simple": 0, "standard": 1, "complex": 2}[complexity.grade(f)] for _, f in rows]
    ceiling = [0 if d < complexity.SIMPLE_BELOW else 1 if d < complexity.COMPLEX_FROM else 2 for d in known]
    found = {"score": difficulty.spearman([complexity.score(f) for _, f in rows], known),
             "grade": difficulty.spearman(grades, known), "ceiling": difficulty.spearman(ceiling, known)}
    for feature, factor in (("clutter", "clutter"), ("highlights", "reflections"), ("outline", "outline"),
                            ("dust", "dust")):
        found[feature] = difficulty.spearman([getattr(f, feature) for _, f in rows],
                                             [getattr(levels, factor) for levels, _ in rows])
    return found


def camera_jpeg() -> bytes:
    from PIL import Image

    from jobs.imaging import difficulty

    picture = difficulty.picture(difficulty.Levels(2, 2, 2, 2), seed=1).resize((6000, 4000), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


def costs(runs: int) -> tuple[float, float]:
    """Median seconds of the worker's preview step on a camera JPEG without and with the grade (``make_previews``'s
    ``grade``: the features are measured on the preview's pixels the step already holds), runs interleaved."""
    from jobs.imaging import pipeline

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "camera.jpg"
        path.write_bytes(camera_jpeg())
        pipeline.make_previews(path, max_pixels=100_000_000)  # warm-up
        plain, graded = [], []
        for _ in range(runs):
            for grade, times in ((False, plain), (True, graded)):
                start = time.perf_counter()
                made = pipeline.make_previews(path, max_pixels=100_000_000, grade=grade)
                times.append(time.perf_counter() - start)
                assert bool(made.inspection.complexity) == grade
    return statistics.median(plain), statistics.median(graded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=208)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'set':<22}{'score ρ':>9}{'grade ρ':>9}{'ceiling':>9}{'clutter':>9}{'highl.':>9}{'outline':>9}{'dust':>9}")
    for seed, label in ((2026, "seed 2026 (fitted)"), (7, "seed 7 (unseen)"), (99, "seed 99 (unseen)")):
        found = correlations(seed, args.count)
        print(f"{label:<22}" + "".join(f"{found[k]:>9.3f}" for k in ("score", "grade", "ceiling", "clutter",
                                                                        "highlights", "outline", "dust")))
    preview, graded = costs(args.runs)
    print(f"\nper picture (6000 x 4000 JPEG): preview set {preview * 1000:.0f} ms, with the grade {graded * 1000:.0f} ms "
          f"(+{100 * (graded - preview) / preview:.0f} % for the grade; goal at most 30 %)")


if __name__ == "__main__":
    main()

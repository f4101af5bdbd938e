"""The measured complexity grade (jobs/imaging/complexity.py, docs/complexity.md): each factor a retoucher
pays for moves its own feature, the predicted difficulty follows the known difficulty of generated pictures,
and odd pictures are graded, not crashed on. bench/complexity.py measures the full sets."""

from __future__ import annotations

import pytest
from PIL import Image

from jobs.imaging import complexity, difficulty
from jobs.imaging.difficulty import Levels, spearman

pytestmark = pytest.mark.engine_independent


def measured(levels: Levels, seed: int = 5) -> complexity.Features:
    return complexity.features(difficulty.picture(levels, seed=seed))


@pytest.mark.parametrize("factor,feature", [("clutter", "clutter"), ("reflections", "highlights"),
                                            ("outline", "outline"), ("dust", "dust")])
def test_each_factor_raises_its_own_feature_and_the_difficulty(factor, feature):
    plain = Levels(0, 0, 0, 0)
    values = [measured(Levels(**{**plain.__dict__, factor: level})) for level in (0, 1, 3)]
    assert getattr(values[0], feature) < getattr(values[1], feature) < getattr(values[2], feature)
    assert complexity.score(values[0]) < complexity.score(values[2])


def test_the_easiest_and_the_hardest_pictures_get_the_end_grades():
    assert complexity.grade(measured(Levels(0, 0, 0, 0))) == "simple"
    assert complexity.grade(measured(Levels(3, 3, 3, 3))) == "complex"


def test_the_predicted_difficulty_follows_the_known_one_on_pictures_it_was_not_fitted_on():
    rows = [(levels, measured(levels, seed)) for levels, seed in difficulty.generated_set(48, seed=31)]
    rho = spearman([complexity.score(f) for _, f in rows], [levels.difficulty for levels, _ in rows])
    assert rho >= 0.8


def test_the_grade_cuts_the_score_at_the_stated_thresholds(monkeypatch):
    found = complexity.Features(clutter=0, product=0.1, highlights=0, outline=1, dust=0)
    for value, expected in ((complexity.SIMPLE_BELOW - 0.01, "simple"), (complexity.SIMPLE_BELOW, "standard"),
                            (complexity.COMPLEX_FROM - 0.01, "standard"), (complexity.COMPLEX_FROM, "complex")):
        monkeypatch.setattr(complexity, "score", lambda _f, v=value: v)
        assert complexity.grade(found) == expected


@pytest.mark.parametrize("picture", [
    Image.new("RGB", (1, 1), (240, 240, 240)),
    Image.new("RGB", (900, 600), (238, 236, 232)),  # an empty backdrop
    Image.new("L", (300, 200), 120),
    Image.new("RGBA", (400, 400), (0, 0, 0, 0)),
    Image.new("RGB", (2000, 10), (10, 200, 30)),
])
def test_odd_pictures_are_graded_not_crashed_on(picture):
    found = complexity.features(picture)
    assert complexity.grade(found) in {"simple", "standard", "complex"}
    assert all(value >= 0 for value in found.as_dict().values())


def test_an_empty_backdrop_is_simple_with_no_outline():
    found = complexity.features(Image.new("RGB", (900, 600), (238, 236, 232)))
    assert (found.outline, found.dust, found.highlights, complexity.grade(found)) == (1.0, 0.0, 0.0, "simple")


def test_spearman_ranks_ties_by_their_mean():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(0.894, abs=1e-3)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0

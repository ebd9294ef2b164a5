"""What the chapters' and part II's demonstrations claim, as margins that a seed can flip.

A page states, and a test asserts, outcomes of seeded trainings: "dropout grows the
weights past c", "the plain MLP fits every training image". One seed's outcome is one
draw: another seed, or another CPU (which rounds differently, and perturbs a training
the way another seed does), can land on the other side. Each :class:`Claim` here names
such an outcome as a *margin* computed from one seed's run of the page's own code:
positive when the claim holds, in the claim's unit, so that how far it holds can be read.

``benchmarks/robustness.py`` (``make robustness``) measures every claim on further seeds,
none of which a page or a test uses, and writes their margins to a results file; the
report turns it into the table of the robustness page (``snippets.studies.robustness``).
A claim that does not hold on every seed is a claim to fix on its page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Claim:
    """One outcome a page states and a test asserts, as a margin from one seed's run."""

    name: str  # <page module>.<what>
    page: str  # docs path of the page that states it
    test: str  # the test that asserts it (tests/...::test_...)
    statement: str  # the claim, in words
    unit: str  # the margin's unit
    margin: Callable[[int], float]  # seed -> margin; above zero: the claim holds for that seed


def _max_norm(seed: int):
    from snippets.max_norm import max_norm_table

    return max_norm_table(seed)


def _max_norm_claims() -> list[Claim]:
    from snippets.max_norm import MAX_NORM, N_TRAIN

    page, test = "beyond/max-norm.md", "tests/test_max_norm.py"
    return [
        Claim("max_norm.dropout_grows_the_norms", page, f"{test}::test_trained_norms_stay_within_c_only_with_the_constraint",
              "Without the constraint, dropout grows some layer-1 column past 1.2 c", "× 1.2 c",
              lambda seed: _max_norm(seed).loc["dropout", "largest norm, layer 1"] / (1.2 * MAX_NORM) - 1),
        Claim("max_norm.units_sit_at_c", page, f"{test}::test_trained_norms_stay_within_c_only_with_the_constraint",
              "With dropout and max-norm, at least 20 layer-1 units sit at c", "units",
              lambda seed: _max_norm(seed).loc["dropout + max-norm", "units with norm >= c, layer 1"] - 19.5),
        Claim("max_norm.plain_never_reaches_c", page, f"{test}::test_trained_norms_stay_within_c_only_with_the_constraint",
              "Without dropout, no layer-1 column reaches c: the constraint never acts", "× c",
              lambda seed: 1 - _max_norm(seed).loc["plain", "largest norm, layer 1"] / MAX_NORM),
        Claim("max_norm.inactive_constraint_changes_little", page,
              f"{test}::test_trained_norms_stay_within_c_only_with_the_constraint",
              "Without dropout, max-norm moves held-out accuracy by less than 1.5 points", "points",
              lambda seed: 1.5 - 100 * abs(_max_norm(seed).loc["max-norm", "held-out accuracy"]
                                           - _max_norm(seed).loc["plain", "held-out accuracy"])),
        Claim("max_norm.plain_fits_every_image", page, f"{test}::test_plain_fits_every_image_and_dropout_does_not",
              "The plain MLP fits every training image", "images",
              lambda seed: N_TRAIN * _max_norm(seed).loc["plain", "training accuracy"] - (N_TRAIN - 0.5)),
        Claim("max_norm.dropout_does_not_fit_every_image", page,
              f"{test}::test_plain_fits_every_image_and_dropout_does_not",
              "With dropout, training accuracy stays below 99%", "points",
              lambda seed: 100 * (0.99 - _max_norm(seed).loc["dropout", "training accuracy"])),
        Claim("max_norm.dropout_settings_well_above_chance", page,
              f"{test}::test_over_seeds_the_page_gets_every_seeds_pair_and_its_difference",
              "Dropout, with and without max-norm, scores above 85% on the held-out images", "points",
              lambda seed: 100 * (min(_max_norm(seed).loc["dropout", "held-out accuracy"],
                                      _max_norm(seed).loc["dropout + max-norm", "held-out accuracy"]) - 0.85)),
    ]


def claims() -> list[Claim]:
    """Every registered claim, page by page."""
    return [*_max_norm_claims()]

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

import functools
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


# One seed's run of a page's demonstration, made once and read by all of that page's claims.


@functools.cache
def _max_norm(seed: int):
    from snippets.max_norm import max_norm_table

    return max_norm_table(seed)


@functools.cache
def _noise(seed: int):
    from snippets.noise import noise_table

    return noise_table(seed)


@functools.cache
def _noisy_copies(seed: int):
    import pandas as pd

    from snippets.noise import noisy_inputs_vs_ridge

    return pd.DataFrame(noisy_inputs_vs_ridge(seed=seed)).T


@functools.cache
def _optimizer(seed: int):
    from snippets.optimizer import batch_size_and_learning_rate, sam_against_sgd

    return batch_size_and_learning_rate(seed=seed), sam_against_sgd(seed=seed)


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


def _noise_claims() -> list[Claim]:
    page, test = "beyond/noise.md", "tests/test_noise.py"
    shrinks = f"{test}::test_noise_shrinks_the_derivatives_and_the_gap"
    ridge = f"{test}::test_noisy_inputs_approach_ridge_in_a_linear_model"
    noisy = ("input noise", "hidden noise", "Gaussian dropout", "dropout")

    def table(seed):
        return _noise(seed), _noise(seed).loc["no noise"]

    return [
        Claim("noise.copies_converge_to_ridge", page, ridge,
              "Least squares on more noisy copies of the inputs comes ever closer to ridge", "distance",
              lambda seed: -float(_noisy_copies(seed)["distance to ridge"].diff().max())),
        Claim("noise.copies_stay_away_from_least_squares", page, ridge,
              "... and at 1,000 copies is more than 10 times closer to ridge than to the unregularized fit",
              "× 10", lambda seed: float(_noisy_copies(seed).iloc[-1]["distance to least squares"]
                                         / _noisy_copies(seed).iloc[-1]["distance to ridge"]) / 10 - 1),
        Claim("noise.every_kind_shrinks_the_jacobian", page, shrinks,
              "Every kind of noise lowers the input-Jacobian norm below 0.85 times the noiseless MLP's", "× plain",
              lambda seed: 0.85 - max(table(seed)[0].loc[k, "Jacobian norm"] for k in noisy) / table(seed)[1]["Jacobian norm"]),
        Claim("noise.every_kind_lowers_training_accuracy", page, shrinks,
              "Every kind of noise lowers the training accuracy", "points",
              lambda seed: 100 * (table(seed)[1]["training accuracy"]
                                  - max(table(seed)[0].loc[k, "training accuracy"] for k in noisy))),
        Claim("noise.every_kind_narrows_the_gap", page, shrinks,
              "Every kind of noise narrows the train − held-out gap, by more than half a point", "points",
              lambda seed: 100 * (table(seed)[1]["gap"] - 0.005 - max(table(seed)[0].loc[k, "gap"] for k in noisy))),
        Claim("noise.gaussian_dropout_matches_dropout", page, shrinks,
              "Gaussian dropout and dropout of the same rate end within a point on the held-out images", "points",
              lambda seed: 1 - 100 * abs(table(seed)[0].loc["Gaussian dropout", "held-out accuracy"]
                                         - table(seed)[0].loc["dropout", "held-out accuracy"])),
        Claim("noise.strong_hidden_noise_costs_accuracy", page, shrinks,
              "The strong additive noise on the hidden units costs more than a point of held-out accuracy", "points",
              lambda seed: 100 * (table(seed)[1]["held-out accuracy"] - 0.01
                                  - table(seed)[0].loc["hidden noise", "held-out accuracy"])),
    ]


def _optimizer_claims() -> list[Claim]:
    page, test = "beyond/optimizer.md", "tests/test_optimizer.py"
    scale = f"{test}::test_same_noise_scale_same_test_accuracy_not_same_batch_size"
    sam = f"{test}::test_sam_finds_flatter_solutions_that_test_better"

    def rows(seed):
        batches, rhos = _optimizer(seed)
        return batches.loc[(32, 0.05)], batches.loc[(256, 0.05)], batches.loc[(256, 0.4)], rhos

    return [
        Claim("optimizer.large_batch_trains_less", page, scale,
              "At the same learning rate and epochs, batch 256 ends more than 3 points lower in training accuracy than batch 32",
              "points", lambda seed: 100 * (rows(seed)[0]["train accuracy"] - 0.03 - rows(seed)[1]["train accuracy"])),
        Claim("optimizer.large_batch_tests_worse", page, scale,
              "... and more than 1.5 points lower in test accuracy", "points",
              lambda seed: 100 * (rows(seed)[0]["test accuracy"] - 0.015 - rows(seed)[1]["test accuracy"])),
        Claim("optimizer.scaled_learning_rate_recovers", page, scale,
              "Batch 256 with the learning rate scaled by 8 ends within a point of batch 32 in test accuracy", "points",
              lambda seed: 1 - 100 * abs(rows(seed)[2]["test accuracy"] - rows(seed)[0]["test accuracy"])),
        Claim("optimizer.scaled_beats_unscaled", page, scale,
              "... and more than 1.5 points above batch 256 at the unscaled rate", "points",
              lambda seed: 100 * (rows(seed)[2]["test accuracy"] - 0.015 - rows(seed)[1]["test accuracy"])),
        Claim("optimizer.scaled_batch_ends_flattest", page, scale,
              "Batch 256 at the scaled learning rate ends flatter than both others", "sharpness",
              lambda seed: min(rows(seed)[0]["sharpness"], rows(seed)[1]["sharpness"]) - rows(seed)[2]["sharpness"]),
        Claim("optimizer.sam_flatter_with_larger_rho", page, sam,
              "SAM ends at flatter points than SGD, the flatter the larger ρ", "sharpness",
              lambda seed: float(-rows(seed)[3]["sharpness"].diff().max())),
        Claim("optimizer.sam_tests_better", page, sam,
              "SAM with ρ 0.2 ends more than half a point above SGD in test accuracy", "points",
              lambda seed: 100 * (rows(seed)[3].loc[0.2, "test accuracy"] - 0.005 - rows(seed)[3].loc[0.0, "test accuracy"])),
        Claim("optimizer.sam_lower_test_loss", page, sam,
              "SAM with ρ 0.2 ends with a test loss more than 0.02 below SGD's", "loss",
              lambda seed: rows(seed)[3].loc[0.0, "test loss"] - 0.02 - rows(seed)[3].loc[0.2, "test loss"]),
    ]


def claims() -> list[Claim]:
    """Every registered claim, page by page."""
    return [*_max_norm_claims(), *_noise_claims(), *_optimizer_claims()]

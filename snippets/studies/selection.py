"""Choices made on validation data: each technique's strength, and the best technique.

The regularizer study tries most techniques at a few strengths (``configs.TECHNIQUES``).
Per technique, the strength kept is the one with the highest mean validation accuracy
over the seeds; the test set plays no part in the choice, so the kept configuration's
test accuracy is an honest estimate (its validation accuracy is not: it was maximized).
The best technique, the one with the highest validation accuracy at its kept strength,
is the regularizer the sweeps over training-set size and label noise train with.
"""

from __future__ import annotations

import numpy as np

from snippets.studies.configs import STUDIES, TECHNIQUES, RunConfig, Technique, sweep_study
from snippets.studies.results import StudyResults, load_study
from snippets.studies.statistics import METRICS, value

#: Not a technique of its own, so never "the best technique".
NOT_CANDIDATES = ("none", "combined")


class SelectionError(RuntimeError):
    """A choice that needs results which are not there yet."""


def mean_validation(runs: list[dict]) -> float:
    return float(np.mean([value(r, METRICS["val"]) for r in runs]))


def chosen_strengths(results: StudyResults) -> dict[str, str]:
    """Technique -> the name of its configuration with the best mean validation accuracy
    (the first on a tie), for every technique with runs."""
    chosen = {}
    for technique in TECHNIQUES:
        tried = [c.name for c in technique.configs() if results.runs.get(c.name)]
        if tried:
            chosen[technique.name] = max(tried, key=lambda name: (mean_validation(results.runs[name]), -tried.index(name)))
    return chosen


def technique_of(config_name: str) -> Technique:
    return next(t for t in TECHNIQUES if config_name in {c.name for c in t.configs()})


def best_technique(results: StudyResults) -> str:
    """The configuration name of the technique with the best mean validation accuracy at its kept strength."""
    chosen = {t: name for t, name in chosen_strengths(results).items() if t not in NOT_CANDIDATES}
    if not chosen:
        raise SelectionError("no technique of the regularizer study has runs yet")
    return max(chosen.values(), key=lambda name: mean_validation(results.runs[name]))


def best_config(results: StudyResults) -> RunConfig:
    name = best_technique(results)
    return next(c for c in STUDIES["regularizers"] if c.name == name)


def sweep_configs(results_dir) -> tuple[RunConfig, ...]:
    """The sweeps study's configurations: they train with the regularizer study's best technique,
    so every configuration of that study needs runs first."""
    regularizers = load_study(results_dir, "regularizers")
    missing = [c.name for c in STUDIES["regularizers"] if not regularizers.runs.get(c.name)]
    if missing:
        raise SelectionError(
            f"the sweeps train with the regularizer study's best technique, chosen on its results, but "
            f"{len(missing)} of its configurations have no runs in {results_dir} ({', '.join(missing[:4])}"
            f"{', …' if len(missing) > 4 else ''}); run `python -m snippets study regularizers` first "
            "(`study all` runs it before the sweeps; with --shard, merge the regularizer study's shards first)")
    return sweep_study(best_config(regularizers))


def technique_results(results: StudyResults) -> StudyResults:
    """The regularizer study as one row per technique: the runs of its kept strength, under its name."""
    import dataclasses

    chosen = chosen_strengths(results)
    configs = [dataclasses.replace(c, name=technique)
               for technique, name in chosen.items() for c in results.configs if c.name == name]
    return dataclasses.replace(results, runs={t: results.runs[name] for t, name in chosen.items()}, configs=configs,
                               nonstandard=[n for n in results.nonstandard if n in chosen.values()])

"""Statistics over seeds: a metric of a run, mean ± sd with a t-interval, and paired differences.

Configurations of a study are run with the same seeds, so a difference between two
configurations is taken seed by seed (a paired t-test), not between two means.
"""

from __future__ import annotations

import math

import numpy as np

METRICS = {
    "train": "final.train_accuracy",
    "val": "final.val_accuracy",
    "test": "final.test_accuracy",
}



def value(run: dict, dotted: str) -> float:
    node = run
    for part in dotted.split("."):
        node = node[part]
    return float(node)



def summarize(values: list[float]) -> dict:
    """Mean, sample standard deviation and a 95% t-interval of the mean."""
    from scipy import stats

    data = np.asarray(values, dtype=float)
    n = len(data)
    mean = float(data.mean())
    sd = float(data.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half}


def paired_difference(runs: list[dict], baseline: list[dict], metric: str) -> dict | None:
    """Difference to the baseline over the seeds both have, with a paired t-test."""
    from scipy import stats

    base = {run["seed"]: value(run, metric) for run in baseline}
    pairs = [(value(run, metric), base[run["seed"]]) for run in runs if run["seed"] in base]
    if len(pairs) < 2:
        return None
    diffs = np.array([a - b for a, b in pairs])
    summary = summarize(list(diffs))
    if np.ptp(diffs) > 1e-12 * max(1.0, float(np.abs(diffs).max())):
        summary["p"] = float(stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue)
    else:  # the same difference in every seed: no seed-to-seed noise, so only a zero is not resolved
        summary["p"] = 1.0 if np.allclose(diffs, 0.0, atol=1e-12) else 0.0
    return summary


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``m`` p-values (Holm, 1979), in their given order.

    The k-th smallest p-value is multiplied by ``m - k + 1`` (k from 1), capped at 1, and
    made no smaller than the adjusted values before it. Rejecting where the adjusted value
    is below alpha keeps the chance of any false rejection among the ``m`` tests below alpha.
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def comparisons(runs_by_name: dict[str, list[dict]], baseline: str, metric: str) -> dict[str, dict]:
    """Each configuration's paired difference to ``baseline``, with ``p`` and the Holm-adjusted ``p_holm``.

    The family is every configuration compared with the baseline, so a study of eight
    configurations corrects seven tests.
    """
    found = {}
    for name, runs in runs_by_name.items():
        if name != baseline:
            delta = paired_difference(runs, runs_by_name.get(baseline, []), metric)
            if delta:
                found[name] = delta
    for delta, adjusted in zip(found.values(), holm([d["p"] for d in found.values()])):
        delta["p_holm"] = adjusted
    return found

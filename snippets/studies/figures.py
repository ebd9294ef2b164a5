"""The study pages' figures: learning curves with a band over seeds, and train − test accuracy per technique."""

from __future__ import annotations

import math

import numpy as np

from snippets.plotting import COLORS, Figure, mean_sd_band
from snippets.studies.results import StudyResults
from snippets.studies.statistics import METRICS, summarize, value
from snippets.studies.tables import noisy

def histories(runs: list[dict], key: str) -> list[list[float]]:
    """One metric's per-epoch history, one list per run."""
    return [run["history"][key] for run in runs]


def learning_curves(results: StudyResults, metrics: list[tuple[str, str]], title: str):
    """Mean over seeds with a band of ± one standard deviation, per configuration."""
    fig = Figure(figsize=(5.2 * len(metrics), 3.6))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    colors = COLORS
    for ax, (key, label) in zip(axes[0], metrics):
        for index, (name, runs) in enumerate(results.runs.items()):
            color = colors[index % len(colors)]
            for split, style in (("", "--"), ("val_", "-")):
                mean_sd_band(ax, histories(runs, split + key), linestyle=style, color=color,
                     label=f"{name} ({'validation' if split else 'training'})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=1)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def technique_panels(results: StudyResults, baseline: str):
    """One panel per technique: its training and validation accuracy, the baseline's validation in grey."""
    names = list(results.runs)
    columns = 4
    rows = math.ceil(len(names) / columns)
    fig = Figure(figsize=(12, 2.8 * rows))
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)

    for ax, name in zip(axes.flat, names):
        if name != baseline and baseline in results.runs:
            mean_sd_band(ax, histories(results.runs[baseline], "val_accuracy"), color="#9e9e9e",
                 label=f"{baseline}, validation")
        mean_sd_band(ax, histories(results.runs[name], "accuracy"), color="#3949ab", linestyle="--",
             label="training (noisy labels)")
        mean_sd_band(ax, histories(results.runs[name], "val_accuracy"), color="#e64a19", label="validation")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    handles, labels = axes.flat[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def gap_figure(results: StudyResults):
    """Train − test accuracy and test accuracy per technique, mean ± sd over seeds.

    On noisy training labels the left panel is not a generalization gap: it is accuracy on
    the noisy labels minus accuracy on the clean test labels, and the title says so.
    """

    names = list(results.runs)
    gaps = [summarize([value(r, METRICS["train"]) - value(r, METRICS["test"]) for r in results.runs[n]]) for n in names]
    tests = [summarize([value(r, METRICS["test"]) for r in results.runs[n]]) for n in names]
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    y = np.arange(len(names))
    left.barh(y, [100 * g["mean"] for g in gaps], xerr=[100 * g["sd"] for g in gaps], color="#5c6bc0")
    if noisy(results):
        left.set_xlabel("accuracy on noisy training labels − clean test accuracy (points)")
        left.set_title("Noisy-label train − clean test accuracy", fontsize=10)
    else:
        left.set_xlabel("train − test accuracy (points)")
        left.set_title("Generalization gap", fontsize=10)
    right.errorbar([100 * t["mean"] for t in tests], y, xerr=[100 * t["sd"] for t in tests], fmt="o", color="#e64a19")
    right.set_xlabel("test accuracy (%)")
    right.set_title("Test accuracy", fontsize=10)
    for ax in (left, right):
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig



def empty_svg() -> str:
    return '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1" role="img" aria-label="no results yet"></svg>\n'

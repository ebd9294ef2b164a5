"""Calibration: how far a classifier's confidence is from its accuracy.

Shared by the label-smoothing and averaging pages, which show this code: a reliability
table (per confidence bin: images, mean confidence, accuracy) and the expected
calibration error computed from it (Guo et al., 2017).
"""

# --8<-- [start:expected_calibration_error]
import numpy as np
import pandas as pd


def reliability_bins(probabilities, labels, bins=15):
    """Per confidence bin (equal widths on [0, 1]): how many images, mean confidence, accuracy."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)  # (lo, hi]
    rows = []
    for b in range(bins):
        inside = which == b
        rows.append({
            "from": edges[b], "to": edges[b + 1], "images": int(inside.sum()),
            "confidence": confidence[inside].mean() if inside.any() else np.nan,
            "accuracy": correct[inside].mean() if inside.any() else np.nan,
        })
    return pd.DataFrame(rows)


def expected_calibration_error(probabilities, labels, bins=15):
    """ECE: the bins' |accuracy - confidence|, weighted by their share of the images."""
    table = reliability_bins(probabilities, labels, bins).dropna()
    weights = table["images"] / table["images"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())
# --8<-- [end:expected_calibration_error]

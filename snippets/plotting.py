"""Figures for the site: matplotlib without a display, rendered as inline SVG.

Every figure is made with matplotlib's object API, ``Figure(...)`` and ``fig.subplots(...)``,
not ``pyplot``: nothing is shown, nothing global is kept, and ``svg(fig)`` turns it into
markup that a page prints.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI; figures are written, not shown
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402 (the one way to make a figure here)

__all__ = ["COLORS", "Figure", "mean_sd_band", "svg"]

plt.rcParams["svg.hashsalt"] = "regularization-handbook"  # stable element ids: same figure, same file


def svg(figure) -> str:
    """The figure as SVG markup; pages embed it by printing it (markdown-exec ``html="on"``)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)  # figures made through pyplot are released; Figure(...) ones are not registered
    markup = buffer.getvalue()
    return markup[markup.index("<svg") :]  # drop the XML prolog and DOCTYPE: invalid inside HTML


#: The colours of matplotlib's default cycle, for figures that colour several series alike.
COLORS = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]


def mean_sd_band(ax, curves, **style) -> None:
    """The mean of several curves (one per seed) with a band of ± one standard deviation,
    in the line's colour; curves are cut to the shortest (early stopping ends runs early)."""
    length = min(len(curve) for curve in curves)
    data = np.array([curve[:length] for curve in curves])
    steps = np.arange(1, length + 1)
    mean, sd = data.mean(axis=0), data.std(axis=0)
    ax.plot(steps, mean, **style)
    ax.fill_between(steps, mean - sd, mean + sd, color=style["color"], alpha=0.15, linewidth=0)

"""Figures for the site: matplotlib without a display, rendered as inline SVG."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI; figures are written, not shown
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams["svg.hashsalt"] = "regularization-handbook"  # stable element ids: same figure, same file


def svg(figure) -> str:
    """The figure as SVG markup; pages embed it by printing it (markdown-exec ``html="on"``)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    markup = buffer.getvalue()
    return markup[markup.index("<svg") :]  # drop the XML prolog and DOCTYPE: invalid inside HTML

"""The robustness page: each demonstration claim's margins on further seeds, as a table.

``benchmarks/robustness.py`` writes the results file; this reads it for the report. A
claim *held* on a seed when its margin is above zero. The table gives, per claim, in how
many of the seeds it held, its smallest margin and the sample standard deviation of its
margins over the seeds: a claim whose smallest margin is small next to that spread is one
seed away from failing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from snippets.studies.results import DEFAULT_RESULTS_DIR
from snippets.studies.tables import Numbers, markdown_table

ROBUSTNESS_FORMAT = 1
#: Where the results file lies in a results folder.
ROBUSTNESS_RELATIVE = Path("robustness") / "claims.json"
ROBUSTNESS_FILE = DEFAULT_RESULTS_DIR / ROBUSTNESS_RELATIVE
#: The further seeds start here: every page and test uses seeds below it.
FIRST_SEED = 100


def summarize_claim(row: dict) -> dict:
    margins = np.asarray(row["margins"], dtype=float)
    return {"held": int((margins > 0).sum()), "smallest": float(margins.min()),
            "spread": float(margins.std(ddof=1)) if len(margins) > 1 else float("nan")}


#: Where the tests are read online (the page links each claim's test file).
SOURCE_URL = "https://github.com/regularization-handbook/handbook/blob/main/"


def _test_link(test: str) -> str:
    """``tests/test_x.py::test_name`` as a link to its file; the name itself is in the results file."""
    path = test.split("::")[0]
    return f"[{path.rsplit('/', 1)[-1]}]({SOURCE_URL}{path})"


def robustness_table(path: Path, numbers: Numbers) -> str:
    """The claims' table and its provenance, or a note saying how to make the results file."""
    path = Path(path)
    if not path.exists():
        return ('!!! failure "No results yet"\n    Nothing has been measured for this page in this build. '
                "Run `make robustness` (or `python benchmarks/robustness.py`), then `python -m snippets report`.\n")
    payload = json.loads(path.read_text())
    if payload.get("format") != ROBUSTNESS_FORMAT:
        raise ValueError(f"{path}: robustness format {payload.get('format')}, expected {ROBUSTNESS_FORMAT}")
    seeds = payload["seeds"]
    rows, failing = [], []
    for row in payload["claims"]:
        summary = summarize_claim(row)
        where = f"robustness {row['name']}"
        page = row["page"]
        rows.append([
            row["statement"], f"[{page.removesuffix('.md')}](../{page})", _test_link(row["test"]),
            f"{summary['held']} of {len(seeds)}",
            f"{numbers.plain(summary['smallest'], where + ' smallest', 3)} {row['unit']}",
            f"{numbers.plain(summary['spread'], where + ' spread', 3)} {row['unit']}",
        ])
        if summary["held"] < len(seeds):
            failing.append(row["statement"])
    table = markdown_table(["Claim", "Page", "Test file", "Held", "Smallest margin", "Spread (sd) of the margin"],
                           rows, align="lllrrr")
    verdict = (f"\nEvery claim held on all {len(seeds)} seeds.\n" if not failing else
               f"\n**Did not hold on every seed** ({len(failing)}): " + "; ".join(failing) + ".\n")
    pages = sorted({row["page"] for row in payload["claims"]})
    covered = ("\nPages whose claims are measured here: " + ", ".join(f"[{p.removesuffix('.md')}](../{p})" for p in pages)
               + ". The other pages' claims are asserted by their tests on the seeds those use.\n")
    provenance = (f"\n- **Seeds**: {seeds[0]} to {seeds[-1]} ({len(seeds)}), none of which a page or a test uses\n"
                  f"- **Finished**: {payload['finished']}; commit {payload['commit']}\n"
                  f"- **CPU**: {payload['cpu']}\n"
                  f"- **Libraries**: {', '.join(f'{k} {v}' for k, v in payload['versions'].items())}\n"
                  f"- **Command**: `{payload['command']}`\n")
    return table + verdict + covered + provenance

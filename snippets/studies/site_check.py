"""The published-numbers check: the built pages show what the results files give now.

``python -m snippets check-site`` regenerates the report from the results files,
compares it with the generated files the site was built from, and looks up every
number of ``numbers.json`` in the visible text of the page that includes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from snippets.studies.claims import ClaimError
from snippets.studies.configs import STUDIES, sweep_study
from snippets.studies.generated import GENERATED_DIR, page_of
from snippets.studies.report import write_report
from snippets.studies.results import load_study
from snippets.studies.selection import best_config


def page_text(html_path: Path) -> str:
    """The visible text of a built page, tags removed and entities decoded."""
    import html
    import re

    markup = Path(html_path).read_text(encoding="utf8")
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def check_site(results_dir: Path, site_dir: Path, generated_dir: Path = GENERATED_DIR,
               require_complete: bool = False) -> tuple[int, list[str]]:
    """Compare the built pages with a fresh report of the results files.

    Returns the number of published numbers checked and a list of problems: a sentence of a
    study page that the results files no longer support, a generated file that differs from
    what the results files give now, a number missing from the page that includes it, or
    (with ``require_complete``) a study that is incomplete, mixes code
    versions, or was run with settings other than its own.
    """
    import tempfile

    problems: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            write_report(results_dir, Path(scratch))
        except ClaimError as error:
            return 0, [str(error)]
        fresh = json.loads((Path(scratch) / "numbers.json").read_text())["numbers"]
        # The pages' text and the data the sweeps' interactive views draw.
        for path in sorted([*Path(scratch).glob("*.md"), *Path(scratch).glob("sweep_*_view.json")]):
            published = Path(generated_dir) / path.name
            if not published.exists() or published.read_text() != path.read_text():
                problems.append(f"{published}: differs from a fresh report of {results_dir}; run `python -m snippets report`")
    texts: dict[str, str] = {}
    for record in fresh:
        page = page_of(record["file"])
        if page not in texts:
            html_path = Path(site_dir) / page
            if not html_path.exists():
                problems.append(f"{html_path}: missing; build the site first (`mkdocs build`)")
                texts[page] = ""
                continue
            texts[page] = page_text(html_path)
        if texts[page] and record["text"] not in texts[page]:
            problems.append(f"{page}: {record['where']} = {record['text']} (from {record['file']}) is not on the page")
    if require_complete:
        studies = [load_study(results_dir, study) for study in STUDIES]
        regularizers = next(r for r in studies if r.study == "regularizers")
        if regularizers.complete:
            studies.append(load_study(results_dir, "sweeps", list(sweep_study(best_config(regularizers)))))
        else:
            problems.append("study sweeps: not checked, the regularizer study it depends on is incomplete")
        for results in studies:
            study = results.study
            if not results.complete:
                problems.append(f"study {study}: incomplete ({len(results.all_runs)} runs)")
            if results.nonstandard:
                problems.append(f"study {study}: run with non-standard settings: {', '.join(results.nonstandard)}")
            if len({r["code"] for r in results.all_runs}) > 1 or len({json.dumps(r["versions"]) for r in results.all_runs}) > 1:
                problems.append(f"study {study}: mixes runs of different code or library versions")
            if results.problems:
                problems.extend(results.problems)
    return len(fresh), problems


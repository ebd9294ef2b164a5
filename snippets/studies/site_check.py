"""The published-numbers check: the built pages show what the results files give now.

``python -m snippets check-site`` regenerates the report from the results files,
compares it with the generated files the site was built from, and checks every number
of ``numbers.json`` at its place: the table cell or sentence of the fresh report that
holds it must stand, whole, as a cell or sentence of the built page that includes it.
A number is never looked up as a substring of the whole page, where its digits could
stand anywhere (an sd, a p-value, another cell). Both sides are read with an HTML parser
(the fresh report's Markdown rendered as MkDocs renders tables, lists and admonitions).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from snippets.studies.claims import ClaimError
from snippets.studies.configs import STUDIES, sweep_study
from snippets.studies.generated import GENERATED_DIR, page_of
from snippets.studies.report import write_report
from snippets.studies.results import load_study
from snippets.studies.selection import best_config


#: The elements whose text is one place of a page: a table cell, a heading, a paragraph or list
#: item (split into sentences). Text goes to the innermost one that holds it.
PLACES = {"td", "th", "p", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "caption"}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])")


class _Places(HTMLParser):
    """Collects the text of every place (``PLACES``) of an HTML document, scripts and styles left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.places: list[str] = []
        self._open: list[list[str]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in PLACES:
            self._open.append([])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in PLACES and self._open:
            text = " ".join("".join(self._open.pop()).split())
            if text:
                self.places.extend(SENTENCE_END.split(text) if tag in ("p", "li", "dd") else [text])

    def handle_data(self, data):
        if self._open and not self._skip:
            self._open[-1].append(data)


def places(markup: str) -> list[str]:
    """The table cells, headings and sentences of an HTML document, whitespace collapsed."""
    parser = _Places()
    parser.feed(markup)
    parser.close()
    return parser.places


def render_markdown(text: str) -> str:
    """A generated file's Markdown as HTML, with the extensions its tables, lists and warnings use."""
    import markdown

    return markdown.markdown(text, extensions=["tables", "admonition", "attr_list", "md_in_html"])


def check_site(results_dir: Path, site_dir: Path, generated_dir: Path = GENERATED_DIR,
               require_complete: bool = False) -> tuple[int, list[str]]:
    """Compare the built pages with a fresh report of the results files.

    Returns the number of published numbers checked and a list of problems: a sentence of a
    study page that the results files no longer support, a generated file that differs from
    what the results files give now, a number whose cell or sentence is not on the page that
    includes it, or
    (with ``require_complete``) a study that is incomplete, mixes code
    versions, or was run with settings other than its own.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        return _check(Path(results_dir), Path(site_dir), Path(generated_dir), require_complete, Path(scratch))


def _check(results_dir: Path, site_dir: Path, generated_dir: Path, require_complete: bool,
           scratch: Path) -> tuple[int, list[str]]:
    """``check_site``'s work, with the fresh report written into ``scratch``."""
    problems: list[str] = []
    try:
        write_report(results_dir, scratch)
    except ClaimError as error:
        return 0, [str(error)]
    fresh = json.loads((scratch / "numbers.json").read_text())["numbers"]
    # The pages' text and the data the sweeps' interactive views draw.
    for path in sorted([*scratch.glob("*.md"), *scratch.glob("sweep_*_view.json")]):
        published = generated_dir / path.name
        if not published.exists() or published.read_text() != path.read_text():
            problems.append(f"{published}: differs from a fresh report of {results_dir}; run `python -m snippets report`")
    # Each number's place in the fresh report: the cells and sentences of its file that hold it.
    # A page must show each such place as often as its generated files hold it, so that a cell
    # changed on the page is found even when another cell of the same text remains.
    fresh_places = {path.name: places(render_markdown(path.read_text())) for path in scratch.glob("*.md")}
    by_page: dict[str, list[dict]] = {}
    for record in fresh:
        by_page.setdefault(page_of(record["file"]), []).append(record)
    for page, records in by_page.items():
        html_path = site_dir / page
        if not html_path.exists():
            problems.append(f"{html_path}: missing; build the site first (`mkdocs build`)")
            continue
        shown = Counter(places(html_path.read_text(encoding="utf8")))
        needed: Counter = Counter()
        holders: dict[str, list[dict]] = {}
        for file in dict.fromkeys(record["file"] for record in records):
            texts = [record for record in records if record["file"] == file]
            for place in fresh_places.get(file, []):
                inside = [record for record in texts if record["text"] in place]
                if inside:
                    needed[place] += 1
                    holders.setdefault(place, []).extend(inside)
            placed = {id(record) for inside in holders.values() for record in inside}
            problems.extend(f"{file}: {record['where']} = {record['text']} is in no table cell or sentence of the "
                            "file: the check cannot find its place" for record in texts if id(record) not in placed)
        for place, count in needed.items():
            if shown[place] < count:
                record = holders[place][0]
                problems.append(f"{page}: {record['where']} = {record['text']} (from {record['file']}): its place is "
                                f"not on the page ({shown[place]} of {count} times): {place[:160]!r}")
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


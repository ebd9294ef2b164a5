"""Docs tests: every Python block on every page runs, exactly as the page shows it.

pytest-markdown-docs parses Markdown with plain CommonMark. Two things on our pages
would hide code from it: ``--8<--`` includes (the page shows the included file, the
test would run the include line) and fences nested in admonitions or content tabs
(CommonMark sees indented text). The parser below expands includes with pymdownx's
own snippet preprocessor, configured from mkdocs.yml, and lifts nested blocks out
of their containers, keeping each line's original number for error reports.

After the run, the number of docs blocks that passed is compared with the number of
Python fences written in the pages; fewer is a failure, never a silent skip.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
DOCS = ROOT / "docs"
CONTAINER = re.compile(r"^(\s*)(!!!|\?\?\?\+?|===)\s")
PYTHON_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*\{?\s*\.?(python|py|python3)\b")


@lru_cache(maxsize=1)
def snippet_preprocessor():
    import markdown
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    options = dict(config["mdx_configs"]["pymdownx.snippets"])
    options["base_path"] = [str(ROOT / p) for p in options.get("base_path", ["."])]
    md = markdown.Markdown(extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": options})
    return md.preprocessors["snippet"]


def expand_includes(lines: list[str]) -> tuple[list[str], list[int]]:
    """Expand ``--8<--`` lines; return the new lines and each one's original line index."""
    preprocessor = snippet_preprocessor()
    out, origin = [], []
    for index, line in enumerate(lines):
        expanded = preprocessor.run([line]) if "--8<--" in line else [line]
        out.extend(expanded)
        origin.extend([index] * len(expanded))
    return out, origin


def lift_containers(lines: list[str]) -> list[str]:
    """Remove admonition and tab markers and the indentation of their bodies."""
    out, indents = [], []
    for line in lines:
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            while indents and indent < indents[-1]:
                indents.pop()
            marker = CONTAINER.match(line)
            if marker:
                out.append("")
                indents.append(len(marker.group(1)) + 4)
                continue
            out.append(line[indents[-1]:] if indents else line)
        else:
            out.append("")
    return out


class HandbookParser:
    """A markdown-it parser that sees what the built page shows."""

    def __init__(self):
        from markdown_it import MarkdownIt

        self.markdown_it = MarkdownIt(config="commonmark")

    def parse(self, text: str):
        lines, origin = expand_includes(text.split("\n"))
        tokens = self.markdown_it.parse("\n".join(lift_containers(lines)))
        for token in tokens:
            if token.map:
                # Report the line of the page, not of the expanded text.
                token.map = [origin[token.map[0]], origin[min(token.map[1], len(origin) - 1)]]
        return tokens


def pytest_markdown_docs_markdown_it():
    return HandbookParser()


def count_python_fences(path: Path) -> int:
    return sum(1 for line in path.read_text("utf8").splitlines() if PYTHON_FENCE.match(line))


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when fewer docs blocks passed than the pages hold."""
    if not session.config.option.markdowndocs:
        return
    collected = {Path(str(item.path)) for item in session.items if item.get_closest_marker("markdown-docs")}
    pages = sorted(DOCS.rglob("*.md"))
    if not pages or not all(page in collected or count_python_fences(page) == 0 for page in pages):
        return  # a partial run (-k, one file): nothing to compare with
    expected = sum(count_python_fences(page) for page in pages)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = sum(
        1
        for report in reporter.stats.get("passed", [])
        if report.when == "call" and report.nodeid.startswith("docs/") and "[CodeFence#" in report.nodeid
    )
    reporter.write_line(f"docs code blocks: {passed} passed of {expected} Python blocks in {len(pages)} pages")
    if passed != expected:
        reporter.write_line(f"ERROR: {expected - passed} docs code block(s) did not run and pass", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

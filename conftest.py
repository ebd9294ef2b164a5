"""Docs tests: every Python block on every page runs, exactly as the page shows it.

pytest-markdown-docs parses Markdown with plain CommonMark. Two things on our pages
would hide code from it: ``--8<--`` includes (the page shows the included file, the
test would run the include line) and fences nested in admonitions or content tabs
(CommonMark sees indented text). The parser in snippets/page_code.py (shared with the
hook that writes each page's downloadable script and notebook) expands includes with
pymdownx's own snippet preprocessor, configured from mkdocs.yml, and lifts nested
blocks out of their containers, keeping each line's original number for error reports.

After the run, the number of docs blocks that passed is compared with the number of
Python fences written in the pages; fewer is a failure, never a silent skip. A page with
Python blocks that was not collected at all fails the run too, unless the run was
narrowed on purpose (-k, -m, --deselect, --last-failed, or file arguments that leave
out the docs folder).

The reader's run (tests marked ``reader_run``: the handbook's wheel installed into a fresh
environment, every page's copied code run there uncached) takes minutes of training, so it
is deselected unless ``--reader-run`` asks for it: ``make check`` runs it against the built
site, and ``.ci/run`` runs ``make check`` as a stage of its own. The run says so in its summary.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest

from snippets.page_code import HandbookParser

ROOT = Path(__file__).resolve().parent
DOCS = Path(os.environ.get("HANDBOOK_DOCS", ROOT / "docs")).resolve()  # another folder only in tests of this check

PYTHON_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*\{?\s*\.?(python|py|python3)\b")


READER_RUN = "reader_run"


def pytest_addoption(parser):
    parser.addoption("--reader-run", action="store_true",
                     help="also run the reader's run: the wheel in a fresh environment, every page's copied code "
                          "uncached (make check)")


def pytest_collection_modifyitems(config, items):
    """Deselect the reader's run unless --reader-run asks for it; the summary names what was left out."""
    if config.getoption("--reader-run"):
        return
    left_out = [item for item in items if item.get_closest_marker(READER_RUN)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker(READER_RUN)]
        config.stash[READER_RUN_LEFT_OUT] = [item.name for item in left_out]


READER_RUN_LEFT_OUT = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    left_out = config.stash.get(READER_RUN_LEFT_OUT, [])
    if left_out:
        terminalreporter.write_line(
            f"reader's run: {len(left_out)} test(s) deselected ({', '.join(left_out)}); "
            "`make check` runs them against the built site (`pytest --reader-run`)")


@pytest.hookimpl(tryfirst=True)  # before the plugin's own CommonMark parser, however plugins were loaded
def pytest_markdown_docs_markdown_it():
    return HandbookParser()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Keep pytest's output capture on while a docs block runs, so that the tables and SVG figures
    the pages print show only for a block that fails. pytest-markdown-docs 0.9.2 turns capture off
    around each block (``capman.global_and_fixture_disabled``), which put every figure in the log."""
    capman = item.config.pluginmanager.getplugin("capturemanager")
    if not item.get_closest_marker("markdown-docs") or capman is None:
        return (yield)
    disabled = capman.global_and_fixture_disabled
    capman.global_and_fixture_disabled = contextlib.nullcontext
    try:
        return (yield)
    finally:
        capman.global_and_fixture_disabled = disabled


def count_python_fences(path: Path) -> int:
    return sum(1 for line in path.read_text("utf8").splitlines() if PYTHON_FENCE.match(line))


def narrowed_on_purpose(config: pytest.Config) -> bool:
    """Whether the command line chose a part of the tests: then not every page is expected."""
    option = config.option
    if option.keyword or option.markexpr or getattr(option, "deselect", None) or getattr(option, "lf", False):
        return True
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False  # pytest's own default: the testpaths of pyproject.toml, docs included
    here = config.invocation_params.dir
    named = [(here / arg.split("::")[0]).resolve() for arg in config.args]
    return not any(path == DOCS or path in DOCS.parents for path in named)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when fewer docs blocks passed than the pages hold."""
    if not session.config.option.markdowndocs:
        return
    collected = {Path(str(item.path)) for item in session.items if item.get_closest_marker("markdown-docs")}
    pages = sorted(page for page in DOCS.rglob("*.md") if "generated" not in page.relative_to(DOCS).parts)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    uncollected = [page for page in pages if page not in collected and count_python_fences(page)]
    if uncollected:
        if narrowed_on_purpose(session.config):
            return  # a partial run (-k, one file): nothing to compare with
        reporter.write_line(
            f"ERROR: {len(uncollected)} page(s) with Python blocks were not collected: "
            + ", ".join(str(page.relative_to(DOCS)) for page in uncollected), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    if not pages:
        return
    expected = sum(count_python_fences(page) for page in pages)
    root = session.config.rootpath
    passed = sum(
        1
        for report in reporter.stats.get("passed", [])
        if report.when == "call"
        and "[CodeFence#" in report.nodeid
        and (root / report.nodeid.split("::")[0]).resolve().is_relative_to(DOCS)
    )
    reporter.write_line(f"docs code blocks: {passed} passed of {expected} Python blocks in {len(pages)} pages")
    if passed != expected:
        reporter.write_line(f"ERROR: {expected - passed} docs code block(s) did not run and pass", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

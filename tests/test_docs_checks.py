"""The docs checks fail loudly: a failing block, a skipped block, a missing include, a broken link."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mkdocs.config import load_config
from mkdocs.exceptions import Abort
from pymdownx.snippets import SnippetMissingError

from tests.conftest import ROOT


def run_docs_tests(docs: Path, *arguments: str) -> subprocess.CompletedProcess:
    """pytest --markdown-docs on a folder of pages (or ``arguments``), with the project's docs-test configuration."""
    env = {**os.environ, "HANDBOOK_DOCS": str(docs), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "--rootdir", str(docs),
         "-c", os.devnull, "--markdown-docs", "--markdown-docs-syntax=superfences", *(arguments or [str(docs)])],
        cwd=docs, env=env, capture_output=True, text=True, timeout=300,
    )


def page(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "page.md"
    path.write_text(textwrap.dedent(text))
    return path


def test_blocks_in_admonitions_tabs_and_includes_all_run(tmp_path):
    page(tmp_path / "docs", '''
        # Page

        ```python
        --8<-- "snippets/data.py:corrupt_labels"
        ```

        !!! example "In an admonition"

            ```python
            print("in an admonition")
            ```

        === "In a tab"

            ```python exec="on" source="above"
            print("tab")
            ```
        ''')
    done = run_docs_tests(tmp_path / "docs")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "docs code blocks: 3 passed of 3 Python blocks in 1 pages" in done.stdout


def test_a_failing_block_names_the_page_and_line(tmp_path):
    page(tmp_path / "docs", '''
        # Page

        Some prose.

        ```python
        raise ValueError("broken example")
        ```
        ''')
    done = run_docs_tests(tmp_path / "docs")
    assert done.returncode != 0
    assert "page.md::[CodeFence#1][line:6]" in done.stdout and "broken example" in done.stdout


def test_a_blocks_output_shows_only_when_it_fails(tmp_path):
    """Pages print tables and SVG figures: a passing block keeps its output out of the log."""
    page(tmp_path / "docs", '''
        # Page

        ```python
        print("quiet when it passes")
        ```

        ```python
        print("shown with its failure")
        raise ValueError("broken example")
        ```
        ''')
    done = run_docs_tests(tmp_path / "docs")
    assert done.returncode != 0
    assert "quiet when it passes" not in done.stdout
    assert "shown with its failure" in done.stdout and "Captured stdout call" in done.stdout


def test_a_block_that_does_not_run_fails_the_session(tmp_path):
    page(tmp_path / "docs", '''
        # Page

        ```python
        print("runs")
        ```

        ```{.python notest}
        print("would be silently skipped")
        ```
        ''')
    done = run_docs_tests(tmp_path / "docs")
    assert done.returncode != 0
    assert "docs code blocks: 1 passed of 2 Python blocks" in done.stdout
    assert "1 docs code block(s) did not run and pass" in done.stdout


def test_a_page_left_out_of_the_run_fails_it_unless_the_run_was_narrowed(tmp_path):
    docs = tmp_path / "docs"
    page(docs, '```python\nprint("page")\n```\n')
    (docs / "other.md").write_text('```python\nprint("other")\n```\n')
    left_out = run_docs_tests(docs, "--ignore", str(docs / "other.md"), str(docs))
    assert left_out.returncode != 0
    assert "1 page(s) with Python blocks were not collected: other.md" in left_out.stdout
    for narrowed in (["page.md"], ["-k", "not other", str(docs)]):  # one file named, or -k: on purpose
        done = run_docs_tests(docs, *narrowed)
        assert done.returncode == 0, done.stdout[-3000:]
        assert "not collected" not in done.stdout and "docs code blocks" not in done.stdout


def build_pages(tmp_path: Path, text: str):
    """mkdocs build --strict with the project's mkdocs.yml, on a one-page docs folder."""
    from mkdocs.commands.build import build

    docs = tmp_path / "docs"
    page(docs, text)
    config = load_config(str(ROOT / "mkdocs.yml"), docs_dir=str(docs), site_dir=str(tmp_path / "site"),
                         nav=[{"Page": "page.md"}], extra_javascript=[], extra_css=[])
    cwd = os.getcwd()
    os.chdir(ROOT)  # includes are relative to the project, as in a real build
    try:
        build(config)
    finally:
        os.chdir(cwd)


def test_a_missing_include_fails_the_build_with_its_path(tmp_path, caplog):
    with pytest.raises(SnippetMissingError, match="snippets/no_such_module.py"):
        build_pages(tmp_path, '# Page\n\n```python\n--8<-- "snippets/no_such_module.py"\n```\n')
    assert "Error reading page 'page.md'" in caplog.text


def test_a_broken_internal_link_fails_the_strict_build(tmp_path, caplog):
    with pytest.raises(Abort):
        build_pages(tmp_path, "# Page\n\nSee [the missing chapter](chapters/nowhere.md).\n")
    assert "chapters/nowhere.md" in caplog.text and "page.md" in caplog.text


def test_a_missing_generated_file_says_which_command_makes_it(tmp_path, caplog):
    with pytest.raises(Abort):
        build_pages(tmp_path, '# Page\n\n--8<-- "docs/generated/not_made_yet.md"\n')
    assert "not_made_yet.md" in caplog.text and "make report" in caplog.text


# ---------------------------------------------------------------- reference lists

REFERENCE_PAGES = sorted((ROOT / "docs" / "chapters").glob("*.md")) + [
    ROOT / "docs" / "studies" / "notebook-comparison.md",
    ROOT / "docs" / "studies" / "regularizer-study.md",
]
#: The study pages' generated sentences and tables are written by these modules.
STUDY_TEXT_SOURCES = ("snippets/studies/claims.py", "snippets/studies/tables.py")


def reference_list(page: Path) -> tuple[list[str], str]:
    """The entries of a page's reference list (the section references.md includes) and the rest of its text."""
    import re

    text = page.read_text(encoding="utf8")
    found = re.search(r"\[start:references\](.*?)\[end:references\]", text, re.S)
    assert found, f"{page.name}: no references section for docs/references.md to include"
    entries = [" ".join(e.split()) for e in re.findall(r"^- (.*?)(?=^- |\Z)", found.group(1), re.S | re.M)]
    body = text[: found.start()] + text[found.end():]
    if page.parent.name == "studies":
        body += "".join((ROOT / source).read_text(encoding="utf8") for source in STUDY_TEXT_SOURCES)
    return entries, body


def cited_as(entry: str) -> str:
    """What the page's text must contain for an entry to count as cited: its first author's
    surname, or for a source without authors the first name in backticks or quotes."""
    import re

    if re.match(r"^[^,(`\"]+, [A-Z]\.", entry):
        return entry.split(",")[0]
    quoted = re.search(r"`([^`]+)`|\"([^\"]+)\"", entry)
    assert quoted, f"cannot tell how this reference is cited: {entry[:80]}"
    return quoted.group(1) or quoted.group(2)


def test_every_listed_reference_is_cited_on_its_page():
    uncited = [f"{page.name}: {entry[:70]}" for page in REFERENCE_PAGES
               for entries, body in [reference_list(page)] for entry in entries if cited_as(entry) not in body]
    assert not uncited, "listed but not cited on the page:\n" + "\n".join(uncited)


def test_one_spelling_per_author_across_the_reference_lists():
    import re
    import unicodedata

    spellings: dict[str, set[str]] = {}
    for page in REFERENCE_PAGES:
        for entry in reference_list(page)[0]:
            authors = entry.split("(")[0]
            for surname in re.findall(r"(?:^|, |& )([^\W\d_][\w'-]*(?: [\w'-]+)?), (?:[A-Z]\.)", authors):
                folded = unicodedata.normalize("NFKD", surname).encode("ascii", "ignore").decode().lower()
                spellings.setdefault(folded.replace("ł", "l"), set()).add(surname)
    assert len(spellings) > 50  # the lists were read
    assert not {k: v for k, v in spellings.items() if len(v) > 1}
    assert "Mądry" in spellings["madry"] and "Bjorck" in spellings["bjorck"]


READER_PAGES = sorted([*(ROOT / "docs" / "chapters").glob("*.md"), *(ROOT / "docs" / "beyond").glob("*.md")])
#: What the studies use for speed, and what a page must not hide its training behind.
STUDY_MACHINERY = ("snippets.training", "snippets.models", "build_mlp", "notebook_model", "compile_like_notebook")


def test_pages_train_with_keras_as_readers_write_it():
    """Every chapter and part II page trains with Keras' fit, never with the studies' loop."""
    from snippets.page_code import page_cells

    assert len(READER_PAGES) >= 16  # the seven chapters and the nine topics of part II
    trains_with_fit, hidden = [], {}
    for page in READER_PAGES:
        code = "\n".join(cell.text for cell in page_cells(page.read_text("utf8")) if cell.kind == "code")
        hidden[page.name] = [name for name in STUDY_MACHINERY if name in code]
        trains_with_fit.append(".fit(" in code)
    assert not {page: names for page, names in hidden.items() if names}
    assert sum(trains_with_fit) >= 15  # all but bias-variance (numpy least squares) train a network in sight

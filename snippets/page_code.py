"""The Python code a page shows, read from its Markdown the way the built page renders it.

A library for the site's tooling, not a chapter's code: the docs tests (the root
``conftest.py``) and the MkDocs hook that writes each page's script and notebook
(``hooks/page_downloads.py``) both import it, so the blocks a test runs and the blocks a
reader downloads come from one parser.

Two things on our pages would hide code from a plain CommonMark parser: ``--8<--`` includes
(the page shows the included file, the parser would see the include line) and fences nested
in admonitions or content tabs (CommonMark sees indented text). ``expand_includes`` expands
includes with pymdownx's own snippet preprocessor, configured from mkdocs.yml, and
``lift_containers`` lifts nested blocks out of their containers, keeping each line's
original number for error reports.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from snippets.studies.generated import GENERATED_REFERENCE

ROOT = Path(__file__).resolve().parent.parent  # the checkout whose mkdocs.yml the docs tests read
CONTAINER = re.compile(r"^(\s*)(!!!|\?\?\?\+?|===)\s")
PYTHON_LANGUAGES = {"python", "py", "python3"}
TRUE = {"1", "on", "yes", "true"}


def _preprocessor(options: dict):
    import markdown

    md = markdown.Markdown(extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": options})
    return md.preprocessors["snippet"]


@lru_cache(maxsize=1)
def snippet_preprocessor():
    """pymdownx's snippet preprocessor with the options of mkdocs.yml (paths from the repository root)."""
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    return preprocessor_for(config)


def preprocessor_for(config):
    """The snippet preprocessor for a loaded MkDocs config (a hook passes the live one).

    Include paths are relative to the folder of the config's mkdocs.yml, as in a build
    run there (a build of a copy of the project includes the copy's files).
    """
    project = Path(config.config_file_path).parent
    options = dict(config["mdx_configs"]["pymdownx.snippets"])
    options["base_path"] = [str(project / p) for p in options.get("base_path", ["."])]
    return _preprocessor(options)


def _generated_file_exists(name: str, preprocessor) -> bool:
    return any((Path(base) / "docs" / "generated" / name).exists() for base in preprocessor.base_path)


def expand_includes(lines: list[str], preprocessor=None) -> tuple[list[str], list[int]]:
    """Expand ``--8<--`` lines; return the new lines and each one's original line index.

    Results tables (docs/generated) hold no code: before the studies have run they are
    left as include lines, so the docs tests run on a fresh clone. The site build
    still refuses to go without them (hooks/generated_results.py).
    """
    preprocessor = preprocessor or snippet_preprocessor()
    out, origin = [], []
    for index, line in enumerate(lines):
        generated = GENERATED_REFERENCE.search(line)
        if generated and not _generated_file_exists(generated.group(1), preprocessor):
            expanded = [line]
        else:
            expanded = preprocessor.run([line]) if "--8<--" in line else [line]
        out.extend(expanded)
        origin.extend([index] * len(expanded))
    return out, origin


def lift_containers(lines: list[str], title=None) -> list[str]:
    """Remove admonition and tab markers and the indentation of their bodies.

    Each marker line becomes an empty line, or ``title(marker_line)`` when given (one line
    out for each line in, so line numbers still match).
    """
    out, indents = [], []
    for line in lines:
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            while indents and indent < indents[-1]:
                indents.pop()
            marker = CONTAINER.match(line)
            if marker:
                out.append(title(line.strip()) if title else "")
                indents.append(len(marker.group(1)) + 4)
                continue
            out.append(line[indents[-1]:] if indents else line)
        else:
            out.append("")
    return out


def _markdown_it():
    from markdown_it import MarkdownIt

    return MarkdownIt(config="commonmark")


class HandbookParser:
    """A markdown-it parser that sees what the built page shows."""

    def __init__(self, preprocessor=None):
        self.markdown_it = _markdown_it()
        self.preprocessor = preprocessor

    def parse(self, text: str):
        lines, origin = expand_includes(text.split("\n"), self.preprocessor)
        tokens = self.markdown_it.parse("\n".join(lift_containers(lines)))
        for token in tokens:
            if token.map:
                # Report the line of the page, not of the expanded text.
                token.map = [origin[token.map[0]], origin[min(token.map[1], len(origin) - 1)]]
        return tokens


# What a page shows: its prose and its Python blocks, in order.


def fence_options(info: str) -> tuple[str, dict[str, str]]:
    """Language and options of a fence's info string: ``python exec="on" source="above"``
    or the brace form ``{.python exec="on"}``."""
    info = info.strip()
    if info.startswith("{") and info.endswith("}"):
        info = info[1:-1]
    try:
        words = shlex.split(info)
    except ValueError:
        words = info.split()
    if not words:
        return "", {}
    language = words[0].lstrip(".").lower()
    options = {}
    for word in words[1:]:
        key, _, value = word.partition("=")
        options[key] = value
    return language, options


def shown_python(info: str, code: str) -> str | None:
    """The Python code a reader sees for a fence, or None when the page shows none.

    A markdown-exec block (``exec="on"``) shows its source only with a ``source`` option, and
    then without the lines marked ``markdown-exec: hide`` (as markdown-exec renders it).
    """
    language, options = fence_options(info)
    if language not in PYTHON_LANGUAGES:
        return None
    if options.get("exec", "").lower() in TRUE:
        if not options.get("source"):
            return None
        code = "\n".join(line for line in code.split("\n") if "markdown-exec: hide" not in line)
    code = code.strip("\n")
    return code or None


@dataclass
class Cell:
    kind: str  # "markdown" or "code"
    text: str


def _title_line(marker: str) -> str:
    """``!!! warning "A claim, corrected"`` -> ``**A claim, corrected**`` (tabs: the tab's name)."""
    match = re.match(r'^(?:!!!|\?\?\?\+?|===)\s*([\w-]*)\s*(?:"(.*)")?', marker)
    kind, title = (match.group(1), match.group(2)) if match else ("", None)
    if title is None:
        title = kind.replace("-", " ").capitalize()
    return f"**{title}**" if title else ""


def page_cells(text: str, preprocessor=None) -> list[Cell]:
    """The page as alternating prose and Python cells, in reading order.

    Prose keeps everything between the Python blocks (other fences included); admonition and
    tab markers become bold titles. Python blocks that the page does not show are dropped.
    """
    lines, _ = expand_includes(text.split("\n"), preprocessor)
    lifted = lift_containers(lines, title=_title_line)
    cells: list[Cell] = []
    start = 0

    def prose(end: int):
        chunk = "\n".join(lifted[start:end]).strip("\n")
        if chunk.strip():
            cells.append(Cell("markdown", chunk))

    for token in _markdown_it().parse("\n".join(lifted)):
        if token.type != "fence" or not token.map:
            continue
        code = shown_python(token.info, token.content)
        if code is None:
            language, options = fence_options(token.info)
            if language in PYTHON_LANGUAGES:  # an exec block without a shown source: drop it
                prose(token.map[0])
                start = token.map[1]
            continue
        prose(token.map[0])
        cells.append(Cell("code", code))
        start = token.map[1]
    prose(len(lifted))
    return cells

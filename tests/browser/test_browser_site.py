"""The site in a real browser: offline, searchable, copyable, accessible.

Every page of the built site is visited in Chromium (fixtures in conftest.py) in the light and
the dark palette. The tests below check what a reader meets: no console error, no request
that leaves 127.0.0.1, typeset formulas, drawn images and figures, a copy button on every code
block, Python blocks that run when copied in page order ("copy = run"), search, the palette
toggle, the download links, the edit and view-source links, the provenance footer, and no
serious or critical accessibility violation (axe-core).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

from snippets.data import default_data_dir
from snippets.demo_cache import ENV_VAR as DEMO_CACHE
from snippets.page_code import page_cells

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
NOTEBOOK_PAGE = "studies/walkthrough/"
COPY_RUN_TIMEOUT_S = 600  # per page; a whole chapter's blocks should take well under a minute

# axe-core rules allowed to fail, each with the reason. Keys: (rule id, page path or "*").
# Only serious and critical violations fail the test; this list must stay short and justified.
AXE_EXCEPTIONS: dict[tuple[str, str], str] = {}


@lru_cache(maxsize=1)
def mkdocs_config():
    from mkdocs.config import load_config

    return load_config(str(ROOT / "mkdocs.yml"))


def light(visits):
    return {path: visit for (path, scheme), visit in visits.items() if scheme == "light"}


def listing(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"  {page or '/'}: {item}" for page, items in problems.items() for item in items)


@lru_cache(maxsize=None)
def known_counts(path: str) -> tuple[int, int] | None:
    """What the page's Markdown source holds: (formulas, Python blocks a reader sees).

    Counted from the source, not from the built page, these are lower bounds for what the
    browser must find: a selector that matches nothing cannot pass. None for a page that
    is not Markdown (the notebook page).
    """
    stem = path.strip("/") or "index"
    source = next((p for p in (DOCS / f"{stem}.md", DOCS / stem / "index.md") if p.exists()), None)
    if source is None:
        return None
    text = source.read_text("utf8")
    return formulas_in(text), sum(cell.kind == "code" for cell in page_cells(text))


def formulas_in(markdown: str) -> int:
    """Formulas in the prose of a page: inline ``\\(...\\)`` and display ``$$`` blocks (``$$`` on
    its own line opens and closes one); code fences are not prose."""
    inline = display_marks = 0
    fence = None
    for line in markdown.splitlines():
        stripped = line.strip()
        marker = re.match(r"`{3,}|~{3,}", stripped)
        if marker and (fence is None or stripped == marker.group()[0] * len(stripped) and stripped.startswith(fence)):
            fence = marker.group() if fence is None else None
            continue
        if fence is None:
            inline += line.count("\\(")
            display_marks += stripped == "$$"
    return inline + display_marks // 2


def test_every_markdown_page_has_known_counts(visits):
    pages = [v.path for v in light(visits).values()]
    unknown = [path for path in pages if known_counts(path) is None and path != NOTEBOOK_PAGE]
    assert not unknown, f"built pages without a Markdown source in docs/: {unknown}"
    # The sources themselves: the chapters hold formulas and Python blocks.
    assert sum(known_counts(p)[0] for p in pages if known_counts(p)) >= 200
    assert sum(known_counts(p)[1] for p in pages if known_counts(p)) >= 70


# Every page, every visit


def test_every_page_loads_without_console_errors(visits):
    problems = {f"{v.path or '/'} ({v.scheme})": v.errors for v in visits.values() if v.errors}
    bad_status = [f"{v.path or '/'} ({v.scheme}): HTTP {v.status}" for v in visits.values() if v.status != 200]
    assert not bad_status, "pages did not load:\n" + "\n".join(bad_status)
    assert not problems, "console errors or failed requests:\n" + listing(problems)


def test_no_request_leaves_localhost(visits):
    problems = {f"{v.path or '/'} ({v.scheme})": sorted(set(v.outside_requests)) for v in visits.values() if v.outside_requests}
    assert not problems, "requests to outside 127.0.0.1 (the site must work offline):\n" + listing(problems)


def test_every_formula_is_typeset(visits):
    problems = {}
    for v in light(visits).values():
        known = known_counts(v.path)
        if known and v.formulas < known[0]:
            problems[v.path] = [f"{v.formulas} formulas found, the source holds {known[0]}"]
        elif v.formulas_typeset != v.formulas:
            problems[v.path] = [f"{v.formulas - v.formulas_typeset} of {v.formulas} formulas not typeset by MathJax"]
    assert not problems, "raw TeX on the page:\n" + listing(problems)


def test_every_image_and_figure_is_drawn(visits):
    problems = {}
    for v in light(visits).values():
        items = [f"image not loaded: {src}" for src in v.broken_images]
        items += [f"inline figure <svg> with zero size: {what}" for what in v.empty_figures]
        if items:
            problems[v.path] = items
    assert not problems, "missing pictures:\n" + listing(problems)


def test_every_code_block_has_a_copy_button(visits):
    problems = {}
    for v in light(visits).values():
        known = known_counts(v.path)
        items = [f"no copy button on {block}" for block in v.blocks_without_button]
        if known and v.copy_buttons < known[1]:
            items.append(f"{v.copy_buttons} copy buttons on {v.code_blocks} code blocks, "
                         f"the source shows {known[1]} Python blocks")
        if items:
            problems[v.path] = items
    assert not problems, "code blocks a reader cannot copy:\n" + listing(problems)


def test_both_palettes_render(visits):
    wrong = [
        f"{v.path or '/'} ({v.scheme}): data-md-color-scheme={v.color_scheme!r}"
        for v in visits.values()
        if v.color_scheme != {"light": "default", "dark": "slate"}[v.scheme]
    ]
    assert not wrong, "a page did not follow the reader's colour scheme:\n" + "\n".join(wrong)
    missing = [f"{v.path or '/'} ({v.scheme})" for v in visits.values() if not (v.screenshot and v.screenshot.exists())]
    assert not missing, f"no screenshot for: {missing}"


def test_no_serious_accessibility_violation(visits, summary):
    problems, allowed = {}, 0
    for v in visits.values():
        for violation in v.violations:
            if violation["impact"] not in ("serious", "critical"):
                continue
            if (violation["id"], v.path) in AXE_EXCEPTIONS or (violation["id"], "*") in AXE_EXCEPTIONS:
                allowed += 1
                continue
            targets = ", ".join(violation["targets"][:4]) + (" ..." if len(violation["targets"]) > 4 else "")
            problems.setdefault(f"{v.path or '/'} ({v.scheme})", []).append(
                f"{violation['impact']} {violation['id']}: {violation['help']} [{len(violation['targets'])}: {targets}]"
            )
    summary["axe_allowed"] = allowed
    assert not problems, "axe-core found serious or critical violations:\n" + listing(problems)


# Copy = run: what a copy button gives is what the tests ran, and the wheel holds what it imports

SNIPPETS_IMPORT = re.compile(r"^\s*(?:from|import)\s+(snippets(?:\.\w+)*)", re.M)


def shown_blocks(path: str) -> list[str] | None:
    """The Python blocks of a page's Markdown source as a reader sees them, in page order
    (the docs tests run these, with any hidden lines); None for a page that is not Markdown."""
    stem = path.strip("/") or "index"
    source = next((p for p in (DOCS / f"{stem}.md", DOCS / stem / "index.md") if p.exists()), None)
    if source is None:
        return None
    return [cell.text for cell in page_cells(source.read_text("utf8")) if cell.kind == "code"]


def normalized(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip("\n").splitlines())


def test_copied_code_is_the_code_the_docs_tests_run(visits, summary):
    """Block for block, the clipboard holds what the page's source shows: the code the docs
    tests ran (tests/conftest.py counts them), so the reader's run in `make check` runs it too."""
    problems, compared = {}, 0
    for path, v in light(visits).items():
        shown = shown_blocks(path)
        if shown is None:
            continue
        copied = [normalized(code) for code in v.python_copied]
        expected = [normalized(code) for code in shown]
        if copied != expected:
            first = next((i for i, (a, b) in enumerate(zip(copied, expected)) if a != b), min(len(copied), len(expected)))
            problems[path] = [f"{len(copied)} blocks copied, {len(expected)} in the source; they first differ at block "
                              f"{first + 1}"]
        compared += len(copied)
    summary["copied_compared"] = compared
    assert compared, "no Python block was copied from any page"
    assert not problems, "copied code that is not the page's source:\n" + listing(problems)


def test_the_wheel_holds_every_module_the_pages_import(visits, tmp_path):
    """Every ``snippets`` module that copied code imports is in the wheel a reader installs."""
    import zipfile

    source = tmp_path / "source"
    shutil.copytree(ROOT / "snippets", source / "snippets", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                           str(tmp_path / "wheels"), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("regularization_handbook-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    imported = {name for v in light(visits).values() for code in v.python_copied
                for name in SNIPPETS_IMPORT.findall(code)}
    assert imported, "no copied block imports the handbook's package"
    missing = sorted(name for name in imported
                     if f"{name.replace('.', '/')}.py" not in packaged and f"{name.replace('.', '/')}/__init__.py" not in packaged)
    assert not missing, f"modules the pages import that the wheel lacks: {missing}"


def reader_environment() -> dict[str, str]:
    """The environment of a reader who runs copied code: nothing from the checkout on
    PYTHONPATH, no demo cache, so every training on the page really runs, and MNIST from the
    verified local copy (``MNIST_DIR``), as a reader without internet would set it."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", DEMO_CACHE)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["MPLBACKEND"] = "Agg"
    env["MNIST_DIR"] = str(default_data_dir())
    return env


@pytest.mark.reader_run
def test_the_reader_imports_the_installed_wheel(reader_python, scratch_dir):
    """The copied code runs against the wheel in the reader's environment, not the checkout."""
    probe = "import snippets, snippets.studies; print(snippets.__file__)"
    done = subprocess.run([str(reader_python), "-c", probe], cwd=scratch_dir, env=reader_environment(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    location = Path(done.stdout.strip())
    assert "site-packages" in location.parts and ROOT not in location.parents, location


@pytest.mark.reader_run
def test_copied_code_runs_without_the_demo_cache(monkeypatch, tmp_path, reader_python):
    monkeypatch.setenv(DEMO_CACHE, str(tmp_path / "demos"))
    env = reader_environment()
    assert DEMO_CACHE not in env
    probe = "from snippets.demo_cache import cache_folder; print(cache_folder())"
    done = subprocess.run([str(reader_python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"  # the decorated demonstrations run uncached


@pytest.mark.reader_run
def test_copied_python_runs(visits, scratch_dir, reader_python, summary):
    """Each page's Python blocks, as its copy buttons give them, run in order in a fresh process
    of a reader's environment: the handbook installed from its wheel, outside the repository."""
    pages = {path: v for path, v in light(visits).items() if v.python_copied or v.copy_failures}
    copy_failures = {path: v.copy_failures for path, v in pages.items() if v.copy_failures}
    for path, v in light(visits).items():  # every Python block the source shows was copied
        known = known_counts(path)
        if known and len(v.python_copied) < known[1]:
            copy_failures.setdefault(path, []).append(
                f"{len(v.python_copied)} Python blocks copied, the source shows {known[1]}")
    env = reader_environment()
    assert DEMO_CACHE not in env  # copy = run means the reader's run: no cached results
    scripts = {}
    for path, v in pages.items():
        if v.python_copied:
            folder = scratch_dir / (path.strip("/").replace("/", "-") or "index")
            folder.mkdir()
            (folder / "copied.py").write_text("\n\n".join(v.python_copied) + "\n", encoding="utf8")
            scripts[path] = folder

    def run(folder):
        try:
            return subprocess.run([str(reader_python), "copied.py"], cwd=folder, env=env, capture_output=True, text=True,
                                   timeout=COPY_RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return None

    # The pages' scripts are independent readers' runs: one per core at a time.
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = dict(zip(scripts, pool.map(run, scripts.values())))
    failures, blocks_passed, pages_passed = {}, 0, 0
    for path, result in results.items():
        copied = pages[path].python_copied
        if result is None:
            failures[path] = [f"still running after {COPY_RUN_TIMEOUT_S} s"]
        elif result.returncode == 0:
            pages_passed += 1
            blocks_passed += len(copied)
        else:
            tail = "\n".join(result.stderr.strip().splitlines()[-12:])
            failures[path] = [f"exit {result.returncode} running its {len(copied)} copied blocks:\n{tail}"]
    summary["copy_run"] = {
        "blocks": sum(len(v.python_copied) for v in pages.values()),
        "blocks_passed": blocks_passed,
        "pages": sum(1 for v in pages.values() if v.python_copied),
        "pages_passed": pages_passed,
    }
    assert not copy_failures, "Python blocks that could not be copied:\n" + listing(copy_failures)
    assert not failures, "copied code that does not run (the installed wheel, a fresh process, outside the repository):\n" + listing(
        failures
    )


# Interactive checks


def test_search_finds_the_dropout_chapter(watched):
    page = watched.new_page()
    page.goto(watched.base_url, wait_until="networkidle")
    page.locator("input.md-search__input").click()
    page.keyboard.type("dropout", delay=50)
    # Results (or "No matching documents") appear once the search worker has answered.
    page.wait_for_function(
        "() => document.querySelector('.md-search-result__list li') || "
        "/No matching/.test(document.querySelector('.md-search-result__meta').textContent)",
        timeout=20000,
    )
    found = page.eval_on_selector_all(
        ".md-search-result__list a", "links => links.map(a => new URL(a.href).pathname)"
    )
    titles = page.locator(".md-search-result__list article h1").all_inner_texts()
    assert "/chapters/dropout/" in found, f"searching 'dropout' does not list the dropout chapter; it lists {titles}"


def test_palette_toggle_switches_light_and_dark(watched):
    page = watched.new_page()
    page.goto(watched.base_url + "chapters/dropout/", wait_until="networkidle")
    scheme = lambda: page.evaluate("document.body.getAttribute('data-md-color-scheme')")  # noqa: E731
    assert scheme() == "default"
    toggle = page.locator('form[data-md-component="palette"] label:not([hidden])')
    toggle.click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'", timeout=5000)
    toggle = page.locator('form[data-md-component="palette"] label:not([hidden])')
    toggle.click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'", timeout=5000)
    assert scheme() == "default"


def test_notebook_page_offers_its_notebook(watched, page_paths):
    assert NOTEBOOK_PAGE in page_paths, f"the built site has no notebook page {NOTEBOOK_PAGE}"
    page = watched.new_page()
    page.goto(watched.base_url + NOTEBOOK_PAGE, wait_until="networkidle")
    links = page.eval_on_selector_all('a[href$=".ipynb"][download]', "links => links.map(a => a.href)")
    assert links, "the notebook page has no download link to its .ipynb"
    for url in set(links):
        response = page.request.get(url)
        assert response.ok, f"{url}: HTTP {response.status}"
        notebook = nbformat.reads(response.text(), as_version=4)
        nbformat.validate(notebook)
    repo = mkdocs_config()["repo_url"].rstrip("/").removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{repo}/blob/main/docs/studies/walkthrough.ipynb"
    hrefs = page.eval_on_selector_all("a", "links => links.map(a => a.href)")
    assert colab in hrefs, f"no 'Open in Colab' link to {colab}"


def test_pages_with_python_offer_script_and_notebook(visits, watched):
    """Like sphinx-gallery: "Download this chapter's code: script | notebook"."""
    pages = {path: v for path, v in light(visits).items() if v.python_copied}
    assert any(path.startswith("chapters/") for path in pages), "no chapter shows Python code"
    page = watched.new_page()
    problems = {}
    for path, v in pages.items():
        items = problems.setdefault(path, [])
        scripts = [url for url in v.downloads if url.endswith(".py")]
        notebooks = [url for url in v.downloads if url.endswith(".ipynb")]
        if not (scripts and notebooks):
            items.append(f"the download box links {v.downloads}, not a .py and an .ipynb")
            continue
        script = page.request.get(scripts[0])
        if not script.ok:
            items.append(f"{scripts[0]}: HTTP {script.status}")
            continue
        source = script.text()
        try:
            compile(source, scripts[0], "exec")
        except SyntaxError as error:
            items.append(f"the script does not compile: {error}")
        position = 0
        for number, block in enumerate(v.python_copied, 1):
            found = source.find(block, position)
            if found < 0:
                items.append(f"block {number} as copied from the page is not in the script (in order)")
                break
            position = found + len(block)
        response = page.request.get(notebooks[0])
        if not response.ok:
            items.append(f"{notebooks[0]}: HTTP {response.status}")
            continue
        notebook = nbformat.reads(response.text(), as_version=4)
        nbformat.validate(notebook)
        install, *code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        if "pip install" not in install.source or "git+" not in install.source:
            items.append("the notebook's first code cell does not install the handbook's package")
        if len(code_cells) != len(v.python_copied):
            items.append(f"the notebook has {len(code_cells)} code cells after its install cell, "
                         f"the page {len(v.python_copied)} Python blocks")
        if "pip install" not in source.split("\n# %%")[0]:
            items.append("the script's header does not say how to install the handbook's package")
    problems = {path: items for path, items in problems.items() if items}
    assert not problems, "downloads that do not match the page:\n" + listing(problems)


def test_edit_and_view_source_links(visits):
    config = mkdocs_config()
    edit_base = config["repo_url"].rstrip("/") + "/" + config["edit_uri"].strip("/") + "/"
    view_base = edit_base.replace("/edit/", "/raw/")
    docs = ROOT / config["docs_dir"]
    problems = {}
    for path, v in light(visits).items():
        hrefs = [action["href"] for action in v.actions]
        edit = [h for h in hrefs if h.startswith(edit_base)]
        view = [h for h in hrefs if h.startswith(view_base)]
        items = []
        if len(edit) != 1 or len(view) != 1:
            items.append(f"expected one edit and one view-source link, the page has {hrefs}")
        else:
            source = edit[0].removeprefix(edit_base)
            if not (docs / source).is_file():
                items.append(f"the edit link points at {source}, which is not in {config['docs_dir']}/")
            if view[0] != view_base + source:
                items.append(f"view-source link {view[0]} does not match the edit link {edit[0]}")
        if items:
            problems[path] = items
    assert not problems, "edit / view-source links:\n" + listing(problems)


def test_footer_shows_build_provenance(visits, summary):
    built_from = summary.get("built_from")  # None when testing a prebuilt $HANDBOOK_SITE
    expected = {"tensorflow": metadata.version("tensorflow"), "keras": metadata.version("keras")}
    problems = {}
    for path, v in light(visits).items():
        footer = v.provenance
        if not footer:
            problems[path] = ["no build provenance in the footer"]
            continue
        items = [
            f"{name} {footer[name]!r} in the footer, {version!r} installed"
            for name, version in expected.items()
            if footer[name] != version
        ]
        if built_from and footer["commit"] != built_from:
            items.append(f"commit {footer['commit']} in the footer, the site was built from {built_from}")
        elif not built_from:
            kind = subprocess.run(["git", "cat-file", "-t", footer["commit"]], cwd=ROOT, capture_output=True, text=True)
            if kind.stdout.strip() != "commit":
                items.append(f"commit {footer['commit']!r} in the footer is not a commit of this repository")
        if not footer["date"]:
            items.append("no build date")
        if items:
            problems[path] = items
    assert not problems, "provenance footer:\n" + listing(problems)

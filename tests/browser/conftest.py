"""The built site in a real browser: fixtures that build, serve and visit every page once.

The session builds the site with ``mkdocs build --strict`` into a temporary folder (or takes
the one $HANDBOOK_SITE names), serves it
on 127.0.0.1 (a free port, a thread) and drives Debian's Chromium through Playwright. Every
page is visited twice, in the light and in the dark palette; each visit records what the
tests then check (console errors, requests, formulas, images, copy buttons, the code a copy
button gives, axe-core's accessibility report) and saves a screenshot to build/screenshots/.
The printed summary at the end of the run counts all of it.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Chromium's own look-ups (and any page request) go nowhere but to the local server.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
AXE = ROOT / "build" / "vendor" / "axe.min.js"
SCREENSHOTS = ROOT / "build" / "screenshots"
SCHEMES = {"light": "default", "dark": "slate"}  # our name -> Material's data-md-color-scheme
COPY_BUTTON = '.md-code__button[data-md-type="copy"], .md-clipboard'
PYTHON_BLOCK = ".highlight.language-python pre > code, .language-python .highlight pre > code"
SUMMARY = pytest.StashKey[dict]()


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def summary(request) -> dict:
    return request.config.stash.setdefault(SUMMARY, {})


# Build and serve


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing ({CHROMIUM}): the browser tests need Debian's chromium package. "
            "Install it with `sudo apt-get install chromium` (or `make browser`) and run the tests again.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(
            f"axe-core is missing ({AXE.relative_to(ROOT)}): run `make {AXE.relative_to(ROOT)}` "
            "(or `make test`, which fetches it with `npm pack`).",
            pytrace=False,
        )
    return AXE.read_text("utf8")


@pytest.fixture(scope="session")
def site_dir(request, summary) -> Path:
    """The built site: $HANDBOOK_SITE when set (CI tests the site it publishes), else the
    ``mkdocs build --strict`` of the working tree with a smoke report (tests/conftest.py)."""
    prebuilt = os.environ.get("HANDBOOK_SITE")
    if prebuilt:
        site = Path(prebuilt).resolve()
        if not (site / "index.html").is_file():
            pytest.fail(f"HANDBOOK_SITE={prebuilt} holds no built site (no index.html)", pytrace=False)
        return site
    summary["built_from"] = git("rev-parse", "HEAD")  # the footer must name this commit
    return request.getfixturevalue("built_site")


def git(*args: str) -> str | None:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature is http.server's
        pass


@pytest.fixture(scope="session")
def base_url(site_dir) -> str:
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def page_paths(site_dir) -> list[str]:
    """Every page of the built site, as a path under the site root ("" for the home page)."""
    paths = sorted(
        str(index.parent.relative_to(site_dir)).replace(os.sep, "/") + "/" for index in site_dir.rglob("index.html")
    )
    paths = ["" if path == "./" else path for path in paths]
    assert paths, f"the build in {site_dir} holds no pages"
    return paths


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A browser context whose every request and console error is recorded."""

    def __init__(self, browser, base_url: str, scheme: str):
        self.base_url = base_url
        self.context = browser.new_context(
            color_scheme="dark" if scheme == "dark" else "light",
            viewport={"width": 1280, "height": 900},
        )
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url.rstrip("/"))
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))

    def new_page(self):
        page = self.context.new_page()
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught exception: {error}"))
        page.on("response", lambda response: self._response(response))
        return page

    def _console(self, message):
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.errors.append(f"console error: {message.text}" + (f" ({where})" if where else ""))

    def _response(self, response):
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")

    def take(self) -> tuple[list[str], list[str]]:
        """The requests and errors recorded since the last call."""
        requests, errors = self.requests, self.errors
        self.requests, self.errors = [], []
        return requests, errors

    def close(self):
        self.context.close()


def is_outside(url: str, base_url: str) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return False
    return not url.startswith(base_url)


# What one visit records


@dataclass
class Visit:
    path: str
    scheme: str
    status: int = 0
    color_scheme: str = ""
    errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    formulas: int = 0
    formulas_typeset: int = 0
    images: int = 0
    images_loaded: int = 0
    broken_images: list[str] = field(default_factory=list)
    figures: int = 0
    figures_drawn: int = 0
    empty_figures: list[str] = field(default_factory=list)
    code_blocks: int = 0
    copy_buttons: int = 0
    blocks_without_button: list[str] = field(default_factory=list)
    python_copied: list[str] = field(default_factory=list)  # what the copy buttons gave, in page order
    copy_failures: list[str] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)  # the buttons by the title: edit, view, downloads
    downloads: list[str] = field(default_factory=list)  # links of the "Download this chapter's code" box
    provenance: dict | None = None  # the footer's build provenance
    screenshot: Path | None = None


WAIT_FOR_MATH = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const deadline = Date.now() + 15000;
  const done = () => [...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('mjx-container'));
  while (!done() && Date.now() < deadline) await new Promise(r => setTimeout(r, 100));
}"""

WAIT_FOR_IMAGES = """async () => {
  const images = [...document.images];
  images.forEach(i => { i.loading = 'eager'; });
  await Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; setTimeout(r, 10000); })));
}"""

MEASURE = r"""() => {
  const describe = e => (e.closest('[id]') ? '#' + e.closest('[id]').id + ' ' : '') + e.tagName.toLowerCase();
  // Show what tabs and collapsed details hide, so a figure in them can be measured.
  const reveal = e => {
    for (let a = e.parentElement; a; a = a.parentElement) {
      if (a.tagName === 'DETAILS') a.open = true;
      if (a.classList.contains('tabbed-block')) {
        const index = [...a.parentElement.children].indexOf(a);
        const input = a.closest('.tabbed-set').querySelectorAll(':scope > input')[index];
        if (input) input.checked = true;
      }
    }
  };
  const formulas = [...document.querySelectorAll('.arithmatex')];
  const images = [...document.images];
  const figures = [...document.querySelectorAll('article svg')].filter(s =>
    !s.parentElement.closest('svg') &&
    !s.closest('mjx-container, .md-icon, .twemoji, .md-content__button, .md-code__nav, button, .headerlink, label'));
  const figureSizes = figures.map(s => {
    let r = s.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) { reveal(s); r = s.getBoundingClientRect(); }
    return {what: describe(s), width: r.width, height: r.height};
  });
  const blocks = [...document.querySelectorAll('.highlight pre > code')];
  return {
    formulas: formulas.length,
    typeset: formulas.filter(e => e.querySelector('mjx-container')).length,
    images: images.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth})),
    figures: figureSizes,
    blocks: blocks.map(c => ({id: c.parentElement.id || describe(c), button: !!c.parentElement.querySelector(':scope > nav .md-code__button[data-md-type="copy"], :scope .md-clipboard, :scope > .md-clipboard')})),
    scheme: document.body.getAttribute('data-md-color-scheme'),
    actions: [...document.querySelectorAll('article .md-content__button')].map(a => ({href: a.getAttribute('href'), title: a.title, rel: a.rel})),
    downloads: [...document.querySelectorAll('#download-code a[download]')].map(a => a.href),
    provenance: (() => {
      const e = document.querySelector('.md-footer .md-copyright__provenance');
      if (!e) return null;
      const version = name => (e.querySelector(`[data-package="${name}"]`) || {}).textContent;
      const time = e.querySelector('time');
      return {commit: e.dataset.commit, text: e.textContent.replace(/\s+/g, ' ').trim(),
              tensorflow: version('tensorflow'), keras: version('keras'), date: time && time.getAttribute('datetime')};
    })(),
  };
}"""

PYTHON_PRE_IDS = """(selector) => [...document.querySelectorAll(selector)].map(c => c.parentElement.id)"""

REVEAL_BLOCK = """(id) => {
  const e = document.getElementById(id);
  for (let a = e.parentElement; a; a = a.parentElement) {
    if (a.tagName === 'DETAILS') a.open = true;
    if (a.classList.contains('tabbed-block')) {
      const index = [...a.parentElement.children].indexOf(a);
      const input = a.closest('.tabbed-set').querySelectorAll(':scope > input')[index];
      if (input) input.checked = true;
    }
  }
  e.scrollIntoView({block: 'center'});
}"""

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(' ')),
  }));
}"""


def copy_python_blocks(page, visit: Visit) -> None:
    """Click each Python block's copy button and read what it put on the clipboard."""
    for pre_id in page.evaluate(PYTHON_PRE_IDS, PYTHON_BLOCK):
        page.evaluate(REVEAL_BLOCK, pre_id)
        button = page.locator(f'[data-clipboard-target="#{pre_id} > code"]')
        if button.count() != 1:
            visit.copy_failures.append(f"#{pre_id}: no copy button")
            continue
        page.evaluate("navigator.clipboard.writeText('')")
        page.locator(f"#{pre_id}").hover()
        button.click(timeout=10000)
        try:
            page.wait_for_function("async () => (await navigator.clipboard.readText()) !== ''", timeout=5000, polling=100)
        except Exception:  # noqa: BLE001 - reported as a failure of this block
            visit.copy_failures.append(f"#{pre_id}: the copy button put nothing on the clipboard")
            continue
        visit.python_copied.append(page.evaluate("navigator.clipboard.readText()"))


def screenshot_name(path: str, scheme: str) -> str:
    slug = path.strip("/").replace("/", "-") or "index"
    return f"{slug}-{scheme}.png"


def visit_page(watched: Watched, path: str, scheme: str, axe_source: str) -> Visit:
    visit = Visit(path=path, scheme=scheme)
    page = watched.new_page()
    try:
        response = page.goto(watched.base_url + path, wait_until="networkidle", timeout=60000)
        visit.status = response.status if response else 0
        page.evaluate(WAIT_FOR_MATH)
        page.evaluate(WAIT_FOR_IMAGES)
        page.wait_for_timeout(200)  # Material mounts its code buttons on the next frames
        measured = page.evaluate(MEASURE)
        visit.color_scheme = measured["scheme"]
        visit.formulas, visit.formulas_typeset = measured["formulas"], measured["typeset"]
        visit.images = len(measured["images"])
        visit.images_loaded = sum(1 for image in measured["images"] if image["width"] > 0)
        visit.broken_images = [image["src"][:120] for image in measured["images"] if not image["width"] > 0]
        visit.figures = len(measured["figures"])
        visit.figures_drawn = sum(1 for f in measured["figures"] if f["width"] > 0 and f["height"] > 0)
        visit.empty_figures = [f["what"] for f in measured["figures"] if not (f["width"] > 0 and f["height"] > 0)]
        visit.code_blocks = len(measured["blocks"])
        visit.copy_buttons = sum(1 for block in measured["blocks"] if block["button"])
        visit.blocks_without_button = [block["id"] for block in measured["blocks"] if not block["button"]]
        visit.actions, visit.downloads, visit.provenance = measured["actions"], measured["downloads"], measured["provenance"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.screenshot = SCREENSHOTS / screenshot_name(path, scheme)
        page.screenshot(path=str(visit.screenshot), full_page=True)
        page.add_script_tag(content=axe_source)
        visit.violations = page.evaluate(RUN_AXE)
        if scheme == "light":
            copy_python_blocks(page, visit)
    finally:
        page.close()
        requests, errors = watched.take()
        visit.errors = errors
        visit.outside_requests = [url for url in requests if is_outside(url, watched.base_url)]
    return visit


@pytest.fixture(scope="session")
def visits(browser, base_url, page_paths, axe_source, summary) -> dict[tuple[str, str], Visit]:
    """Every page in both palettes: {(path, "light" | "dark"): Visit}."""
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    results = {}
    for scheme in SCHEMES:
        watched = Watched(browser, base_url, scheme)
        try:
            for path in page_paths:
                results[path, scheme] = visit_page(watched, path, scheme, axe_source)
        finally:
            watched.close()
    summary["visits"] = results
    summary["chromium"] = browser.version
    summary["axe_version"] = axe_version(axe_source)
    return results


@pytest.fixture()
def watched(browser, base_url):
    """A fresh light context for interactive checks (search, palette, downloads)."""
    context = Watched(browser, base_url, "light")
    yield context
    context.close()


@pytest.fixture(scope="session")
def scratch_dir():
    """A folder outside the repository, where copied code runs as a reader's would."""
    folder = Path(tempfile.mkdtemp(prefix="handbook-copy-run-"))
    assert ROOT not in folder.parents
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def reader_python(scratch_dir) -> Path:
    """The Python of a reader outside the repository: a fresh virtual environment into which
    pip installs the handbook's wheel, resolving its dependencies as for any reader.

    The wheel is built from a copy of what it packages, so the checkout is left as it is.
    """
    source, wheels = scratch_dir / "handbook-source", scratch_dir / "wheels"
    shutil.copytree(ROOT / "snippets", source / "snippets", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    environment = scratch_dir / "reader-venv"
    steps = [
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source)],
        [sys.executable, "-m", "venv", str(environment)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, cwd=scratch_dir)
        assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stderr[-3000:]}"
    (wheel,) = wheels.glob("regularization_handbook-*.whl")
    python = environment / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)]
    done = subprocess.run(install, capture_output=True, text=True, cwd=scratch_dir)
    assert done.returncode == 0, f"installing the wheel failed:\n{done.stderr[-3000:]}"
    return python


# The printed summary


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    data = config.stash.get(SUMMARY, None)
    if data and "sweep_views" in data:  # tests/browser/test_sweep_view.py
        sweeps = data["sweep_views"]
        terminalreporter.section("interactive sweep views")
        terminalreporter.write_line(
            f"sweep views: {sweeps.get('views', 0)} on {sweeps.get('pages', 0)} pages; slider checked on "
            f"{sweeps.get('slider_checked', 0)}, palette and axe on {sweeps.get('palette_checked', 0)}"
        )
    if not data or "visits" not in data:
        return
    visits: dict = data["visits"]
    pages = sorted({path for path, _ in visits})
    light = [v for (p, s), v in visits.items() if s == "light"]
    everything = list(visits.values())
    impacts = Counter(violation["impact"] for v in everything for violation in v.violations)
    write = terminalreporter.write_line
    terminalreporter.section("the site in a real browser")
    write(f"browser: Chromium {data.get('chromium', '?')}; axe-core: {data.get('axe_version', '?')}")
    write(f"pages visited: {len(pages)} (each in the light and the dark palette: {len(everything)} visits)")
    write(f"console errors: {sum(len(v.errors) for v in everything)}")
    write(f"outside requests: {sum(len(v.outside_requests) for v in everything)}")
    write(f"formulas typeset: {sum(v.formulas_typeset for v in light)} of {sum(v.formulas for v in light)}")
    write(
        f"images loaded: {sum(v.images_loaded for v in light)} of {sum(v.images for v in light)}; "
        f"inline figures drawn: {sum(v.figures_drawn for v in light)} of {sum(v.figures for v in light)}"
    )
    write(f"code blocks with a copy button: {sum(v.copy_buttons for v in light)} of {sum(v.code_blocks for v in light)}")
    if "copied_compared" in data:
        write(f"copied code = the page's source (what the docs tests ran): {data['copied_compared']} blocks compared")
    if "copy_run" in data:
        run = data["copy_run"]
        write(
            f"copy-run blocks passed: {run['blocks_passed']} of {run['blocks']} Python blocks "
            f"({run['pages_passed']} of {run['pages']} pages' scripts exit 0)"
        )
    order = ["critical", "serious", "moderate", "minor"]
    counts = ", ".join(f"{impact} {impacts.get(impact, 0)}" for impact in order)
    allowed = data.get("axe_allowed", 0)
    write(f"axe violations by impact (rules failed, summed over all visits): {counts}; of them allowed by a listed exception: {allowed}")
    write(f"screenshots: {sum(1 for v in everything if v.screenshot)} in {SCREENSHOTS.relative_to(ROOT)}/")


def axe_version(source: str) -> str:
    match = re.search(r"axe v(\d+\.\d+\.\d+)", source[:200])
    return match.group(1) if match else "?"

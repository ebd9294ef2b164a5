"""Shared fixtures: tiny real studies and a real site built from them.

Nothing here is mocked: the smoke study trains the real models on real MNIST, only
with fewer images, epochs and seeds, and the site is built by MkDocs from a copy of
the project so that the developer's own docs/generated is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ["--seeds", "2", "--epochs", "1", "--train-size", "400"]

#: What makes a test train (``trains`` marker, left out by ``make test-fast``): the fixtures that
#: run a smoke study or build a site, the tests of a page's demonstrations (test_<page module>.py,
#: which train or run seeded simulations), the training loop's tests, and these by name.
TRAINING_FIXTURES = {"smoke_results", "built_site", "results", "local_cluster"}
TRAINING_MODULES = {"test_training.py"}
TRAINING_TESTS = {
    "test_one_epoch_run_writes_a_valid_results_file", "test_interrupted_study_keeps_finished_runs_and_resumes",
    "test_a_later_run_of_a_configuration_equals_a_fresh_one", "test_a_killed_worker_loses_only_its_task_which_is_retried_once",
    "test_the_command_line_prints_no_tensorflow_start_up_lines", "test_tiny_benchmark_run_writes_a_valid_file",
}


def page_modules() -> set[str]:
    """test_<module>.py of every chapter and part II page (docs/chapters/l1-l2.md: test_l1_l2.py)."""
    pages = [*(ROOT / "docs" / "chapters").glob("*.md"), *(ROOT / "docs" / "beyond").glob("*.md")]
    return {f"test_{page.stem.replace('-', '_')}.py" for page in pages}


def pytest_collection_modifyitems(config, items):
    modules = TRAINING_MODULES | page_modules()
    for item in items:
        name = Path(str(item.path)).name
        if (name in modules or getattr(item, "originalname", item.name) in TRAINING_TESTS
                or TRAINING_FIXTURES & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.trains)


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """``python -m snippets ARGS`` in a fresh process, as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "snippets", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kwargs,
    )


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory) -> Path:
    """Both studies, every configuration, 2 seeds, 1 epoch on 400 images."""
    results = tmp_path_factory.mktemp("smoke-results")
    done = run_cli("study", "all", *SMOKE, "--results", str(results))
    assert done.returncode == 0, done.stderr[-3000:]
    return results


@pytest.fixture(scope="session")
def built_site(tmp_path_factory, smoke_results) -> Path:
    """The site built with ``mkdocs build --strict`` from a copy of the project and the smoke report."""
    project = tmp_path_factory.mktemp("project")
    for name in ("docs", "hooks", "overrides"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("generated", "__pycache__"))
    # Linked, not copied: the provenance hook finds the git checkout through mkdocs.yml.
    for name in ("mkdocs.yml", "snippets"):
        (project / name).symlink_to(ROOT / name)
    report = run_cli("report", "--results", str(smoke_results), "--out", str(project / "docs" / "generated"))
    assert report.returncode == 0, report.stderr[-3000:]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(project / "site")],
        cwd=project, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert build.returncode == 0, build.stderr[-5000:]
    return project / "site"

"""The demonstrations' disk cache: off by default, served from disk when on, never stale."""

from __future__ import annotations

import numpy as np

from snippets import l1_l2
from snippets.demo_cache import ENV_VAR, cache_folder, module_fingerprint


def count_calls(monkeypatch, module, name) -> list:
    """Record every call of ``module.name`` (the real function still runs)."""
    calls, real = [], getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_cached_demo_runs_once_and_gives_the_uncached_result(monkeypatch, tmp_path):
    # _fit_sparse_problem trains two Keras models (fit_linear_keras), the cheapest cached demo.
    fits = count_calls(monkeypatch, l1_l2, "fit_linear_keras")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "demos"))
    first = l1_l2._fit_sparse_problem(0.3, 0)
    assert len(fits) == 2
    assert list((tmp_path / "demos" / module_fingerprint("snippets.l1_l2")).rglob("output.pkl"))
    second = l1_l2._fit_sparse_problem(0.3, 0)
    assert len(fits) == 2  # served from the disk cache: nothing trained
    monkeypatch.delenv(ENV_VAR)
    uncached = l1_l2._fit_sparse_problem(0.3, 0)
    assert len(fits) == 4  # cache off: trained again
    for result in (first, second):
        assert result.keys() == uncached.keys()
        assert all(np.array_equal(result[k], uncached[k]) for k in uncached)  # bit-identical


def test_the_cache_is_off_unless_the_variable_names_a_folder(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert cache_folder() is None
    monkeypatch.setenv(ENV_VAR, "  ")
    assert cache_folder() is None


def write_package(folder, sources: dict[str, str]):
    """A package ``pkg`` in ``folder`` with the given modules (relative path -> source)."""
    package = folder / "pkg"
    for relative, source in {"__init__.py": "", **sources}.items():
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text(source)
    return package


# a.py imports b (which imports sub.d), the package sub and its module e; c.py is imported by nobody.
FAKE_PACKAGE = {
    "a.py": "from pkg.b import helper\nfrom pkg import sub\nfrom pkg.sub import e\n\ndef demo():\n    return helper() + 1\n",
    "b.py": "import pkg.sub.d\n\ndef helper():\n    return 2\n",
    "c.py": "X = 1\n",
    "sub/__init__.py": "",
    "sub/d.py": "Y = 3\n",
    "sub/e.py": "W = 5\n",
}


def fingerprint_of(folder, changes: dict[str, str] | None = None) -> str:
    """The fingerprint of pkg.a in a copy of the fake package with some modules changed."""
    return module_fingerprint("pkg.a", write_package(folder, {**FAKE_PACKAGE, **(changes or {})}), "pkg")


def test_the_fingerprint_follows_the_source_not_the_folder(tmp_path):
    assert fingerprint_of(tmp_path / "one") == fingerprint_of(tmp_path / "same")  # a fresh clone shares the cache


def test_the_fingerprint_follows_the_code_a_module_imports_and_nothing_else(tmp_path):
    original = fingerprint_of(tmp_path / "original")
    # The code of a.py or of a module it imports, directly or not: a new, empty cache.
    assert fingerprint_of(tmp_path / "a", {"a.py": FAKE_PACKAGE["a.py"].replace("+ 1", "+ 2")}) != original
    assert fingerprint_of(tmp_path / "b", {"b.py": FAKE_PACKAGE["b.py"].replace("2", "5")}) != original
    assert fingerprint_of(tmp_path / "d", {"sub/d.py": "Y = 4\n"}) != original
    assert fingerprint_of(tmp_path / "e", {"sub/e.py": "W = 6\n"}) != original
    assert fingerprint_of(tmp_path / "init", {"sub/__init__.py": "Z = 0\n"}) != original
    # A module a.py does not import, or a comment or docstring: the same cache.
    assert fingerprint_of(tmp_path / "c", {"c.py": "X = 2\n"}) == original
    commented = '"""Helpers."""\n' + FAKE_PACKAGE["b.py"].replace("return 2", "return 2  # the answer")
    assert fingerprint_of(tmp_path / "comment", {"b.py": commented}) == original

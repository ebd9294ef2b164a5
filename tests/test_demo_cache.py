"""The demonstrations' disk cache: off by default, served from disk when on, never stale."""

from __future__ import annotations

import numpy as np

from snippets import l1_l2
from snippets.demo_cache import ENV_VAR, cache_folder, code_fingerprint


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
    assert list((tmp_path / "demos" / code_fingerprint()).rglob("output.pkl"))
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


def test_the_fingerprint_follows_the_source_not_the_folder(tmp_path):
    packages = {}
    for name, source in (("one", "X = 1\n"), ("same", "X = 1\n"), ("changed", "X = 2\n")):
        packages[name] = tmp_path / name
        (packages[name] / "sub").mkdir(parents=True)
        (packages[name] / "sub" / "a.py").write_text(source)
    one, same, changed = (code_fingerprint(packages[name]) for name in ("one", "same", "changed"))
    assert one == same  # a fresh clone elsewhere shares the cache
    assert one != changed  # any edit of any module: a new, empty cache

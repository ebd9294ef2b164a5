"""A disk cache for the chapters' costly demonstrations, off unless asked for.

The same seeded trainings run in the unit tests, in the docs tests and in the site
build, each in its own process. When ``$HANDBOOK_DEMO_CACHE`` names a folder (the
Makefile's test, site and serve targets set it), a function decorated with
:func:`demo_cache` runs once and later calls, in any process, read its result from
that folder. Unset, the function simply runs: that is what a reader's copy of the
code does.

joblib keys an entry on the function's own code and its arguments, but not on the
code it calls. So every entry also lives under a fingerprint of the function's
module: the code (its syntax tree, without comments or docstrings) of that module
and of every module of ``snippets`` it imports, directly or through others, with
their packages' ``__init__``; and the versions of the libraries that compute the
numbers. A change of that code or an upgrade starts that function from an empty
cache instead of serving a stale result; an edit of an unrelated module, or of a
comment, keeps it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from importlib.metadata import version
from pathlib import Path

from snippets.code_form import code_form

ENV_VAR = "HANDBOOK_DEMO_CACHE"
PACKAGE = Path(__file__).resolve().parent
#: The libraries whose versions can change a result.
LIBRARIES = ("numpy", "keras", "tensorflow", "pandas", "scipy")


def cache_folder() -> Path | None:
    """The folder ``$HANDBOOK_DEMO_CACHE`` names, or None when caching is off."""
    folder = os.environ.get(ENV_VAR, "").strip()
    return Path(folder).resolve() if folder else None


def module_file(module: str, package_dir: Path = PACKAGE, package_name: str = "snippets") -> Path | None:
    """The source file of ``module`` (a dotted name) in the package, or None if it has none there."""
    parts = module.split(".")
    if parts[0] != package_name:
        return None
    base = Path(package_dir).joinpath(*parts[1:])
    # A package before a module of the same name, as Python's import does.
    candidates = [base / "__init__.py"] + ([base.with_suffix(".py")] if parts[1:] else [])
    return next((path for path in candidates if path.is_file()), None)


def imported_modules(tree: ast.AST, package_dir: Path = PACKAGE, package_name: str = "snippets") -> set[str]:
    """The package's modules that ``tree`` imports anywhere (also inside functions).

    The package imports absolutely only, so relative imports are not looked at.
    """
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from snippets.x import y`: y may itself be a module of the package snippets.x.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if module_file(name, package_dir, package_name) is not None}


@functools.lru_cache(maxsize=None)
def module_fingerprint(module: str, package_dir: Path = PACKAGE, package_name: str = "snippets") -> str:
    """A short hash of the code of ``module`` and of every package module it imports,
    transitively, and of the libraries' versions.

    Computed once per module and process, at the first cached call: it stands for the
    code this process imported, not for a file edited while it runs.
    """
    sources, todo = {}, [module]
    while todo:
        name = todo.pop()
        if name in sources:
            continue
        sources[name] = module_file(name, package_dir, package_name).read_text(encoding="utf-8")
        # Importing snippets.x.y also runs snippets/__init__.py and snippets/x/__init__.py.
        parts = name.split(".")
        todo.extend(".".join(parts[:end]) for end in range(1, len(parts)))
        todo.extend(imported_modules(ast.parse(sources[name]), package_dir, package_name))
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(f"{name}\0{code_form(sources[name])}\0".encode())
    for name in LIBRARIES:
        digest.update(f"{name}=={version(name)}\0".encode())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _memorized(location: Path, func):
    from joblib import Memory  # imported only when caching is on

    return Memory(location, verbose=0).cache(func)


def demo_cache(func):
    """Cache ``func``'s (picklable) result on disk when ``$HANDBOOK_DEMO_CACHE`` is set.

    The variable is read at every call, so a test can switch the cache off with
    ``monkeypatch.delenv``. A function outside the package (run as ``__main__``, say)
    has no fingerprint of its code, so it always runs.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        folder = cache_folder()
        if folder is None or module_file(func.__module__) is None:
            return func(*args, **kwargs)
        return _memorized(folder / module_fingerprint(func.__module__), func)(*args, **kwargs)

    return wrapper

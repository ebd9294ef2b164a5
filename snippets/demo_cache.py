"""A disk cache for the chapters' costly demonstrations, off unless asked for.

The same seeded trainings run in the unit tests, in the docs tests and in the site
build, each in its own process. When ``$HANDBOOK_DEMO_CACHE`` names a folder (the
Makefile's test, site and serve targets set it), a function decorated with
:func:`demo_cache` runs once and later calls, in any process, read its result from
that folder. Unset, the function simply runs: that is what a reader's copy of the
code does.

joblib keys an entry on the function's own code and its arguments, but not on the
code it calls. So every entry also lives under a fingerprint of all of ``snippets``'
source files and of the versions of the libraries that compute the numbers: any code
change or upgrade starts from an empty cache instead of serving a stale result.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib.metadata import version
from pathlib import Path

ENV_VAR = "HANDBOOK_DEMO_CACHE"
PACKAGE = Path(__file__).resolve().parent
#: The libraries whose versions can change a result.
LIBRARIES = ("numpy", "keras", "tensorflow", "pandas", "scipy")


def cache_folder() -> Path | None:
    """The folder ``$HANDBOOK_DEMO_CACHE`` names, or None when caching is off."""
    folder = os.environ.get(ENV_VAR, "").strip()
    return Path(folder).resolve() if folder else None


@functools.lru_cache(maxsize=None)
def code_fingerprint(package: Path = PACKAGE) -> str:
    """A short hash of every .py file of ``package`` and of the libraries' versions.

    Computed once per process, at the first cached call: it stands for the code this
    process imported, not for a file edited while it runs.
    """
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
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
    ``monkeypatch.delenv``.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        folder = cache_folder()
        if folder is None:
            return func(*args, **kwargs)
        return _memorized(folder / code_fingerprint(), func)(*args, **kwargs)

    return wrapper

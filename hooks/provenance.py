"""Build provenance for the footer of every page: commit, build date, TensorFlow and Keras.

Fills ``config.extra.provenance``; ``overrides/partials/copyright.html`` shows it. The date
honours ``SOURCE_DATE_EPOCH`` (reproducible builds), else it is the time of the build (UTC).
Versions are those of the installed distributions that produced the numbers on the pages.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path


def _git(*args: str, cwd: Path) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(root: Path, repo_url: str | None) -> dict:
    commit = _git("rev-parse", "HEAD", cwd=root)
    # Tracked files that differ from the commit: the site is not exactly that commit.
    changes = _git("status", "--porcelain", "--untracked-files=no", cwd=root)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    built = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    repo = (repo_url or "").rstrip("/")
    return {
        "commit": commit or "unknown",
        "commit_short": commit[:7] if commit else "unknown",
        "commit_url": f"{repo}/commit/{commit}" if commit and repo.startswith("https://github.com/") else None,
        "local_changes": bool(changes),
        "date": built.strftime("%Y-%m-%d %H:%M UTC"),
        "date_iso": built.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
    }


def on_config(config):
    root = Path(config.config_file_path).resolve().parent
    config.extra["provenance"] = provenance(root, config.repo_url)
    return config

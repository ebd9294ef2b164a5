"""MkDocs hook: refuse to build the study pages without their generated results.

The study pages include tables and figures that ``python -m snippets report`` writes
to docs/generated. Without them pymdownx.snippets would stop at the first include with
a bare "snippet not found"; this says what is missing and which command makes it.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError

from snippets.studies.generated import GENERATED_REFERENCE


def on_pre_build(config, **kwargs):
    docs = Path(config["docs_dir"])
    pages = docs.rglob("*.md")
    needed = sorted({name for page in pages for name in GENERATED_REFERENCE.findall(page.read_text("utf8"))})
    missing = [name for name in needed if not (docs / "generated" / name).exists()]
    if missing:
        raise PluginError(
            f"{len(missing)} generated file(s) missing from {docs / 'generated'}: {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}\n"
            "Run `make report` (or `python -m snippets study all && python -m snippets report`) first; "
            "`make site` does both."
        )

"""Where the report's generated files go, and which pages include them.

``python -m snippets report`` writes tables and figures into ``docs/generated``
(git-ignored); the study pages include them with ``--8<--`` lines and image links.
The pattern that finds those references and the map from a file's name to the page
that includes it are written here once, for the report, the site check, the MkDocs
hooks and the tests.
"""

from __future__ import annotations

import re

from snippets.studies.configs import REGULARIZER_STUDY, sweeps
from snippets.studies.results import PROJECT_ROOT

GENERATED_DIR = PROJECT_ROOT / "docs" / "generated"

#: A page's reference to a generated file: ``--8<-- "docs/generated/NAME"`` or ``](../generated/NAME)``.
GENERATED_REFERENCE = re.compile(r"""(?:--8<--\s*"|\]\()(?:\.\./)*(?:docs/)?generated/([\w.-]+)""")

#: Which built page includes the generated files of each name prefix.
SWEEP_NAMES = tuple(sweep.name for sweep in sweeps(REGULARIZER_STUDY[0]))  # the names do not depend on the best
PAGE_OF_PREFIX = {
    **{f"sweep_{name}_": f"studies/sweeps/{name.replace('_', '-')}/index.html" for name in SWEEP_NAMES},
    "sweeps_": "studies/sweeps/index.html",
    "notebook_": "studies/notebook-comparison/index.html",
    "regularizers_": "studies/regularizer-study/index.html",
    "performance": "studies/performance/index.html",
    "robustness": "studies/robustness/index.html",
}


def page_of(generated_file: str) -> str:
    """The built page (relative to the site folder) that includes a generated file."""
    return next(page for prefix, page in PAGE_OF_PREFIX.items() if generated_file.startswith(prefix))

"""Runnable examples of the Regularization Handbook.

Every code block on the site imports from this package, and every number on the
site is computed by it. Pages import ``data`` (MNIST, the notebook's split and
subsets, label noise), ``pipeline`` (the seeded input pipeline for ``fit``),
``plotting`` (figures as inline SVG) and their own module, named after the page
(``docs/chapters/l1-l2.md`` -> ``l1_l2``). The studies use ``models`` (the notebook's
MLP and its variants), ``training`` (the seeded, fast training loop) and ``studies``
(configurations, runs, results files, executors, and their report). Around them:
``demo_cache`` (the demonstrations' disk cache), ``page_code`` (the Python a page
shows, for the docs tests and the downloads hook), ``quiet_start`` (TensorFlow
without its start-up chatter) and ``cli`` (``python -m snippets``).
"""

import os

# TensorFlow's C++ start-up chatter (CPU features, CUDA probing) is noise on every page.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

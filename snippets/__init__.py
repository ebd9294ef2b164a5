"""Runnable examples of the Regularization Handbook.

Every code block on the site imports from this package, and every number on the
site is computed by it. Modules: ``data`` (MNIST), ``models`` (the notebook's MLP
and its variants), ``training`` (the seeded, fast recipe), ``studies`` (the studies:
configurations, runs, results files, executors, and their report: tables, figures,
the site check, the performance page), ``plotting`` (figures as inline SVG), one
module per chapter's demonstrations, ``demo_cache`` (their disk cache), ``page_code``
(the Python a page shows, for the docs tests and the downloads hook), ``quiet_start``
(TensorFlow without its start-up chatter) and ``cli`` (``python -m snippets``).
"""

import os

# TensorFlow's C++ start-up chatter (CPU features, CUDA probing) is noise on every page.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

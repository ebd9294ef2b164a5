"""From results files to the tables, figures and provenance the site includes.

Everything here reads results files only. Output goes to ``docs/generated``
(git-ignored), which the study pages include. ``numbers.json`` lists every number
written into a table or sentence, so that a check (``snippets.studies.site_check``) can
compare the built pages with the results files. The sentences that state a direction or
a size come from ``snippets.studies.claims``: when one does not hold for a study's own
runs, the report stops with ``ClaimError`` naming it, and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from snippets.studies.claims import ClaimError, failures, notebook_findings, regime, render, technique_findings, tuning
from snippets.studies.configs import STUDIES, sweep_study
from snippets.studies.figures import empty_svg, gap_figure, learning_curves, technique_panels
from snippets.studies.generated import GENERATED_DIR
from snippets.studies.performance import BENCHMARK_FILE, performance_page
from snippets.studies.results import DEFAULT_RESULTS_DIR, StudyResults, load_study, write_json_atomically
from snippets.studies.robustness import ROBUSTNESS_RELATIVE, robustness_table
from snippets.studies.selection import best_config, technique_results
from snippets.studies.sweep_report import (
    band_figure,
    sweep_findings,
    sweep_runs,
    sweep_table,
    train_size_settings,
    view_data,
)
from snippets.studies.tables import (
    Numbers,
    accuracy_table,
    claim_table,
    fitting_table,
    literature_table,
    notebook_settings,
    strengths_table,
    technique_summary,
)

DEFAULT_OUTPUT_DIR = GENERATED_DIR


def provenance(results: StudyResults) -> str:
    runs = results.all_runs
    if not runs:
        return ""
    commits = sorted({r.get("commit", "unknown") for r in runs})
    codes = sorted({r["code"] for r in runs})
    versions = sorted({json.dumps(r["versions"], sort_keys=True) for r in runs})
    cpus = sorted({r.get("cpu", "unknown") for r in runs})
    finished = sorted(r.get("finished", "") for r in runs)
    seeds = sorted({r["seed"] for r in runs})
    walls = [r["wall_seconds"] for r in runs]
    lines = [
        f"- **Runs**: {len(runs)} ({len(results.runs)} configurations; seeds {', '.join(map(str, seeds))})",
        f"- **Wall time**: {np.mean(walls):.0f} s per run on average, {sum(walls) / 60:.1f} min in total",
        f"- **Finished**: {finished[0]} to {finished[-1]}",
        f"- **Commit**: {', '.join(commits)}; training code fingerprint {', '.join(codes)}",
        f"- **Libraries**: {'; '.join(_versions_text(json.loads(v)) for v in versions)}",
        f"- **CPU**: {', '.join(cpus)}",
        f"- **Command**: `python -m snippets study {results.study}`; results files in `results/{results.study}/`",
    ]
    out = "\n".join(lines) + "\n"
    warnings = []
    if len(codes) > 1 or len(versions) > 1:
        warnings.append(
            "These runs were made by **different code or library versions** (see above): the table mixes them. "
            f"Run `python -m snippets study {results.study}` to bring every run up to date."
        )
    if len(cpus) > 1:
        warnings.append(
            f"These runs come from **{len(cpus)} different CPUs or instruction sets** (see above). The same seed "
            "can give different numbers on another CPU or instruction set, so runs of one configuration are not "
            "exact repeats of each other across machines; differences between configurations are still paired by seed."
        )
    if results.nonstandard:
        warnings.append(
            f"Configurations {', '.join(f'`{n}`' for n in results.nonstandard)} were run with **settings other than "
            "the study's** (for example fewer epochs or images, as in a smoke test): these are not the study's numbers."
        )
    if not results.complete:
        missing = [c.name for c in results.configs if c.name not in results.runs]
        warnings.append(f"The study is **incomplete**: no runs yet for {', '.join(missing)}.")
    if results.problems:
        warnings.append("Ignored files (not trusted): " + "; ".join(f"`{p}`" for p in results.problems))
    for text in warnings:
        out += f'\n!!! warning "Read with care"\n    {text}\n'
    return out


def _versions_text(versions: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items())


# ---------------------------------------------------------------- writing


def missing_study_note(study: str) -> str:
    return (
        f'!!! failure "No results yet"\n    Nothing has been measured for this study in this build. '
        f"Run `python -m snippets study {study}` (or `make site`), then `python -m snippets report`.\n"
    )


def write_report(results_dir: Path = DEFAULT_RESULTS_DIR, out: Path = DEFAULT_OUTPUT_DIR,
                 strict: bool | None = None) -> str:
    """Write every generated file; return a one-line summary per study.

    Raises ClaimError, before writing anything, when a sentence's claim does not hold and
    ``strict`` is true; by default that is for the studies run with their own settings
    (runs with other settings, as in a smoke test, get a warning on the page instead).
    """
    from snippets.plotting import svg

    out = Path(out)
    numbers = Numbers()
    files: dict[str, str] = {}
    figures: dict[str, object] = {}  # drawn once the claims are checked: drawing is the slow part
    sentences: dict[str, list] = {}
    checked: dict[str, list] = {}
    summary = []

    def said(name: str, parts: list, standard: bool) -> str:
        """Render a file of sentences; keep its claims for the check (strictly for the study's own runs)."""
        sentences[name] = [p for p in parts if not isinstance(p, str)]
        if strict if strict is not None else standard:
            checked[name] = sentences[name]
        return render(parts)

    notebook = load_study(results_dir, "notebook")
    regularizers = load_study(results_dir, "regularizers")
    numbers.file = "notebook_settings.md"
    files[numbers.file] = notebook_settings(notebook)
    if notebook.runs:
        numbers.file = "notebook_table.md"
        files[numbers.file] = accuracy_table(notebook, "plain", numbers)
        numbers.file = "notebook_claim.md"
        files[numbers.file] = claim_table(notebook, numbers)
        numbers.file = "notebook_fitting.md"
        files[numbers.file] = fitting_table(notebook, numbers)
        numbers.file = "notebook_literature.md"
        files[numbers.file] = literature_table(notebook, numbers)
        numbers.file = "notebook_findings.md"
        files[numbers.file] = said(numbers.file, notebook_findings(notebook, numbers), not notebook.nonstandard)
        figures["notebook_curves.svg"] = lambda: (
            learning_curves(notebook, [("accuracy", "accuracy"), ("loss", "cross-entropy loss")],
                            "The notebook's models: training (dashed) and validation (solid), mean ± sd over seeds")
        )
    else:
        for name in ("notebook_table.md", "notebook_claim.md", "notebook_fitting.md", "notebook_literature.md",
                     "notebook_findings.md"):
            files[name] = missing_study_note("notebook")
        files["notebook_curves.svg"] = empty_svg()
    files["notebook_provenance.md"] = provenance(notebook) or missing_study_note("notebook")
    summary.append(f"notebook: {len(notebook.all_runs)} runs, {len(notebook.problems)} ignored file(s)")

    numbers.file = "regularizers_settings.md"
    files[numbers.file] = strengths_table(regularizers, numbers)
    files["regularizers_tuning.md"] = render(tuning(regularizers))
    numbers.file = "regularizers_regime.md"
    files[numbers.file] = said(numbers.file, regime(regularizers, notebook, numbers),
                               not (regularizers.nonstandard or notebook.nonstandard))
    techniques = technique_results(regularizers)  # one row per technique: its strength kept on validation
    if techniques.runs:
        numbers.file = "regularizers_table.md"
        files[numbers.file] = accuracy_table(techniques, "none", numbers)
        figures["regularizers_gap.svg"] = lambda: gap_figure(techniques)
        figures["regularizers_curves.svg"] = lambda: technique_panels(techniques, "none")
    else:
        files["regularizers_table.md"] = missing_study_note("regularizers")
        files["regularizers_gap.svg"] = files["regularizers_curves.svg"] = empty_svg()
    for config in techniques.configs:
        numbers.file = f"regularizers_{config.name}.md"
        files[numbers.file] = technique_summary(techniques, config.name, "none", numbers) + said(
            numbers.file, technique_findings(techniques, config.name, numbers), not regularizers.nonstandard)
    files["regularizers_provenance.md"] = provenance(regularizers) or missing_study_note("regularizers")
    summary.append(f"regularizers: {len(regularizers.all_runs)} runs, {len(regularizers.problems)} ignored file(s)")

    # The sweeps: they train with the regularizer study's best technique, so they need its results.
    if regularizers.complete:
        best = best_config(regularizers)
        swept = load_study(results_dir, "sweeps", list(sweep_study(best)))
        files["sweeps_provenance.md"] = provenance(swept) or missing_study_note("sweeps")
        summary.append(f"sweeps: {len(swept.all_runs)} runs, {len(swept.problems)} ignored file(s)")
        for found in sweep_runs(best.name, {"regularizers": regularizers, "sweeps": swept}):
            prefix = f"sweep_{found.sweep.name}_"
            if not any(points for series in found.runs for points in series):
                for suffix in ("table.md", "findings.md"):
                    files[prefix + suffix] = missing_study_note("sweeps")
                files[prefix + "figure.svg"], files[prefix + "view.json"] = empty_svg(), "{}"
                continue
            numbers.file = prefix + "table.md"
            files[numbers.file] = sweep_table(found, numbers)
            numbers.file = prefix + "findings.md"
            files[numbers.file] = sweep_findings(found, numbers)
            files[prefix + "view.json"] = json.dumps(view_data(found), allow_nan=False)
            figures[prefix + "figure.svg"] = lambda found=found: band_figure(found)
    else:
        from snippets.studies.configs import sweeps as all_sweeps

        files["sweeps_provenance.md"] = missing_study_note("sweeps")
        for sweep in all_sweeps(STUDIES["regularizers"][0]):
            prefix = f"sweep_{sweep.name}_"
            note = ('!!! failure "No results yet"\n    The sweeps train with the regularizer study\'s best technique: '
                    "run `python -m snippets study all` (the regularizer study, then the sweeps), then "
                    "`python -m snippets report`.\n")
            files[prefix + "table.md"] = files[prefix + "findings.md"] = note
            files[prefix + "figure.svg"], files[prefix + "view.json"] = empty_svg(), "{}"

    files["sweep_train_size_settings.md"] = train_size_settings()  # from the configurations: no runs needed
    files["performance.md"] = performance_page(Path(results_dir) / BENCHMARK_FILE)
    numbers.file = "robustness_table.md"
    files[numbers.file] = robustness_table(Path(results_dir) / ROBUSTNESS_RELATIVE, numbers)

    wrong = failures(checked)
    if wrong:
        raise ClaimError(
            f"{len(wrong)} sentence(s) of the study pages do not hold for the results in {results_dir}; "
            "change the sentence in snippets/studies/claims.py or find out why the numbers moved:\n  "
            + "\n  ".join(wrong)
        )
    files.update({name: svg(draw()) for name, draw in figures.items()})
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
    write_json_atomically(out / "numbers.json", {"results": str(results_dir), "numbers": numbers.records})
    claims = sum(len(v) for v in sentences.values())
    return ("report: " + "; ".join(summary) + f"; {len(files)} files in {out}; "
            f"{claims} claim(s) stated, {len(checked and [s for v in checked.values() for s in v])} checked")


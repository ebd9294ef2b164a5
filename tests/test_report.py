"""The report: tables from results files, honest about what it was given."""

import html
import json
import shutil

import pytest

from snippets.studies.configs import STUDIES, TECHNIQUES
from snippets.studies.generated import PAGE_OF_PREFIX, SWEEP_NAMES
from snippets.studies.report import write_report
from snippets.studies.results import load_study, read_results, write_json_atomically
from snippets.studies.selection import chosen_strengths
from snippets.studies.site_check import check_site
from snippets.studies.statistics import comparisons, holm, summarize


@pytest.fixture
def results(smoke_results, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(smoke_results, copy)
    return copy


def test_summary_statistics():
    s = summarize([0.97, 0.98, 0.99])
    assert s["mean"] == pytest.approx(0.98) and s["sd"] == pytest.approx(0.01)
    # t(0.975, 2) = 4.303: half-width 4.303 * 0.01 / sqrt(3)
    assert s["high"] - s["mean"] == pytest.approx(4.303 * 0.01 / 3**0.5, rel=1e-3)


def test_holm_adjusts_as_the_step_down_procedure_does():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, each no smaller than the one before, capped at 1.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([0.2]) == [0.2] and holm([]) == []


def test_comparisons_correct_every_test_against_the_baseline(results):
    runs = load_study(results, "regularizers").runs
    found = comparisons(runs, "none", "final.test_accuracy")
    assert sorted(found) == sorted(set(runs) - {"none"}) and len(found) == len(STUDIES["regularizers"]) - 1
    assert [d["p_holm"] for d in found.values()] == pytest.approx(holm([d["p"] for d in found.values()]))
    assert all(d["p_holm"] >= d["p"] for d in found.values())


def test_report_writes_every_table_and_figure(results, tmp_path):
    out = tmp_path / "generated"
    summary = write_report(results, out)
    assert "notebook: 6 runs" in summary and f"regularizers: {2 * len(STUDIES['regularizers'])} runs" in summary
    assert f"sweeps: {2 * 28} runs" in summary
    table = (out / "notebook_table.md").read_text()
    for name in ("plain", "batchnorm", "batchnorm_hidden"):
        assert f"| `{name}` | 2 |" in table
    assert "(baseline)" in table and "Paired p" in table and "Holm p" in table
    assert "Holm's method for the 2 comparisons with `plain`" in table
    assert "| Train − test gap (pts) |" in table
    regularizers = (out / "regularizers_table.md").read_text()
    # One row per technique, at its strength kept on validation: 12 comparisons with the baseline.
    assert "Noisy-label train − clean test (pts)" in regularizers and "for the 12 comparisons with `none`" in regularizers
    for name in ("notebook_settings.md", "notebook_findings.md", "regularizers_regime.md", "regularizers_tuning.md"):
        assert (out / name).read_text().strip(), name
    claim = (out / "notebook_claim.md").read_text()
    assert "98.3" in claim and "99.1" in claim
    literature = (out / "notebook_literature.md").read_text()
    assert "3.05" in literature
    # The 1.60% standard net is Simard et al.'s, as Srivastava et al. quote it, not theirs.
    assert "| Simard et al. (2003), as quoted by Srivastava et al. (2014, Table 2) |" in literature
    assert [line for line in literature.splitlines() if "1.60" in line] == [
        line for line in literature.splitlines() if "Simard" in line]
    for technique in TECHNIQUES:
        assert "Measured over 2 seeds" in (out / f"regularizers_{technique.name}.md").read_text()
    for sweep in SWEEP_NAMES:
        assert "| 2 |" in (out / f"sweep_{sweep}_table.md").read_text()
        assert json.loads((out / f"sweep_{sweep}_view.json").read_text())["points"]
    for figure in ("notebook_curves.svg", "regularizers_curves.svg", "regularizers_gap.svg"):
        assert (out / figure).read_text().startswith("<svg")
    provenance = (out / "notebook_provenance.md").read_text()
    assert "seeds 0, 1" in provenance and "tensorflow 2." in provenance
    assert "settings other than the study's" in provenance  # smoke runs are labelled as such
    numbers = json.loads((out / "numbers.json").read_text())["numbers"]
    assert len(numbers) > 100 and all(r["text"] in (out / r["file"]).read_text() for r in numbers)


def test_table_numbers_are_the_results_files_means(results, tmp_path):
    out = tmp_path / "generated"
    write_report(results, out)
    runs = [read_results(results / "notebook" / "plain" / f"seed-{s}.json") for s in (0, 1)]
    mean = 100 * sum(r["final"]["test_accuracy"] for r in runs) / 2
    assert f"{mean:.2f} ±" in (out / "notebook_table.md").read_text()


def test_one_training_accuracy_in_table_and_summaries(results, tmp_path):
    """The summaries' training accuracy is the table's: evaluated after training, not Keras' running figure."""
    out = tmp_path / "generated"
    write_report(results, out)
    table = (out / "regularizers_table.md").read_text()
    for technique, name in chosen_strengths(load_study(results, "regularizers")).items():
        runs = [read_results(results / "regularizers" / name / f"seed-{s}.json") for s in (0, 1)]
        evaluated = 100 * sum(r["final"]["train_accuracy"] for r in runs) / 2
        summary = (out / f"regularizers_{technique}.md").read_text()
        assert f"evaluated after training: {evaluated:.2f}%" in summary
        assert f"| `{technique}` | 2 | {evaluated:.2f} ±" in table


def test_same_results_same_report(results, tmp_path):
    """check-site compares a fresh report with the published one: the report must not vary by itself."""
    write_report(results, tmp_path / "a")
    write_report(results, tmp_path / "b")
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_corrupt_and_foreign_files_are_reported_not_trusted(results, tmp_path):
    (results / "notebook" / "plain" / "seed-0.json").write_text('{"format": 1, "key": "trunc')
    (results / "notebook" / "plain" / "seed-5.json").write_text(json.dumps({"accuracy": 0.99}))
    moved = read_results(results / "notebook" / "batchnorm" / "seed-1.json")
    write_json_atomically(results / "notebook" / "plain" / "seed-9.json", moved)  # a run filed in the wrong folder
    loaded = load_study(results, "notebook")
    assert [r["seed"] for r in loaded.runs["plain"]] == [1]
    assert len(loaded.problems) == 3
    write_report(results, tmp_path / "out")
    provenance = (tmp_path / "out" / "notebook_provenance.md").read_text()
    assert "Ignored files (not trusted)" in provenance and "not readable JSON" in provenance
    assert "| `plain` | 1 |" in (tmp_path / "out" / "notebook_table.md").read_text()


def test_mixed_code_versions_are_flagged(results, tmp_path):
    path = results / "notebook" / "plain" / "seed-1.json"
    run = read_results(path)
    run["code"] = "0000000000000000"
    write_json_atomically(path, run)
    write_report(results, tmp_path / "out")
    assert "different code or library versions" in (tmp_path / "out" / "notebook_provenance.md").read_text()


def test_missing_study_says_how_to_run_it(tmp_path):
    write_report(tmp_path / "empty", tmp_path / "out")
    assert "python -m snippets study notebook" in (tmp_path / "out" / "notebook_table.md").read_text()


def fake_site(generated, site):
    """Pages made of the generated Markdown rendered to HTML, as a stand-in for the built site."""
    from snippets.studies.site_check import render_markdown

    for prefix, page in PAGE_OF_PREFIX.items():
        (site / page).parent.mkdir(parents=True, exist_ok=True)
        text = "\n\n".join(p.read_text() for p in sorted(generated.glob(prefix + "*.md")))
        (site / page).write_text(f"<html><body><article>{render_markdown(text)}</article></body></html>")


def report_and_fake_site(results, tmp_path):
    """The report of ``results`` into tmp_path/generated and a fake site of it in tmp_path/site."""
    generated, site = tmp_path / "generated", tmp_path / "site"
    write_report(results, generated)
    fake_site(generated, site)
    return generated, site


def test_check_site_accepts_matching_pages_and_names_a_wrong_number(results, tmp_path):
    generated, site = report_and_fake_site(results, tmp_path)
    checked, problems = check_site(results, site, generated)
    assert checked > 100 and problems == []

    page = site / "studies" / "notebook-comparison" / "index.html"
    record = json.loads((generated / "numbers.json").read_text())["numbers"][0]
    page.write_text(page.read_text().replace(record["text"], "12.34"))
    _, problems = check_site(results, site, generated)
    assert any(record["where"] in p for p in problems)

    run = read_results(results / "notebook" / "plain" / "seed-0.json")
    run["final"]["test_accuracy"] = 0.5  # results changed after the report: the page is stale
    write_json_atomically(results / "notebook" / "plain" / "seed-0.json", run)
    _, problems = check_site(results, site, generated)
    assert any("differs from a fresh report" in p for p in problems)


def test_check_site_requires_complete_standard_studies(results, tmp_path):
    generated, site = report_and_fake_site(results, tmp_path)
    _, problems = check_site(results, site, generated, require_complete=True)
    assert any("non-standard settings" in p for p in problems)


def test_runs_from_several_cpu_models_are_flagged(results, tmp_path):
    path = results / "notebook" / "plain" / "seed-1.json"
    run = read_results(path)
    write_json_atomically(path, {**run, "cpu": "Another CPU 1000"})
    write_report(results, tmp_path / "generated")
    provenance = (tmp_path / "generated" / "notebook_provenance.md").read_text()
    assert "2 different CPUs or instruction sets" in provenance and "Another CPU 1000" in provenance
    assert "different CPUs or instruction sets" not in (tmp_path / "generated" / "regularizers_provenance.md").read_text()


def test_figures_draw_the_results_means(results):
    """The bars are the mean train − test differences; the title says what they are on noisy labels."""
    from snippets.studies.figures import gap_figure, technique_panels
    from snippets.studies.statistics import METRICS, value

    regularizers = load_study(results, "regularizers")
    left, right = gap_figure(regularizers).axes
    widths = [bar.get_width() for bar in left.patches]
    expected = [100 * sum(value(r, METRICS["train"]) - value(r, METRICS["test"]) for r in runs) / len(runs)
                for runs in regularizers.runs.values()]
    assert widths == pytest.approx(expected)
    assert left.get_title() == "Noisy-label train − clean test accuracy"
    assert [t.get_text() for t in right.get_yticklabels()] == list(regularizers.runs)
    notebook_left, _ = gap_figure(load_study(results, "notebook")).axes
    assert notebook_left.get_title() == "Generalization gap"  # clean training labels: the gap proper

    panels = [ax for ax in technique_panels(regularizers, "none").axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == list(regularizers.runs)
    # Each panel: the technique's training and validation curves, and the baseline's validation
    # in grey (not on the baseline's own panel); each curve a mean line over a band.
    assert [len(ax.get_lines()) for ax in panels] == [2] + [3] * (len(panels) - 1)
    none_val = [sum(r["history"]["val_accuracy"][e] for r in regularizers.runs["none"]) / 2 for e in range(1)]
    assert panels[0].get_lines()[1].get_ydata()[:1] == pytest.approx(none_val)

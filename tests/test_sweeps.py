"""The sweeps: strengths and the best technique chosen on validation, and the sweep pages' data.

The results are written by hand (no training): the regularizer study's from tests/test_claims.py,
and per sweep point a run whose accuracies the tests choose.
"""

import json

import pytest

from snippets.studies.configs import SEEDS, STUDIES, seeds_for, sweep_study, sweeps
from snippets.studies.report import write_report
from snippets.studies.results import load_study, write_json_atomically, results_path
from snippets.studies.selection import SelectionError, best_config, chosen_strengths, sweep_configs
from tests.test_claims import fake_run, regularizer_history, study_results  # noqa: F401 (a fixture)

BEST = "augmentation"  # the best validation accuracy of tests/test_claims.py's techniques, `combined` aside


def sweep_final(name: str) -> tuple[float, float, float]:
    """Accuracies of a sweeps-study point: the regularized series 3 points better, except at 55,000 images."""
    base = (0.99, 0.80, 0.80)
    if name.startswith("width-"):
        return base  # every width as good as the baseline: its differences are not resolved
    if name.endswith("-best") and "55000" not in name:
        return (0.85, 0.83, 0.83)
    if name.startswith("learning_rate-1-plain"):
        return (0.1, 0.1, 0.1)  # diverged
    return base


@pytest.fixture
def with_sweeps(study_results):
    best = best_config(load_study(study_results, "regularizers"))
    for config in sweep_study(best):
        for seed in range(seeds_for(config)):
            history = regularizer_history(next(c for c in STUDIES["regularizers"] if c.name == "none"), config.epochs)
            write_json_atomically(results_path(study_results, config, seed),
                                  fake_run(config, seed, sweep_final(config.name), history))
    return study_results


def test_each_technique_keeps_the_strength_with_the_best_validation_accuracy(study_results):
    regularizers = load_study(study_results, "regularizers")
    chosen = chosen_strengths(regularizers)
    assert chosen["l2"] == "l2-0.03" and chosen["dropout"] == "dropout-0.8"  # the fakes' last strengths
    assert chosen["none"] == "none" and chosen["combined"] == "combined"
    assert best_config(regularizers).name == BEST  # `combined` is not a candidate


def test_the_sweeps_need_the_regularizer_study_first(tmp_path):
    with pytest.raises(SelectionError, match="run `python -m snippets study regularizers` first"):
        sweep_configs(tmp_path / "nothing")


def test_the_sweeps_train_with_the_best_technique_and_share_the_study_runs(study_results):
    configs = {c.name: c for c in sweep_configs(study_results)}
    assert configs["train_size-300-best"].augmentation == configs["label_noise-0.6-best"].augmentation is not None
    assert configs["train_size-300-none"].augmentation is None
    # The regime's own size, noise and width are the regularizer study's runs, not repeated.
    assert not any(name.startswith(("train_size-2000", "label_noise-0.2", "width-300")) for name in configs)
    sizes = [c for c in configs.values() if c.name.startswith("train_size-") and c.name.endswith("-none")]
    assert {c.epochs * (c.train_size or 55_000) for c in sizes} <= {118_800, 120_000, 110_000}  # same updates


def test_the_report_writes_every_sweep_from_its_points_runs(with_sweeps, tmp_path):
    out = tmp_path / "generated"
    write_report(with_sweeps, out)
    best = best_config(load_study(with_sweeps, "regularizers"))
    for sweep in sweeps(best):
        view = json.loads((out / f"sweep_{sweep.name}_view.json").read_text())
        assert len(view["points"]) == len(sweep.values) * len(sweep.series)
        # Each point has its configuration's seeds: its study's, or more (the learning-rate sweep).
        assert {p["seeds"] for p in view["points"]} <= {SEEDS["regularizers"], SEEDS["sweeps"], 10}
        assert (out / f"sweep_{sweep.name}_figure.svg").read_text().startswith("<svg")
        findings = (out / f"sweep_{sweep.name}_findings.md").read_text()
        assert ("Best on validation" in findings) == sweep.chosen and "**Cost**: " in findings
        assert (view["best"] is not None) == sweep.chosen
    rates = json.loads((out / "sweep_batch_norm_learning_rate_view.json").read_text())
    assert {p["seeds"] for p in rates["points"]} == {10}
    l2 = json.loads((out / "sweep_l2_view.json").read_text())
    assert l2["values"][0] == 0 and l2["best"] == {"series": l2["series"][0], "index": len(l2["values"]) - 1}
    assert l2["points"][1]["histogram"] is None  # the fakes carry no weights
    # Every width of the sweeps study as good as the narrowest: their differences are not resolved;
    # 300 units is the regularizer study's baseline, which the fakes make 0.7 points better.
    width = (out / "sweep_width_table.md").read_text().splitlines()
    assert [line.split(" |")[0] for line in width if f"**not resolved** at {SEEDS['sweeps']} seeds" in line] == ["| 50", "| 100", "| 600"]
    assert width[5].startswith("| 300 |") and width[5].endswith(", resolved |")
    # The regularized series is 3 points better up to 8,000 images, and not at 55,000.
    sizes = (out / "sweep_train_size_table.md").read_text().splitlines()
    assert sizes[2].startswith("| 300 |") and sizes[2].endswith(", resolved |")
    assert sizes[-1].startswith("| 55,000 |") and "not resolved" in sizes[-1]
    assert "resolved at 4 of 5 values (300, 1,000, 2,000, 8,000)" in (out / "sweep_train_size_findings.md").read_text()
    numbers = json.loads((out / "numbers.json").read_text())["numbers"]
    assert {f"sweep_{s.name}_table.md" for s in sweeps(best)} <= {r["file"] for r in numbers}


def test_sweep_pages_say_how_to_get_results_when_there_are_none(tmp_path):
    out = tmp_path / "generated"
    write_report(tmp_path / "nothing", out)
    assert "No results yet" in (out / "sweep_l2_table.md").read_text()
    assert (out / "sweep_l2_view.json").read_text() == "{}"


def test_the_command_line_refuses_the_sweeps_before_the_regularizer_study(tmp_path):
    from tests.conftest import run_cli

    done = run_cli("study", "sweeps", "--results", str(tmp_path / "empty"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "run `python -m snippets study regularizers` first" in done.stderr
    assert not (tmp_path / "empty").exists()  # nothing trained, nothing written


def test_a_sweep_adjusts_its_comparisons_with_holm(with_sweeps, tmp_path):
    """Every difference a sweep page reports is one of a family, Holm-adjusted over it."""
    from snippets.studies.statistics import holm
    from snippets.studies.sweep_report import comparisons, sweep_runs

    best = best_config(load_study(with_sweeps, "regularizers"))
    studies = {"regularizers": load_study(with_sweeps, "regularizers"),
               "sweeps": load_study(with_sweeps, "sweeps", list(sweep_study(best)))}
    for found in sweep_runs(best.name, studies):
        family = comparisons(found)
        values = len(found.sweep.values)
        # The table's last column (one per value; one-series sweeps compare with the first value).
        assert len(family) >= (values if len(found.sweep.series) == 2 else values - 1)
        p = [d["p"] for d in family.values()]
        assert [d["p_holm"] for d in family.values()] == holm(p)
        assert all(d["p_holm"] >= d["p"] and d["family"] == len(family) for d in family.values())
    write_report(with_sweeps, tmp_path / "generated")
    findings = (tmp_path / "generated" / "sweep_train_size_findings.md").read_text()
    assert "Holm-adjusted p below 0.05 over the" in findings


def test_the_training_set_size_sweep_states_its_settings_from_its_configurations(tmp_path):
    """Equal examples seen, not equal updates: 300 images for 400 epochs are 4,000 updates, 55,000 for 2
    are 3,438 (the last batch of each epoch is smaller), the regime's 2,000 for 60 are 3,780."""
    write_report(tmp_path / "nothing", tmp_path / "generated")  # no results needed
    rows = (tmp_path / "generated" / "sweep_train_size_settings.md").read_text().splitlines()[2:]
    assert rows[0] == "| 300 | 400 | 120,000 | 4,000 |"
    assert rows[2] == "| 2,000 | 60 | 120,000 | 3,780 |"
    assert rows[-1] == "| 55,000 | 2 | 110,000 | 3,438 |"

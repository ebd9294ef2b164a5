"""The study pages' sentences: made from the results, and the report stops when one no longer holds.

The results here are written by hand, shaped like the full studies' (the directions the pages
state hold in them), with the study's own configurations: so the report treats them as the
study's runs and checks every claim strictly. No training happens in these tests.
"""

import dataclasses
import json

import numpy as np
import pytest

from snippets.studies.claims import ClaimError
from snippets.studies.configs import SEEDS, STUDIES
from snippets.studies.report import write_report
from snippets.studies.results import read_results, results_path, write_json_atomically
from tests.conftest import run_cli

# Per configuration: final (train, validation, test) accuracy, and the shape of its curves.
NOTEBOOK = {"plain": (0.982, 0.975, 0.973, 0.60), "batchnorm": (0.996, 0.9744, 0.9726, 0.36),
            "batchnorm_hidden": (0.999, 0.978, 0.978, 0.33)}
# Per technique; its k-th strength adds 0.002 * k to the validation accuracy (the last is kept).
REGULARIZERS = {"none": (0.994, 0.808, 0.807), "l1": (0.754, 0.821, 0.817), "l2": (0.842, 0.812, 0.809),
                "dropout": (0.897, 0.875, 0.869), "early_stopping": (0.838, 0.869, 0.868),
                "batch_norm": (0.996, 0.770, 0.769), "augmentation": (0.767, 0.919, 0.918),
                "label_smoothing": (0.95, 0.83, 0.828), "max_norm": (0.88, 0.88, 0.876),
                "gaussian_noise": (0.97, 0.84, 0.835), "mixup": (0.9, 0.85, 0.846),
                "weight_averaging": (0.99, 0.82, 0.818), "combined": (0.762, 0.926, 0.928)}


def regularizer_final(config) -> tuple:
    from snippets.studies.selection import technique_of

    technique = technique_of(config.name)
    k = [c.name for c in technique.configs()].index(config.name)
    train, val, test = REGULARIZERS[technique.name]
    return train, val + 0.002 * k, test


def fake_run(config, seed: int, final: tuple, history: dict) -> dict:
    train, val, test = final
    jitter = 0.0004 * np.random.default_rng(seed).standard_normal(3)
    accuracies = {"train": train + jitter[0], "val": val + jitter[1], "test": test + jitter[2]}
    return {
        "format": 1, "key": f"fake-{config.name}-{seed}", "config": dataclasses.asdict(config), "seed": seed,
        "history": {k: [float(x) for x in v] for k, v in history.items()},
        "final": {**{f"{s}_accuracy": float(a) for s, a in accuracies.items()},
                  **{f"{s}_loss": 0.1 for s in accuracies}},
        "epochs_run": len(history["loss"]), "parameters": 266_610, "wall_seconds": 1.0,
        "versions": {"tensorflow": "2.21.0"}, "code": "0" * 16, "cpu": "Test CPU", "commit": "test",
        "finished": "2026-01-01T00:00:00+0000",
    }


def notebook_history(name: str, epochs: int) -> dict:
    train, val, _, first_loss = NOTEBOOK[name]
    e = np.arange(1, epochs + 1)
    return {"loss": first_loss * 0.8 ** e, "accuracy": train - 0.05 / e,
            "val_loss": 0.3 * 0.9 ** e, "val_accuracy": val - 0.02 / e, "seconds": np.ones(epochs)}


def regularizer_history(config, epochs: int) -> dict:
    name = config.name
    train, val, _ = regularizer_final(config)
    e = np.arange(1, epochs + 1)
    rate = 0.3 if name == "batch_norm" else 0.08
    accuracy = train * (1 - np.exp(-rate * e))
    # The baseline peaks early and then declines: it goes on to fit the wrong labels.
    val_accuracy = val + (0.07 * np.exp(-((e - 11) / 8) ** 2) if name == "none" else 0.01 * np.exp(-e / 5))
    return {"loss": 1 - accuracy, "accuracy": accuracy, "val_loss": 1.2 - val_accuracy,
            "val_accuracy": val_accuracy, "seconds": np.ones(epochs)}


@pytest.fixture
def study_results(tmp_path):
    """Both studies in full (every configuration, every seed), as the study's own runs."""
    folder = tmp_path / "results"
    for config in STUDIES["notebook"]:
        for seed in range(SEEDS["notebook"]):
            history = notebook_history(config.name, config.epochs)
            write_json_atomically(results_path(folder, config, seed),
                                  fake_run(config, seed, NOTEBOOK[config.name][:3], history))
    for config in STUDIES["regularizers"]:
        epochs = 27 if config.early_stopping_patience else config.epochs
        for seed in range(SEEDS["regularizers"]):
            history = regularizer_history(config, epochs)
            write_json_atomically(results_path(folder, config, seed),
                                  fake_run(config, seed, regularizer_final(config), history))
    return folder


def edit_runs(folder, study: str, name: str, change) -> None:
    for seed in range(SEEDS[study]):
        config = next(c for c in STUDIES[study] if c.name == name)
        path = results_path(folder, config, seed)
        run = read_results(path)
        change(run)
        write_json_atomically(path, run)


def test_the_study_pages_sentences_are_written_from_the_results_and_checked(study_results, tmp_path):
    out = tmp_path / "generated"
    summary = write_report(study_results, out)
    assert "11 claim(s) stated, 11 checked" in summary
    findings = (out / "notebook_findings.md").read_text()
    assert "fit the training set faster than `plain`" in findings and "Does not hold" not in findings
    # The numbers in the sentences are the results files' and are recorded for the site check.
    plain = [read_results(path)["final"]["train_accuracy"] for path in (study_results / "notebook" / "plain").iterdir()]
    assert f"`plain` ends {100 * np.mean(plain):.2f}% accurate on its training images" in (
        out / "regularizers_regime.md").read_text()
    numbers = json.loads((out / "numbers.json").read_text())["numbers"]
    assert {"notebook_findings.md", "regularizers_regime.md", "regularizers_none.md"} <= {r["file"] for r in numbers}
    # Settings in prose come from the configuration, not from typed text.
    regime = (out / "regularizers_regime.md").read_text()
    small = STUDIES["regularizers"][0]
    assert f"the first {small.train_size:,} of the notebook's 55,000" in regime
    assert f"up to {small.epochs} epochs at a learning rate of {small.learning_rate}" in regime
    tuning = (out / "regularizers_tuning.md").read_text()
    assert "`l1`, `l2`, `dropout`, `label_smoothing`, `max_norm`, `gaussian_noise`, `mixup`, `weight_averaging`" in tuning
    assert "(`early_stopping`, `combined`)" in tuning
    # The fakes keep every technique's largest strength: the page says the best may lie beyond.
    settings = (out / "regularizers_settings.md").read_text()
    assert "Kept at an end of the strengths tried" in settings and "`l2` (largest tried)" in settings
    assert "**0.03: " in settings  # the kept strength in bold, with its mean validation accuracy
    assert "| Batch size, epochs | 32, 15 |" in (out / "notebook_settings.md").read_text()


def test_a_direction_that_no_longer_holds_stops_the_report_and_names_the_sentence(study_results, tmp_path):
    def best_at_the_end(run):
        curve = run["history"]["val_accuracy"]
        run["history"]["val_accuracy"] = sorted(curve)

    edit_runs(study_results, "regularizers", "none", best_at_the_end)
    with pytest.raises(ClaimError) as error:
        write_report(study_results, tmp_path / "generated")
    message = str(error.value)
    assert "1 sentence(s)" in message and "regularizers_none.md" in message
    assert "Its mean validation accuracy falls from the peak" in message
    assert "the last validation accuracy is the best" in message
    assert not (tmp_path / "generated").exists()  # nothing written: no site is built on it


def test_batch_norm_that_no_longer_fits_faster_is_named(study_results, tmp_path):
    def slow(run):
        run["history"]["loss"] = [2 * x for x in run["history"]["loss"]]

    edit_runs(study_results, "notebook", "batchnorm", slow)
    with pytest.raises(ClaimError, match="Both batch-norm models fit the training set faster") as error:
        write_report(study_results, tmp_path / "generated")
    assert "batchnorm epoch 1" in str(error.value)
    done = run_cli("report", "--results", str(study_results), "--out", str(tmp_path / "cli"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error:" in done.stderr and "Both batch-norm models fit the training set faster" in done.stderr


def test_the_combined_sentence_says_what_its_paired_interval_says(study_results, tmp_path):
    """Whether techniques add up is read off the per-seed interval of (together − sum of parts),
    so the sentence's words follow the numbers instead of failing on them."""
    write_report(study_results, tmp_path / "before")
    before = (tmp_path / "before" / "regularizers_combined.md").read_text()
    assert "together minus the sum, paired by seed" in before and "95% CI [" in before
    assert sum(verdict in before for verdict in ("less than the", "more than the", "not distinguishable from the")) == 1

    def better(run):
        run["final"]["test_accuracy"] = 0.9999

    edit_runs(study_results, "regularizers", "combined", better)
    edit_runs(study_results, "regularizers", "augmentation", lambda run: run["final"].update(test_accuracy=0.81))
    write_report(study_results, tmp_path / "after")
    assert "more than the" in (tmp_path / "after" / "regularizers_combined.md").read_text()


def test_runs_with_other_settings_show_a_failing_claim_under_a_warning(smoke_results, tmp_path):
    out = tmp_path / "generated"
    write_report(smoke_results, out)  # smoke runs (1 epoch): not the study's, so not strict
    with pytest.raises(ClaimError):
        write_report(smoke_results, tmp_path / "strict", strict=True)
    texts = "".join(p.read_text() for p in out.glob("*.md"))
    assert "Does not hold for these runs" in texts


def test_check_site_reports_a_sentence_the_results_no_longer_support(study_results, tmp_path):
    from snippets.studies.site_check import check_site

    edit_runs(study_results, "regularizers", "none",
              lambda run: run["history"].update(val_accuracy=sorted(run["history"]["val_accuracy"])))
    checked, problems = check_site(study_results, tmp_path / "site", tmp_path / "generated")
    assert checked == 0 and len(problems) == 1 and "Its mean validation accuracy falls" in problems[0]


def test_check_site_finds_each_number_at_its_place_not_anywhere_on_the_page(study_results, tmp_path):
    """A table cell changed on the built page fails the check even where its number also stands
    in a sentence of the same page: each number is checked in its own cell or sentence."""
    import json
    import re

    from snippets.studies.site_check import check_site
    from tests.test_report import report_and_fake_site

    generated, site = report_and_fake_site(study_results, tmp_path)
    checked, problems = check_site(study_results, site, generated)
    assert checked > 300 and problems == []

    page = site / "studies" / "regularizer-study" / "index.html"
    markup = page.read_text()
    records = json.loads((generated / "numbers.json").read_text())["numbers"]
    # A number of the results table that also stands elsewhere on the page (a technique's summary).
    record = next(r for r in records if r["file"] == "regularizers_table.md" and r["where"].endswith(" test")
                  and markup.count(r["text"]) > 1)
    cell = re.search(r"<td[^>]*>" + re.escape(record["text"]) + r" ± [^<]*</td>", markup)
    assert cell, record
    tampered = cell.group(0).replace(record["text"], "99.99", 1)
    page.write_text(markup.replace(cell.group(0), tampered, 1))
    assert record["text"] in page.read_text()  # the digits still stand on the page...
    _, problems = check_site(study_results, site, generated)
    assert any(record["where"] in p and "its place is not on the page" in p for p in problems), problems


def test_the_table_and_the_regime_show_the_wrong_labels_reproduced_when_measured(study_results, tmp_path):
    write_report(study_results, tmp_path / "before")  # runs without the measure: a dash, and the bound
    assert "| – |" in (tmp_path / "before" / "regularizers_table.md").read_text()
    assert "it reproduces at least" in (tmp_path / "before" / "regularizers_regime.md").read_text()

    for name, share in (("none", 0.97), ("dropout-0.8", 0.25)):
        edit_runs(study_results, "regularizers", name, lambda run, share=share: run["final"].update(
            wrong_labels_reproduced=share + 0.001 * run["seed"]))
    write_report(study_results, tmp_path / "after")
    table = (tmp_path / "after" / "regularizers_table.md").read_text()
    header = table.splitlines()[0].split(" | ")
    column = header.index("Wrong labels reproduced (%)")
    none_row = next(line for line in table.splitlines() if line.startswith("| `none` |")).split(" | ")
    assert none_row[column] == "97.20 ± 0.16"
    regime_text = (tmp_path / "after" / "regularizers_regime.md").read_text()
    assert "it reproduces 97.2% of the wrong ones (measured on the training images given a wrong label" in regime_text


def test_check_site_counts_each_place_a_changed_cell_is_missed_even_beside_its_twin(study_results, tmp_path):
    """Two cells of the same text: changing one of them on the page is still found."""
    import re

    from snippets.studies.results import read_results
    from snippets.studies.site_check import check_site
    from tests.test_report import report_and_fake_site

    none = {run["seed"]: run["final"]["test_accuracy"]
            for run in map(read_results, (study_results / "regularizers" / "none").glob("seed-*.json"))}
    edit_runs(study_results, "regularizers", "l2-0.03",  # the fakes' kept L2: its row now shows none's test cell
              lambda run: run["final"].update(test_accuracy=none[run["seed"]]))
    generated, site = report_and_fake_site(study_results, tmp_path)
    assert check_site(study_results, site, generated)[1] == []
    page = site / "studies" / "regularizer-study" / "index.html"
    markup = page.read_text()
    row = next(line for line in (generated / "regularizers_table.md").read_text().splitlines() if line.startswith("| `none`"))
    cell = row.split(" | ")[4]  # the test accuracy, mean ± sd
    assert markup.count(f">{cell}</td>") >= 2
    page.write_text(re.sub(re.escape(f">{cell}</td>"), ">99.99 ± 0.01</td>", markup, count=1))
    _, problems = check_site(study_results, site, generated)
    assert any("its place is not on the page (1 of 2 times)" in p for p in problems), problems

"""The robustness page: the registry of demonstration claims, and the table made from its results file."""

from __future__ import annotations

import ast
import json

from snippets.demonstration_claims import claims
from snippets.studies.report import write_report
from snippets.studies.results import write_json_atomically
from snippets.studies.robustness import ROBUSTNESS_RELATIVE
from tests.conftest import ROOT


def test_every_claim_names_its_page_and_a_test_that_exists():
    registered = claims()
    assert registered and len({c.name for c in registered}) == len(registered)
    for claim in registered:
        assert (ROOT / "docs" / claim.page).is_file(), claim.page
        path, name = claim.test.split("::")
        tests = {node.name for node in ast.walk(ast.parse((ROOT / path).read_text())) if isinstance(node, ast.FunctionDef)}
        assert name in tests, claim.test
        assert claim.unit and claim.statement and callable(claim.margin)


def fake_results(folder, margins: dict[str, list[float]]) -> None:
    by_name = {c.name: c for c in claims()}
    write_json_atomically(folder / ROBUSTNESS_RELATIVE, {
        "format": 1, "seeds": [100, 101, 102], "cpu": "Test CPU, AVX2", "versions": {"keras": "3.15.1"},
        "commit": "test", "finished": "2026-01-01T00:00:00+0000", "command": "python benchmarks/robustness.py",
        "claims": [{"name": name, "page": by_name[name].page, "test": by_name[name].test,
                    "statement": by_name[name].statement, "unit": by_name[name].unit, "margins": values, "seconds": 1.0}
                   for name, values in margins.items()],
    })


def test_the_table_counts_the_seeds_a_claim_held_on_and_names_those_that_failed(tmp_path):
    fake_results(tmp_path / "results", {"max_norm.plain_fits_every_image": [0.5, 0.5, 0.5],
                                        "max_norm.dropout_does_not_fit_every_image": [1.2, -0.3, 0.8]})
    write_report(tmp_path / "results", tmp_path / "generated")
    table = (tmp_path / "generated" / "robustness_table.md").read_text()
    fits = next(line for line in table.splitlines() if line.startswith("| The plain MLP fits every training image"))
    assert "| 3 of 3 |" in fits and "| 0.500 images |" in fits and "| 0.000 images |" in fits
    dropout = next(line for line in table.splitlines() if line.startswith("| With dropout, training accuracy"))
    assert "| 2 of 3 |" in dropout and "| -0.300 points |" in dropout
    assert "**Did not hold on every seed** (1): With dropout, training accuracy stays below 99%." in table
    assert "Seeds**: 100 to 102 (3)" in table and "Test CPU, AVX2" in table
    records = json.loads((tmp_path / "generated" / "numbers.json").read_text())["numbers"]
    assert {r["text"] for r in records if r["file"] == "robustness_table.md"} >= {"0.500", "-0.300"}


def test_without_results_the_page_says_how_to_make_them(tmp_path):
    write_report(tmp_path / "nothing", tmp_path / "generated")
    assert "make robustness" in (tmp_path / "generated" / "robustness_table.md").read_text()

"""The performance page's tables, and the benchmark script that feeds them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from snippets.studies.performance import BenchmarkFileError, load_benchmark, render_performance

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "train_speed.py"


def way(epoch, first, cpu, peak, fraction, accuracies):
    return {"run_seconds_median": first + 14 * epoch, "epoch_seconds_median": epoch, "epoch_seconds_min": epoch * 0.9, "first_epoch_seconds_median": first,
            "epoch_cpu_seconds_median": cpu, "peak_rss_mib": peak, "bound_fraction": fraction,
            "final_val_accuracy": accuracies}


def fixture(train_size=55_000, epochs=3):
    gemm = {"large_matmul": {"shape": [2048, 2048, 2048], "gflops": 400.0},
            "batch32_step": {"gflops": 250.0}, "epoch_gemm_seconds": 0.25}
    return {
        "format": "train-speed/2",
        "date": "2026-01-02T03:04:05+00:00",
        "git_commit": "abc123def456",
        "command": "python benchmarks/train_speed.py",
        "machine": {"cpu": "Test CPU 9000", "usable_cores": 2, "memory_gib": 16.0},
        "load_average": {"start": [0.5, 0.4, 0.3], "end": [1.5, 1.0, 0.5]},
        "versions": {"python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1"},
        "onednn": "default",
        "project_training_constants": {"STEPS_PER_CALL": 4, "INTRA_OP_THREADS": 2, "INTER_OP_THREADS": 1,
                                       "EVALUATION_BATCH_SIZE": 1024},
        "config": {"epochs": epochs, "repeats": 2, "train_size": train_size, "validation_size": 5_000,
                   "batch_size": 32, "learning_rate": 0.01},
        "memory_measure": "peak resident set size",
        "bound": {"flop_formula": "2·in·out per layer", "flops": {"per_training_example": 1_126_800,
                                                                  "per_validation_example": 532_400,
                                                                  "total": 64_636_000_000},
                  "gemm": {"default threads": gemm, "one thread": dict(gemm, epoch_gemm_seconds=0.4)},
                  "epoch_seconds": 0.25, "peak_seconds": 0.16},
        "breakdown": {"plain": {"training_epoch_seconds": 0.4, "training_epoch_no_xla_seconds": 0.8,
                                "validation_seconds": 0.02, "validation_keras_evaluate_seconds": 0.06,
                                "steps_per_epoch": 1719}},
        "summary": {
            "plain": {
                "notebook": way(2.0, 2.5, 2.2, 1200.0, 0.125, [0.95, 0.951]),
                "project": way(1.0, 1.6, 0.9, 800.0, 0.25, [0.947, 0.947]),
                "run_speedup": 1.9245, "speedup": 2.0, "fastest_epoch_speedup": 2.0, "first_epoch_speedup": 1.5625, "cpu_speedup": 2.2222,
                "project_deterministic": True,
                "variants": {"no-xla": {"label": "steps as a plain TensorFlow graph, no XLA",
                                        "epoch_seconds_median": 1.8, "relative_to_project": 1.8,
                                        "first_epoch_seconds_median": 1.2, "epoch_cpu_seconds_median": 1.7,
                                        "same_history_as_project": False, "final_val_accuracy": [0.9471]}},
            },
        },
    }


@pytest.fixture
def benchmark_file(tmp_path):
    path = tmp_path / "train_speed.json"
    path.write_text(json.dumps(fixture()))
    return path


def table_rows(markdown: str, header_start: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header begins with ``header_start``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_speed_table_has_one_row_per_way(benchmark_file):
    rows = table_rows(render_performance(benchmark_file), "| model | way |")
    assert rows == [
        ["plain MLP", "notebook code", "30.5", "2.000", "1.800", "2.50", "2.200", "1,200 MiB", "12%", "95.00%, 95.10%"],
        ["plain MLP", "project path", "15.6", "1.000", "0.900", "1.60", "0.900", "800 MiB", "25%", "94.70%, 94.70%"],
    ]


def test_ratio_bound_breakdown_and_variants(benchmark_file):
    markdown = render_performance(benchmark_file)
    assert table_rows(markdown, "| model | whole run |") == [["plain MLP", "**1.92×**", "2.00×", "2.00×", "1.56×",
                                                              "2.22×", "yes, identical"]]
    bound = dict(table_rows(markdown, "| quantity | value |"))
    assert bound["matrix-product work per training example"] == "1.127 MFLOP"
    assert bound["matrix-product work per epoch (training and validation)"] == "64.6 GFLOP"
    assert bound["sgemm, default threads: one 2048×2048×2048 product"] == "400 GFLOP/s"
    assert bound["**bound used: the faster of the two**"] == "**0.250 s**"
    assert table_rows(markdown, "| model | training epoch") == [["plain MLP", "0.400 s", "233 µs", "0.800 s", "0.020 s",
                                                                    "0.060 s"]]
    variants = table_rows(markdown, "| model | change to the project path")
    assert variants[0][:4] == ["plain MLP", "none (the project path)", "1.000", "1.00×"]
    assert variants[1] == ["plain MLP", "steps as a plain TensorFlow graph, no XLA", "1.800", "1.80×", "1.20", "1.700",
                           "no", "94.71%"]


def test_provenance_and_no_warning_for_the_real_workload(benchmark_file):
    markdown = render_performance(benchmark_file)
    assert "Test CPU 9000, 2 usable cores" in markdown
    assert "commit `abc123def456`" in markdown and "2026-01-02T03:04:05+00:00" in markdown
    assert "tensorflow 2.21.0" in markdown and "`INTRA_OP_THREADS = 2`" in markdown
    assert "load average 0.5 at the start and 1.5 at the end" in markdown
    assert "Not the notebook's workload" not in markdown


def test_a_smoke_run_is_labelled(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(fixture(train_size=640, epochs=1)))
    assert '!!! warning "Not the notebook\'s workload"' in render_performance(path)


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(BenchmarkFileError, match="cannot read"):
        load_benchmark(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BenchmarkFileError, match="not a train-speed/2 file"):
        load_benchmark(tmp_path / "other.json")
    truncated = json.dumps(fixture())[:-40]
    (tmp_path / "truncated.json").write_text(truncated)
    with pytest.raises(BenchmarkFileError, match="cannot read"):
        load_benchmark(tmp_path / "truncated.json")


def test_benchmark_help():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for option in ("--epochs", "--repeats", "--output", "--train-size", "--variants"):
        assert option in result.stdout


def test_tiny_benchmark_run_writes_a_valid_file(tmp_path):
    """Two epochs on 64 images, both ways twice, plus the keras-fit and no-xla variants."""
    output = tmp_path / "bench" / "train_speed.json"
    command = [sys.executable, str(SCRIPT), "--epochs", "2", "--repeats", "2", "--models", "plain",
               "--train-size", "64", "--validation-size", "32", "--variants", "keras-fit", "no-xla",
               "--no-breakdown", "--gemm-seconds", "0.002", "--quiet", "--output", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    data = load_benchmark(output)
    assert not list(output.parent.glob(".*.tmp"))  # the atomic write left no temporary file
    plain = data["summary"]["plain"]
    assert plain["notebook"]["runs"] == plain["project"]["runs"] == 2
    project, variants = plain["project"], plain["variants"]
    assert project["epoch_seconds_median"] > 0 and project["first_epoch_seconds_median"] > 0
    assert project["run_seconds_median"] > project["first_epoch_seconds_median"] and plain["run_speedup"] > 0
    assert project["peak_rss_mib"] > 0
    assert plain["project_deterministic"] is True  # same seed twice, identical history
    assert project["xla"] is True and project["training_loop"] == "snippets.training.train"
    assert project["op_threads"] == [2, 1] and variants["keras-fit"]["op_threads"] == [1, 1]
    assert variants["keras-fit"]["training_loop"] == "keras fit" and variants["keras-fit"]["xla"] is False
    assert variants["keras-fit"]["deterministic"] is True
    assert variants["no-xla"]["xla"] is False and variants["no-xla"]["training_loop"] == "snippets.training.train"
    assert data["bound"]["flops"]["per_training_example"] == 2 * (784 * 300 + 300 * 100 + 100 * 10) * 2 + 2 * (
        300 * 100 + 100 * 10)
    assert data["machine"]["usable_cores"] >= 1 and data["versions"]["tensorflow"]
    assert "Seconds per epoch" in render_performance(output)

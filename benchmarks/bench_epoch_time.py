"""Seconds per MNIST epoch through the service, FO against ZO-AdaMM for several q and differences.

Each timed epoch is what ``zoadamm-experiments`` runs: 469 steps of batch 128 through a service
process (embedded store) with the SDK's mirror+pipeline mode, then the 10k test evaluation.
The settings take turns within every block, so a noisy neighbour slows them all alike; each
cell is the median over ``--blocks`` epochs, with the ratio to FO and to ZO q=1 forward taken
from those medians.  The records in ``results/`` also time every epoch, but their runs were
made at different times beside different loads, so this is the comparison to quote.

    python benchmarks/bench_epoch_time.py --blocks 3 --json benchmarks/results/epoch_time.json

Pin it to one core (``taskset -c 0``) to time what one training process gets on that core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from harness import service

from zoadamm_worker.mnist import load_mnist
from zoadamm_worker.train import PAPER_SCALE, RunSpec, train

DEFAULT_SETTINGS = ["fo", "q1", "q4", "q8", "q16", "central-q1", "central-q4", "central-q8", "central-q16"]


def spec_for(setting: str, scale: float, train_limit: int | None) -> RunSpec:
    """``fo``, ``q<N>`` (forward) or ``central-q<N>`` as a one-epoch RunSpec, inputs normalised
    as in the results runs."""
    base = RunSpec(scale=scale, epochs=1, normalize=True, train_limit=train_limit)
    if setting == "fo":
        return replace(base, method="adamm")
    central = setting.startswith("central-q")
    q = setting.removeprefix("central-q" if central else "q")
    if setting == q or not q.isdigit() or int(q) < 1:
        raise SystemExit(f"unknown setting {setting!r}: use fo, q<N> or central-q<N>")
    return replace(base, directions=int(q), difference="central" if central else "forward")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, help="fo, q<N>, central-q<N>")
    parser.add_argument("--scale", type=float, default=PAPER_SCALE, help="model scale s (default: d = 1,400)")
    parser.add_argument("--blocks", type=int, default=3, help="epochs timed per setting")
    parser.add_argument("--train-limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: the data cache)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    specs = {name: spec_for(name, args.scale, args.train_limit) for name in args.settings}
    data = load_mnist("auto", args.data_dir)
    seconds: dict[str, list[float]] = {name: [] for name in specs}
    per_step: dict[str, int] = {}  # as the worker counted them
    with service(None) as url, tempfile.TemporaryDirectory() as folder:
        for block in range(1, args.blocks + 1):
            for name, spec in specs.items():
                record = Path(folder) / f"{name}-{block}.jsonl"
                (row,) = train(spec, url, record, data=data, progress=False, session_name=f"bench-{name}")
                seconds[name].append(row["seconds"])
                per_step[name] = row["evaluations"] // row["steps"]
                print(f"block {block}/{args.blocks} {name:>11}: {row['seconds']:6.2f} s "
                      f"(test accuracy {row['test_accuracy']:.4f})", flush=True)
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    rows = [{"setting": name, "d": spec.dim, "method": spec.method, "q": spec.directions,
             "difference": spec.difference, "evaluations_per_step": per_step[name],
             "seconds": seconds[name], "median_s": medians[name],
             "vs_fo": medians[name] / medians["fo"] if "fo" in medians else None,
             "vs_q1": medians[name] / medians["q1"] if "q1" in medians else None}
            for name, spec in specs.items()]
    print(f"\nseconds per epoch, d = {rows[0]['d']:,}, median of {args.blocks}")
    print(f"{'setting':>11} {'evals/step':>10} {'median s':>9} {'min s':>7} {'x FO':>6} {'x q=1':>6}")
    for row in rows:
        ratios = [f"{row[key]:6.2f}" if row[key] is not None else f"{'-':>6}" for key in ("vs_fo", "vs_q1")]
        print(f"{row['setting']:>11} {row['evaluations_per_step']:>10} {row['median_s']:9.2f} "
              f"{min(row['seconds']):7.2f} {ratios[0]} {ratios[1]}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

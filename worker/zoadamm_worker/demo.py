"""``zoadamm-demo``: the paper's comparison end to end, in one command.

It starts the service (the ``zoadamm-service`` console script, on the embedded store, or on
Redis when ``REDIS_URL`` is set) unless ``--service`` names one, trains the paper's CNN on real
MNIST with the FO worker (exact gradients) and the ZO worker (function values only) from the same
initialisation, then writes a run folder: per-epoch records, a table, PNG plots and summary.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from zoadamm_service.launch import local_service

from .mnist import load_mnist
from .model import parameter_count
from .report import comparison_rows, markdown_table, plot_comparison
from .threads import use_torch_threads
from .train import PAPER_SCALE, RunSpec, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zoadamm-demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=PAPER_SCALE, help="model scale s (default 1/9: d = 1,400)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--directions", type=int, default=1, help="q for the ZO run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--service", default=None, help="use this service instead of starting one")
    parser.add_argument("--out", default="runs", help="parent folder of the run folder")
    parser.add_argument("--train-limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--shuffle", action="store_true", help="reshuffle the training set every epoch")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    use_torch_threads(1)

    d = parameter_count(args.scale)
    folder = Path(args.out) / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    folder.mkdir(parents=True, exist_ok=True)
    store = os.environ.get("REDIS_URL") or "the embedded in-process store"
    print(f"zoadamm demo: d = {d:,}, {args.epochs} epochs, q = {args.directions}, seed {args.seed}; "
          f"sessions kept in {args.service or store}")
    data = load_mnist("auto", args.data_dir)
    common = dict(scale=args.scale, epochs=args.epochs, seed=args.seed, train_limit=args.train_limit,
                  shuffle=args.shuffle)
    fo_spec = RunSpec(method="adamm", **common)
    zo_spec = RunSpec(method="zo-adamm", directions=args.directions, **common)

    with contextlib.ExitStack() as stack:
        url = args.service or stack.enter_context(local_service(os.environ.get("REDIS_URL")))
        fo = train(fo_spec, url, folder / "fo.jsonl", data=data)
        zo = train(zo_spec, url, folder / "zo.jsonl", data=data)

    rows = comparison_rows(fo, zo)
    table = markdown_table(rows)
    title = f"d = {d:,}, q = {args.directions}"
    plots = plot_comparison(fo, zo, folder, title)
    (folder / "table.md").write_text(f"# FO against ZO, {title}\n\n{table}\n")
    summary = {"d": d, "epochs": args.epochs, "directions": args.directions, "seed": args.seed,
               "rows": rows, "plots": [p.name for p in plots]}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{table}\n\nrun folder: {folder}  (fo.jsonl, zo.jsonl, table.md, summary.json, "
          f"{', '.join(p.name for p in plots)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

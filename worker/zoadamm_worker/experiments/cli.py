"""``zoadamm-experiments``: run the paper's experiment grids through the service, then analyse them.

    zoadamm-experiments run --preset smoke --out runs/smoke           # resumable: run it again
    zoadamm-experiments run --preset q-sweep --seeds 0 1 --epochs 10  # into runs/q-sweep
    zoadamm-experiments analyze results/paper                         # figures + report.md in runs/analysis-paper

Presets: paper, paper-variant, raw-inputs, q-sweep, methods, smoke (see ``grid.PRESETS``).  A killed grid continues
where it stopped when run again with the same arguments: complete runs are skipped, an
incomplete run's file is moved to ``aside/`` and that run starts again.  Both commands write
under runs/ unless --out says otherwise, so the committed results/ stay as they are.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from zoadamm.sdk import Interrupted
from zoadamm_service.console import CommandParser, add_debug, add_version, at_least, positive

from ..cli_errors import check_service, run_command
from ..cli_options import directions, http_url, model_scale, refuse_disagreements, train_limit
from .grid import PRESETS, build_grid, run_name

PROG = "zoadamm-experiments"


def _run(args: argparse.Namespace) -> int:
    from .runner import run_grid

    runs = build_grid(args.preset, epochs=args.epochs, seeds=args.seeds, scales=args.scales, qs=args.q,
                      train_limit=args.train_limit)
    out = args.out or f"runs/{args.preset}"
    print(f"grid {args.preset}: {len(runs)} runs into {out}", flush=True)
    if args.dry_run:
        print("\n".join(f"  {run_name(spec)}  ({spec.epochs} epochs)" for spec in runs))
        return 0
    if args.service:
        check_service(args.service)
    executed = run_grid(runs, out, preset=args.preset, service=args.service, data_dir=args.data_dir,
                        progress=not args.quiet, stop_after_runs=args.stop_after_runs,
                        log=lambda line: print(line, flush=True), training=args.training.append)
    print(f"trained {len(executed)} runs: {' '.join(executed) or '-'}", flush=True)
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze

    out = args.out or f"runs/analysis-{Path(args.results).resolve().name}"
    report = analyze(args.results, out, tsne_seed=args.tsne_seed)
    print(f"report: {report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog=PROG, description=__doc__)
    add_version(parser, "zoadamm-worker")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="train a grid of FO and ZO runs through the service",
                       description="Train a grid of FO and ZO runs through the service; run again to continue it.")
    r.add_argument("--preset", choices=sorted(PRESETS), default="paper", help="the grid")
    r.add_argument("--out", default=None, help="folder of the record files (default: runs/<preset>)")
    r.add_argument("--epochs", type=positive(int), default=None,
                   help="replace every run's epoch count (default: the preset's)")
    r.add_argument("--seeds", type=at_least(int, 0), nargs="+", default=None,
                   help="replace the preset's seeds (default: the preset's)")
    r.add_argument("--scales", type=model_scale, nargs="+", default=None,
                   help="replace the model scales s (default: the preset's)")
    r.add_argument("--q", type=directions, nargs="+", default=None,
                   help="replace the ZO runs' q (default: the preset's)")
    r.add_argument("--train-limit", type=train_limit, default=None,
                   help="train on the first N images only (default: the preset's, else all)")
    r.add_argument("--service", type=http_url, default=None,
                   help="use the service at this URL (default: start one on the embedded store)")
    r.add_argument("--data-dir", default=None,
                   help="folder of the MNIST files (default: $ZOADAMM_DATA_DIR, else ~/.cache/zoadamm/mnist)")
    r.add_argument("--stop-after-runs", type=positive(int), default=None,
                   help="stop after training this many runs, as an interruption would (default: all)")
    r.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    r.add_argument("--quiet", action="store_true", help="no per-run progress bars")
    add_debug(r)
    dry = [(lambda a: a.dry_run, ("service", "data_dir", "stop_after_runs", "quiet"),
            "not with --dry-run, which trains nothing")]
    r.set_defaults(func=_run, check=lambda args: refuse_disagreements(r, args, dry))

    a = sub.add_parser("analyze", help="figures and report.md from a results folder",
                       description="Figures and report.md from a folder of run records.")
    a.add_argument("results", help="folder of the record files")
    a.add_argument("--out", default=None,
                   help="where figures and report go (default: runs/analysis-<name of the results folder>)")
    a.add_argument("--tsne-seed", type=at_least(int, 0), default=None,
                   help="the seed whose runs the t-SNE figure shows (default: the first seed with FO and ZO runs)")
    add_debug(a)
    a.set_defaults(func=_analyze, check=lambda args: None)
    for command in sub.choices.values():  # `zoadamm-experiments run --version` too
        add_version(command, "zoadamm-worker")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.check(args)
    args.training = []  # the runs the grid has started to train: an interrupted grid names the last
    if args.func is _run:
        from ..threads import use_torch_threads  # torch loads only for training

        use_torch_threads(1)
    return run_command(PROG, lambda: args.func(args), debug=args.debug, service=getattr(args, "service", None),
                       interrupted=lambda stop: _interrupted(argv, stop, args.training))


def _interrupted(argv: list[str], stop: KeyboardInterrupt, training: list[str]) -> str:
    """A grid's runs train on a service of their own, which stops with the command: the run that
    was stopped starts again, not from its step (as ``continue_line`` would have it)."""
    if argv[:1] != ["run"]:
        return "interrupted"
    # only the training raises Interrupted, so the last run that started is the one it stopped
    where = f"interrupted at step {stop.step} of run {training[-1]}" if isinstance(stop, Interrupted) else "interrupted"
    return (f"{where}; continue with: {shlex.join([PROG, *argv])} (complete runs are skipped; the stopped run "
            "starts again from its first epoch)")


if __name__ == "__main__":
    sys.exit(main())

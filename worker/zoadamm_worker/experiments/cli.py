"""``zoadamm-experiments``: run the paper's experiment grids through the service, then analyse them.

    zoadamm-experiments run --preset paper --out results/paper          # resumable: run it again
    zoadamm-experiments run --preset q-sweep --out results/paper --seeds 0 1 --epochs 10
    zoadamm-experiments analyze results/paper                           # figures + report.md

Presets: paper, paper-variant, raw-inputs, q-sweep, smoke (see ``grid.PRESETS``).  A killed grid continues
where it stopped when run again with the same arguments: complete runs are skipped, an
incomplete run's file is moved to ``aside/`` and that run starts again.
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..cli_errors import add_debug_flag, check_service, run_command
from .grid import PRESETS, build_grid, run_name


def _run(args: argparse.Namespace) -> int:
    from .runner import run_grid

    # `kill PID` must still stop the runner's own service: SystemExit runs the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runs = build_grid(args.preset, epochs=args.epochs, seeds=args.seeds, scales=args.scales, qs=args.q,
                      train_limit=args.train_limit)
    print(f"grid {args.preset}: {len(runs)} runs into {args.out}", flush=True)
    if args.dry_run:
        print("\n".join(f"  {run_name(spec)}  ({spec.epochs} epochs)" for spec in runs))
        return 0
    if args.service:
        check_service(args.service)
    executed = run_grid(runs, args.out, preset=args.preset, service=args.service, data_dir=args.data_dir,
                        progress=not args.quiet, stop_after_runs=args.stop_after_runs,
                        log=lambda line: print(line, flush=True))
    print(f"trained {len(executed)} runs: {' '.join(executed) or '-'}", flush=True)
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze

    report = analyze(args.results, args.out, tsne_seed=args.tsne_seed)
    print(f"report: {report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoadamm-experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train a grid of FO and ZO runs through the service")
    r.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    r.add_argument("--out", default="results/paper", help="folder of the record files")
    r.add_argument("--epochs", type=int, default=None, help="replace every run's epoch count")
    r.add_argument("--seeds", type=int, nargs="+", default=None, help="replace the preset's seeds")
    r.add_argument("--scales", type=float, nargs="+", default=None, help="replace the model scales s")
    r.add_argument("--q", type=int, nargs="+", default=None, help="replace the ZO runs' q")
    r.add_argument("--train-limit", type=int, default=None, help="train on the first N images only")
    r.add_argument("--service", default=None, help="use this service instead of starting one")
    r.add_argument("--data-dir", default=None)
    r.add_argument("--stop-after-runs", type=int, default=None,
                   help="stop after training this many runs (as an interruption would)")
    r.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    r.add_argument("--quiet", action="store_true", help="no per-run progress bars")
    add_debug_flag(r)
    r.set_defaults(func=_run)

    a = sub.add_parser("analyze", help="figures and report.md from a results folder")
    a.add_argument("results", help="folder of the record files")
    a.add_argument("--out", default=None, help="where figures and report go (default: the results folder)")
    a.add_argument("--tsne-seed", type=int, default=0, help="the seed whose runs the t-SNE figure shows")
    add_debug_flag(a)
    a.set_defaults(func=_analyze)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func is _run:
        from ..threads import use_torch_threads  # torch loads only for training

        use_torch_threads(1)
    return run_command("zoadamm-experiments", lambda: args.func(args), debug=args.debug,
                       service=getattr(args, "service", None))


if __name__ == "__main__":
    sys.exit(main())

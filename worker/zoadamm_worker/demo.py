"""``zoadamm-demo``: the paper's comparison end to end, in one command.

It starts the service (the ``zoadamm-service`` console script, on the embedded store, or on
Redis when ``REDIS_URL`` is set) unless ``--service`` names one, trains the paper's CNN on real
MNIST with the FO worker (exact gradients) and the ZO worker (function values only) from the same
initialisation, then writes a run folder: per-epoch records, a table, PNG plots and summary.json.
The loss ratio and k in the table and plots come from the train loss.

    zoadamm-demo --report FOLDER    the table and plots again, from any folder of FO and ZO
                                    records (a demo's run folder, or compose's runs volume)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from zoadamm.sdk import Interrupted
from zoadamm_service.console import CommandParser, add_debug, add_version, positive, seed, stopped_status
from zoadamm_service.launch import local_service
from zoadamm_service.settings import shown_url

from .cli_errors import check_service, run_command
from .cli_options import directions, given_path, http_url, model_scale, refuse_disagreements, train_limit
from .model import parameter_count
from .records import claim_new
from .report import TRAIN_LOSS_NOTE, comparison_rows, comparison_title, markdown_table, plot_comparison, report_folder

PROG = "zoadamm-demo"
# --report trains nothing, and --hold keeps up a service the demo started (there is none with --service)
TRAINING = ("scale", "epochs", "directions", "seed", "service", "out", "train_limit", "shuffle", "data_dir", "hold")
RULES = [
    (lambda a: a.report is not None, TRAINING, "not with --report, which trains nothing"),
    (lambda a: a.service is not None, ("hold",), "only without --service: it keeps up the service the demo starts"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog=PROG, description=__doc__)
    parser.add_argument("--scale", type=model_scale, default=1 / 9,
                        help="model scale s (default: 1/9, d = 1,400; 12.333333 gives d = 169,196)")
    parser.add_argument("--epochs", type=positive(int), default=5, help="epochs of each run")
    parser.add_argument("--directions", type=directions, default=1, help="q for the ZO run")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the initial weights and directions")
    parser.add_argument("--service", type=http_url, default=None,
                        help="use the service at this URL (default: start one on the embedded store, or on "
                             "$REDIS_URL)")
    parser.add_argument("--out", type=given_path, default="runs", help="parent folder of the run folder")
    parser.add_argument("--train-limit", type=train_limit, default=None,
                        help="train on the first N images only (default: all 60,000)")
    parser.add_argument("--shuffle", action="store_true", help="reshuffle the training set every epoch")
    parser.add_argument("--data-dir", default=None,
                        help="folder of the MNIST files (default: $ZOADAMM_DATA_DIR, else ~/.cache/zoadamm/mnist)")
    parser.add_argument("--hold", action="store_true",
                        help="keep the service it started (and its dashboard) up after training, until Ctrl-C")
    parser.add_argument("--report", metavar="FOLDER", type=given_path, default=None,
                        help="train nothing: write table.md and the plots from the records in FOLDER (default: train)")
    add_version(parser, "zoadamm-worker")
    add_debug(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    refuse_disagreements(parser, args, RULES)
    command = (lambda: _report(args.report)) if args.report is not None else (lambda: _demo(args))
    return run_command(PROG, command, debug=args.debug, service=args.service,
                       interrupted=lambda stop: _interrupted(stop, args.service))


def _interrupted(stop: KeyboardInterrupt, service: str | None) -> str:
    """The demo does not continue a run: it is short, and it starts over."""
    where = f" at step {stop.step} of session {stop.session_id}" if isinstance(stop, Interrupted) else ""
    kept = (f"its sessions stay in {service or shown_url(os.environ['REDIS_URL'])}"
            if service or os.environ.get("REDIS_URL")
            else "the service it started is stopped, with its sessions")
    return (f"interrupted{where}; {kept}, the records of the epochs done are in its run folder; "
            "the same command starts over")


def _report(folder: str) -> int:
    text, plots, notes = report_folder(folder)
    print(f"{text}\nwritten: {Path(folder) / 'table.md'}, {', '.join(str(p) for p in plots)}")
    for note in notes:  # a run left out of the tables, or compared over fewer epochs: said apart
        print(f"{PROG}: {note}", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .mnist import load_mnist
    from .threads import use_torch_threads
    from .train import RunSpec, train

    use_torch_threads(1)
    if args.service:
        check_service(args.service)  # at once, before MNIST is loaded
    d = parameter_count(args.scale)
    # named by the second it starts in; a second demo started in the same one gets demo-<time>-2
    folder = claim_new(Path(args.out) / f"demo-{datetime.now():%Y%m%d-%H%M%S}", folder=True)
    store = shown_url(os.environ["REDIS_URL"]) if os.environ.get("REDIS_URL") else "the embedded in-process store"
    print(f"zoadamm demo: d = {d:,}, {args.epochs} epochs, q = {args.directions}, seed {args.seed}; "
          f"sessions kept in {args.service or store}")
    data = load_mnist("auto", args.data_dir)
    common = dict(scale=args.scale, epochs=args.epochs, seed=args.seed, train_limit=args.train_limit,
                  shuffle=args.shuffle)
    fo_spec = RunSpec(method="adamm", **common)
    zo_spec = RunSpec(method="zo-adamm", directions=args.directions, **common)

    with contextlib.ExitStack() as stack:
        url = args.service or stack.enter_context(local_service(os.environ.get("REDIS_URL")))
        print(f"watch both runs live: {url}/dashboard  (tick both in the cmp column to overlay them)", flush=True)
        fo = train(fo_spec, url, folder / "fo.jsonl", data=data)
        zo = train(zo_spec, url, folder / "zo.jsonl", data=data)
        _write_report(folder, fo, zo, d, args)
        if args.hold:
            try:  # entered before the line that invites the Ctrl-C, so an early one is caught too
                print(f"the service stays up for the dashboard at {url}/dashboard; Ctrl-C ends it", flush=True)
                while True:
                    time.sleep(1)
            except KeyboardInterrupt as stop:  # the way out it names; the run itself is done
                return 0 if stopped_status(stop) == 128 + signal.SIGINT else stopped_status(stop)
    return 0


def _write_report(folder: Path, fo: list[dict], zo: list[dict], d: int, args: argparse.Namespace) -> None:
    rows = comparison_rows(fo, zo)
    table = markdown_table(rows)
    title = comparison_title(zo)
    plots = plot_comparison(fo, zo, folder, title)
    (folder / "table.md").write_text(f"# FO against ZO, {title}\n\n{table}\n\n{TRAIN_LOSS_NOTE}\n")
    summary = {"d": d, "epochs": args.epochs, "directions": args.directions, "seed": args.seed,
               "ratio_and_k_from": "train_loss", "rows": rows, "plots": [p.name for p in plots]}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{table}\n{TRAIN_LOSS_NOTE}\n\nrun folder: {folder}  (fo.jsonl, zo.jsonl, table.md, summary.json, "
          f"{', '.join(p.name for p in plots)})", flush=True)


if __name__ == "__main__":
    sys.exit(main())

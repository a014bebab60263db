"""``zoadamm-worker rest``: a user's HTTP endpoint minimised through the service, alone
(``minimize``) or as one of the workers of a shared session (``--join``).

What a run ends with (steps that never moved x, an f that ended above where it began) is said
here of the endpoint and the command's own options, not as ``minimize`` says it of a Python f.
"""

from __future__ import annotations

import argparse
import json
import sys

from zoadamm import Client, minimize
from zoadamm.sdk import APIConnectionError, MinimizeResult

from .cli_errors import check_service, command_again, stopped_answering
from .rest_objective import EvaluationError, NoEndpoint, RestObjective

PROG = "zoadamm-worker"


def run_rest(args: argparse.Namespace) -> int:
    check_service(args.service, args.join, wait=args.service_wait, wait_if_absent=args.wait_at_start)
    objective = RestObjective(args.objective, timeout=args.timeout, retries=args.retries)
    try:
        if args.join is not None:
            from .join import join_rest

            print(json.dumps(join_rest(objective, args.join, args.service, args.x0, args.steps, args.lease,
                                       service_wait=args.service_wait)))
            return 0
        with Client(args.service, retry_window=args.service_wait) as client:
            result = minimize(
                objective, args.x0, steps=args.steps, client=client, progress=not args.quiet,
                name=args.name or args.objective, resume=args.resume, lr=args.lr, mu=args.mu,
                directions=args.directions, seed=args.seed, difference=args.difference,
                report_every=args.report_every, method=args.method, constraint=args.constraint, warn=False,
            )
    except EvaluationError as exc:
        fate = ("its directions go to another worker when the lease runs out" if args.join is not None
                else f"the failed step was not told to the service; continue with: {command_again(PROG, args.argv)}")
        if isinstance(exc, NoEndpoint):  # the same command would fail alike
            fate = "check --objective"
        print(f"{PROG}: {exc}; {fate}", file=sys.stderr)
        return 2
    except APIConnectionError as exc:
        if exc.session_id is None and args.join is None:
            raise  # no run yet: the usual message says what to check
        print(f"{PROG}: {stopped_answering(PROG, args.service, exc, args.argv, args.join)}", file=sys.stderr)
        return 1
    finally:
        objective.close()
    for line in end_of_run(args, result):
        print(f"{PROG}: {line}", file=sys.stderr)
    print(json.dumps({"session": result.session_id, "steps": result.steps, "f": result.fun,
                      "evaluations": result.evaluations, "x": result.x.tolist()}))
    return 0


def end_of_run(args: argparse.Namespace, result: MinimizeResult) -> list[str]:
    """The warnings of a run that took no step (its session was already there), that never moved
    (every probe answered f(x) itself) or that ended above where it began, naming the endpoint,
    the session and the option to change."""
    steps, first = len(result.history), result.history[:1]
    if not steps and result.steps >= args.steps:
        return [f"session {result.session_id} is already at step {result.steps}, not below --steps {args.steps}: "
                "no step taken (give a larger --steps to go on)"]
    if steps and result.flat_steps == steps:
        return [f"the endpoint {args.objective} answered the same value at x and at every probe x + mu u in all "
                f"{steps} steps (session {result.session_id}), so x did not move: a step of mu is below what it "
                f"resolves; raise --mu above {args.mu:g}"]
    if first and result.fun > first[0]:
        return [f"f at {args.objective} ended above where it began ({first[0]:.6g} at the first step, "
                f"{result.fun:.6g} now, over {steps} steps; session {result.session_id}): near a minimum that is "
                f"noise, and otherwise a smaller --lr than {args.lr:g} or more --directions than {args.directions} "
                "usually steadies a run"]
    return []

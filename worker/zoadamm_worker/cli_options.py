"""The worker commands' checks of their options, made before anything runs: values that are not
what an option takes, and options that disagree (one would be ignored, or contradicts another).
Each refusal is one line from the parser (``CommandParser.error``), never a run that quietly does
something other than what was asked."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from zoadamm_service.console import at_least, positive

from .mnist_data import SIZES as MNIST_SIZES

# (when, options, why): when ``when(args)`` holds, an option of ``options`` written on the command
# line, or given a value other than its default, is refused with "<options>: <why>".
Rule = tuple[Callable[[argparse.Namespace], bool], tuple[str, ...], str]

JOINED = "not with --join, which follows the joined session's own settings and step"
RULES: dict[str, list[Rule]] = {
    "mnist": [
        (lambda a: a.join is not None, ("method", "directions", "difference", "distribution", "normalizer", "lr",
                                        "mu", "session_seed", "save_weights", "plain", "name", "resume"), JOINED),
        (lambda a: a.method == "adamm", ("directions", "difference", "distribution", "mu", "session_seed"),
         "only for the zo-* methods (the FO worker, adamm, sends exact gradients)"),
        (lambda a: a.join is None, ("lease",), "only with --join"),
        (lambda a: a.record is not None, ("record_dir",), "not with --record; give one of them"),
        (lambda a: a.join is not None, ("save",), "writes the model of a run of its own; not with --join"),
    ],
    "rest": [
        (lambda a: a.join is not None, ("method", "directions", "difference", "lr", "mu", "seed", "report_every",
                                        "name", "resume", "lower", "upper", "box", "ball", "x0"), JOINED),
        (lambda a: a.join is None, ("lease",), "only with --join"),
        (lambda a: a.box is not None, ("lower", "upper"), "not with --box; give one of them"),
        (lambda a: a.ball is None, ("ball_norm", "ball_center"), "only with --ball"),
    ],
}



def refuse_disagreements(parser: argparse.ArgumentParser, args: argparse.Namespace,
                         rules: Sequence[Rule]) -> None:
    """Exit through ``parser.error`` at the first rule that options given on the command line break:
    an option with a value other than its default, or one written out in ``args.argv`` (where the
    command keeps its arguments) even with its default value (``--join ID --lr 0.001``: the
    joined session's lr holds, whatever the default)."""
    typed = getattr(args, "argv", None) or []
    for when, names, why in rules:
        given = [option(name) for name in names
                 if getattr(args, name) != parser.get_default(name) or written(option(name), typed)]
        if given and when(args):
            parser.error(f"{', '.join(given)}: {why}")


def written(flag: str, argv: Sequence[str]) -> bool:
    """Whether ``flag`` stands in ``argv`` (``--lr 0.1`` or ``--lr=0.1``), before any ``--``."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    return any(token == flag or token.startswith(flag + "=") for token in options)


def env_default(parser: argparse.ArgumentParser, args: argparse.Namespace, dest: str, variable: str,
                kind: Callable[[str], object], fallback: object = None) -> None:
    """An option left out takes its default from the environment variable ``variable`` (else
    ``fallback``); a bad value there is refused naming the variable."""
    text = os.environ.get(variable)
    if getattr(args, dest) is not None or not text:
        if getattr(args, dest) is None:
            setattr(args, dest, fallback)
        return
    try:
        setattr(args, dest, kind(text))
    except argparse.ArgumentTypeError as error:
        parser.error(f"{variable}={text!r} (the default of {option(dest)}): {error}")


def service_wait(parser: argparse.ArgumentParser, args: argparse.Namespace, fallback: float) -> None:
    """``--service-wait``, else ``$ZOADAMM_SERVICE_WAIT_S``, else ``fallback``.  ``args.wait_at_start``:
    whether the user gave one of the first two, which the start then waits for a URL where
    nothing answers (the service may be restarting); a worker left at the default says that at
    once (a URL mistyped, a service not started), and waits only for an answer of 502, 503 or 504."""
    given = args.service_wait is not None or bool(os.environ.get("ZOADAMM_SERVICE_WAIT_S"))
    env_default(parser, args, "service_wait", "ZOADAMM_SERVICE_WAIT_S", at_least(float, 0), fallback)
    args.wait_at_start = given


def option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def http_url(text: str) -> str:
    """An argparse ``type``: an http:// or https:// URL with a host."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text.rstrip("/") if parts.path in ("", "/") else text


def given_path(text: str) -> str:
    """An argparse ``type``: a file or folder's path, not empty (an empty one read as none given,
    or as the current folder)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got ''")
    return text


def session_id(text: str) -> str:
    """An argparse ``type``: the 32 lowercase hex digits of a session's id (``--join``)."""
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise argparse.ArgumentTypeError(f"expected a session id, 32 lowercase hex digits (as a create or the "
                                         f"dashboard shows it), got {text!r}")
    return text


def session_name(text: str) -> str:
    """An argparse ``type``: a session's name, not empty (an empty one was taken for none, and the
    run named by default); the service checks the characters in it."""
    if not text or text != text.strip() or len(text) > 200:
        raise argparse.ArgumentTypeError(f"expected a name of 1 to 200 characters without space at either end, "
                                         f"got {text!r}")
    return text


def model_scale(text: str) -> float:
    """An argparse ``type``: a model scale s > 0 whose d is at most the service's setting
    ``ZOADAMM_MAX_DIM``, read here too (default: the service's default, 8,388,608).  d is counted without
    building the model: the service would refuse a larger d, but only once the worker had built
    it, and at a scale such as 1e9 that allocation fails first (d = 4e16)."""
    from .model import parameter_count

    scale = float(positive(float)(text))
    d = parameter_count(scale)
    _within_service_limit(d, "max_dim", "d", f"s = {text} makes d = {d:,},")
    return scale


def dimension(text: str) -> int:
    """An argparse ``type``: a d > 0 of at most ``ZOADAMM_MAX_DIM``, as ``model_scale`` reads it:
    a larger one failed making x0 (745 GiB at d = 1e11) before the service could refuse it."""
    d = int(positive(int)(text))
    _within_service_limit(d, "max_dim", "d", f"d = {d:,} is")
    return d


def train_limit(text: str) -> int:
    """An argparse ``type``: 1 to MNIST's 60,000 training images (more trained all, named otherwise)."""
    if (n := int(positive(int)(text))) > MNIST_SIZES["train"]:
        raise argparse.ArgumentTypeError(f"MNIST has {MNIST_SIZES['train']:,} training images: give at most that, "
                                         f"or leave it out for all of them; got {text!r}")
    return n


def directions(text: str) -> int:
    """An argparse ``type``: a q > 0 of at most ``ZOADAMM_MAX_DIRECTIONS``, read as ``dimension``
    reads its limit: a grid's larger q was refused by the service only after its FO run had trained."""
    q = int(positive(int)(text))
    _within_service_limit(q, "max_directions", "q", f"q = {q:,} is")
    return q


def _within_service_limit(value: int, field: str, symbol: str, lead: str) -> None:
    """Refuse ``value`` (a ``symbol``, said as ``lead``) over the service's setting ``field``
    (``ZOADAMM_`` + its name), read from the environment as the service reads it, else its default."""
    from zoadamm_service.settings import Settings

    name = f"ZOADAMM_{field.upper()}"
    variable = os.environ.get(name)
    try:
        limit = int(variable) if variable else int(Settings.model_fields[field].default)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}={variable!r} is not an integer") from None
    if value > limit:
        raise argparse.ArgumentTypeError(f"{lead} over {name} = {limit:,}, the largest {symbol} the service takes "
                                         f"(where it takes more, set {name} here as it is set there)")


def parse_x0(parser: argparse.ArgumentParser, text: str | None, dim: int | None) -> np.ndarray:
    """``--x0`` (a JSON list of finite numbers) and ``--dim`` as the start vector; they must agree."""
    if text is None:
        if dim is None:
            parser.error("give --dim (the start is then d zeros) or --x0")
        return np.zeros(dim)
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        parser.error(f"argument --x0: not JSON ({error.msg}); expected a list of numbers such as '[0, 0.5]'")
    if not (isinstance(values, list) and values and all(_finite(v) for v in values)):
        parser.error(f"argument --x0: expected a non-empty JSON list of finite numbers, got {text!r}")
    if dim is not None and dim != len(values):
        parser.error(f"--x0 has {len(values)} values but --dim is {dim}: give one of them, or make them agree")
    return np.asarray(values, dtype=np.float64)


def number_or_list(text: str) -> float | list[float]:
    """An argparse ``type``: a finite number, or a JSON list of them (a value per coordinate).
    A single number is read as ``float()`` reads it, which JSON alone would refuse (-.5, 1_000)."""
    return _numbers(text, _finite, "a finite number")


def bound(text: str) -> float | list[float]:
    """An argparse ``type`` for a box's side: ``number_or_list`` where a value may also be
    infinite (inf, -inf; Infinity in a list), which ``parse_constraint`` reads as no bound on
    that side, as ``minimize`` reads scipy's; NaN is refused."""
    def finite_or_infinite(v: object) -> bool:
        return _finite(v) or (isinstance(v, float) and math.isinf(v))

    return _numbers(text, finite_or_infinite, "a number (inf or -inf for none)")


def _numbers(text: str, takes: Callable[[object], bool], what: str) -> float | list[float]:
    """``text`` as a number or a non-empty list of them, each one ``takes``; else the error
    argparse prints, saying ``what`` it expected."""
    value = _number_or_list(text)
    values = value if isinstance(value, list) else [value]
    if not (values and all(takes(v) for v in values)):
        raise argparse.ArgumentTypeError(f"expected {what} or a JSON list of them, got {text!r}")
    return value


def _number_or_list(text: str) -> Any:
    """The number or list ``text`` names; an infinity only where it is written as one (inf,
    Infinity), never a number too large for a float (1e999), which is None."""
    try:
        return json.loads(text, parse_float=_no_overflow)  # Infinity and NaN: the types above sort them out
    except ValueError:  # not JSON, or an overflow
        if text.strip().lstrip("+-").lower() in ("inf", "infinity"):
            return float(text)
        try:
            value = float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None


def _no_overflow(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is beyond float64")
    return value


def _finite(value: object) -> bool:
    """A JSON number that is finite as a float: JSON integers have no bound, and one beyond the
    float range would make ``math.isfinite`` raise OverflowError instead of being refused."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def parse_constraint(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """``--lower``/``--upper`` (or ``--box``) and ``--ball`` as the session's ``FeasibleSet``
    (None without them), checked against d and the start ``args.x0``."""
    from zoadamm import Ball, Box, FeasibleSet, InvalidArgument
    from zoadamm._validate import F32_MAX
    from zoadamm.sdk.bounds import bounds_nothing, unbounded

    lower, upper = args.box if args.box is not None else (args.lower, args.upper)
    given = [option(n) for n in ("box", "lower", "upper", "ball") if getattr(args, n) is not None]
    if not given:
        return None
    try:
        box = None if lower is None and upper is None else Box(  # -inf and inf: no bound, as in minimize
            -F32_MAX if lower is None else unbounded(lower, -1), F32_MAX if upper is None else unbounded(upper, 1))
        ball = None if args.ball is None else Ball(args.ball_norm, args.ball_center, args.ball)
        if box is not None and bounds_nothing(box):
            box = None  # bounds of no coordinate: R^d, as without them
        if box is None and ball is None:
            return None
        constraint = FeasibleSet(box, ball)
        constraint.check_dim(args.x0.size)
    except InvalidArgument as error:
        parser.error(f"{', '.join(given)}: {error}")
    outside = constraint.violation(np.asarray(args.x0, np.float32), "the start")
    if outside:
        parser.error(f"{', '.join(given)}: {outside}; give --x0 inside the set")
    return constraint


def default_session_name(spec) -> str:
    """The MNIST run's label, with the data options that differ from the defaults: ``--resume``
    finds a run by name and settings, and these shape the objective without being settings."""
    from .train import RunSpec

    default = RunSpec()
    parts = [f"batch {spec.batch_size}" if spec.batch_size != default.batch_size else "",
             f"{spec.train_limit} images" if spec.train_limit is not None else "",
             "shuffled" if spec.shuffle else "", "normalized" if spec.normalize else "",
             f"weights seed {spec.seed}" if spec.session_seed not in (None, spec.seed) else ""]
    extra = ", ".join(p for p in parts if p)
    return f"{spec.label} ({extra})" if extra else spec.label

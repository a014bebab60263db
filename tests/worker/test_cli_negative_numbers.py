"""Negative numbers in every form ``float()`` reads (-1e-3, -.5, -5., -inf) are values of the
option before them, not options of their own: argparse's own rule knows only -1 and -1.5."""

from __future__ import annotations

import numpy as np
import pytest
from cli_support import one_line, run

from zoadamm_service.console import NEGATIVE_NUMBER
from zoadamm_worker.cli import build_parser

REST = ["rest", "--objective", "http://127.0.0.1:9/f", "--service", "http://127.0.0.1:9"]


def _checked(*options: str):
    args = build_parser().parse_args([*REST, *options])
    args.check(args)
    return args


@pytest.mark.parametrize("text", ["-1", "-1.5", "-1e-3", "-1E+3", "-.5", "-5.", "-1_000.5e2", "-inf", "-Infinity",
                                  "-NaN"])
def test_what_float_reads_is_a_negative_number(text):
    float(text)  # the rule is float()'s: each of these is a number to it
    assert NEGATIVE_NUMBER.match(text)


@pytest.mark.parametrize("text", ["-x", "-e5", "-1e", "-1.e", "-.", "-", "--lower", "-i", "-infx", "-1__0", "-_1"])
def test_what_float_refuses_is_not(text):
    with pytest.raises(ValueError):
        float(text)
    assert not NEGATIVE_NUMBER.match(text)


def test_a_box_and_a_ball_center_take_negative_numbers_in_any_form():
    args = _checked("--x0", "[-0.1, -0.1]", "--box", "-.5", "-1e-3", "--ball", "2", "--ball-center", "-1e-3")
    assert args.box == [-0.5, -0.001] and args.ball_center == -0.001
    box, ball = args.constraint.box, args.constraint.ball
    assert box.lower == -0.5 and box.upper == pytest.approx(-0.001, rel=1e-6)
    assert ball.center == pytest.approx(-0.001, rel=1e-6)


def test_lower_takes_an_exponent_and_the_next_option_still_counts():
    args = _checked("--dim", "2", "--lower", "-1e-3", "--upper", "[1, 2]", "--quiet")
    assert args.lower == -0.001 and args.upper == [1, 2] and args.quiet
    assert args.constraint.box.lower == pytest.approx(-0.001, rel=1e-6)


def test_minus_inf_is_a_value_and_leaves_the_lower_side_open():
    args = _checked("--dim", "2", "--lower", "-inf", "--upper", "1")
    assert args.lower == float("-inf")
    assert np.all(args.constraint.box.lower == -np.finfo(np.float32).max)  # float32's end: no bound


@pytest.mark.parametrize(("options", "says"), [
    (["--upper", "-inf"], "--upper: constraint.box.upper contains NaN or infinite values"),  # -inf: no lower only
    (["--box", "-1e39", "1"], "--box: constraint.box.lower is beyond float32's range"),
    (["--upper", "[1" + "0" * 400 + "]"],
     "argument --upper: expected a number (inf or -inf for none) or a JSON list of them"),
])
def test_the_command_refuses_such_values_in_one_line(options, says):
    """As a process: the line a user sees (``one_line`` also checks status 1 and no traceback)."""
    assert says in one_line(run("zoadamm-worker", *REST, "--dim", "2", *options))


@pytest.mark.parametrize("options", [("--lower", "-inf"), ("--upper", "inf"), ("--box", "-inf", "Infinity"),
                                     ("--lower", "[-Infinity, -Infinity]")])
def test_bounds_of_no_coordinate_are_no_set(options):
    """-inf to inf everywhere is R^d: the run is one without a set, which a run without bounds continues."""
    assert _checked("--dim", "2", *options).constraint is None
    assert _checked("--dim", "2", *options, "--ball", "1").constraint.box is None  # the ball alone

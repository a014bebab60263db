"""StepDirections: the directions of the current and the next step, each row made once."""

from __future__ import annotations

import numpy as np
import pytest

import zoadamm
from zoadamm import step_directions
from zoadamm.step_directions import StepDirections

SEED, Q, DIM = 11, 6, 300


def expected(step: int) -> np.ndarray:
    return zoadamm.directions(SEED, step, Q, DIM, "gaussian")


@pytest.fixture
def made(monkeypatch) -> list[list[int]]:
    """The rows each call to the generator made, in order."""
    calls: list[list[int]] = []
    real = step_directions.direction_rows

    def counting(seed, step, indices, *args, **kwargs):
        calls.append([step, *indices])
        return real(seed, step, indices, *args, **kwargs)

    monkeypatch.setattr(step_directions, "direction_rows", counting)
    return calls


def test_rows_are_made_once_and_straight_into_place(made):
    cache = StepDirections(SEED, Q, DIM, "gaussian")
    first = cache.rows(4, [3, 1, 2])
    np.testing.assert_array_equal(first[1:4], expected(4)[1:4])
    assert made == [[4, 1, 2, 3]]  # one run of consecutive rows
    every = cache.all(4)
    assert made == [[4, 1, 2, 3], [4, 0], [4, 4, 5]]  # only the rows still missing
    np.testing.assert_array_equal(every, expected(4))
    assert np.shares_memory(first, every) and not every.flags.writeable
    cache.rows(4, [5, 0])
    assert cache.held(4) is not None and len(made) == 3  # nothing made twice


def test_at_most_the_current_step_and_the_next_are_held(made):
    cache = StepDirections(SEED, Q, DIM, "gaussian")
    current = cache.rows(4, [0])
    cache.ahead(5)  # while step 4 is still to be applied
    assert cache.held(4) is not None  # which makes its other rows
    np.testing.assert_array_equal(cache.rows(5, [2]), expected(5))
    cache.ahead(6)
    assert cache.held(4) is None and cache.held(5) is not None
    np.testing.assert_array_equal(current, expected(4))  # a fresh array for each step
    assert [call[0] for call in made] == [4, 5, 4, 6]
    cache.rows(9, [0])  # a jump: nothing before it is kept
    assert cache.held(5) is None and cache.held(6) is None and cache.held(9) is not None


def test_reuse_makes_a_forgotten_steps_array_over():
    cache = StepDirections(SEED, Q, DIM, "gaussian", reuse=True)
    first = cache.all(4)
    cache.ahead(5)
    second = cache.all(5)
    third = cache.all(6)  # step 4 is forgotten: its array holds step 6 now
    assert np.shares_memory(first, third) and not np.shares_memory(second, third)
    np.testing.assert_array_equal(third, expected(6))


def test_bad_indices_and_settings_are_refused():
    cache = StepDirections(SEED, Q, DIM)
    with pytest.raises(zoadamm.InvalidArgument, match="outside"):
        cache.rows(0, [Q])
    with pytest.raises(zoadamm.InvalidArgument, match="outside"):
        cache.rows(0, [-1])
    with pytest.raises(zoadamm.InvalidArgument, match="count"):
        StepDirections(SEED, 0, DIM)
    with pytest.raises(zoadamm.InvalidArgument, match="distribution"):
        StepDirections(SEED, Q, DIM, "uniform")

"""The compiled passes of the l2-ball projection compute, bit for bit, what a plain numpy
reference computes: the same formula per coordinate, and every sum in the kernel's fixed order
(lane i mod LANES within a block, each lane adding from 0.0 in index order the pairwise sums of
GROUP rows' terms, then the block's remaining rows one by one; the lanes folded in halves, the
blocks added in order).  Sizes around the lane width and the block, a box or none, weights or
none (weight 1), zero weights, a vector or scalar center, NaN and inf, float32 and float64
results."""

from __future__ import annotations

import os

import numpy as np
import pytest

from zoadamm import _ball_kernel as kernel
from zoadamm._ball_write import CHUNK
from zoadamm.projection import _Ball

BLOCK, LANES, GROUP, SPAN = kernel.BLOCK, kernel.LANES, kernel.GROUP, kernel.SPAN
assert GROUP == 4  # the reference below sums a group as the kernel does, for four rows


def ordered_sum(terms: np.ndarray) -> float:
    """The kernel's order, with numpy's element-wise additions (each one correctly rounded)."""
    total = 0.0
    for start in range(0, terms.size, BLOCK):
        block = terms[start:start + BLOCK]
        grouped = block.size // SPAN * SPAN
        rest = np.zeros(-(-(block.size - grouped) // LANES) * LANES)
        rest[:block.size - grouped] = block[grouped:]  # adding 0.0 leaves every term the passes make
        lanes = np.zeros(LANES)
        for group in block[:grouped].reshape(-1, GROUP, LANES):  # four rows, summed pairwise
            lanes = lanes + ((group[0] + group[1]) + (group[2] + group[3]))
        for row in rest.reshape(-1, LANES):  # then the block's last rows one by one
            lanes = lanes + row
        width = LANES
        while width > 1:
            width //= 2
            lanes = lanes[:width] + lanes[width:2 * width]
        total += float(lanes[0])
    return total


def reference_terms(a, c, h, lo, hi, boxed, lam):
    """(x(lam) - c, x(lam), the free mask, 1 / (h + lam)) as numpy operations on whole vectors."""
    wide = a.astype(np.float64)
    center = np.broadcast_to(np.asarray(c, np.float64), wide.shape)
    weight = np.broadcast_to(np.asarray(h, np.float64), wide.shape)
    q = 1.0 / (weight + lam)
    ratio = np.ones_like(wide) if lam == 0 else weight * q
    point = wide.copy() if lam == 0 else (wide - center) * ratio + center
    held = np.minimum(np.maximum(point, lo), hi) if boxed else point
    free = (held == point).astype(np.float64)
    return held - center, held, free, q


def reference_evaluate(a, c, h, lo, hi, boxed, lam):
    shift, _, free, q = reference_terms(a, c, h, lo, hi, boxed, lam)
    if not boxed:  # the plain pass: (a - c) times the ratio, not a point minus the center
        weight = np.broadcast_to(np.asarray(h, np.float64), a.shape)
        ratio = np.ones(a.size) if lam == 0 else weight * q
        shift = (a.astype(np.float64) - np.asarray(c, np.float64)) * ratio
    square = shift * shift
    slope = square * q * free if boxed else square * q
    return [ordered_sum(square), ordered_sum(slope), ordered_sum(slope * q)]


def reference_moments(a, c, h):
    z = a.astype(np.float64) - np.asarray(c, np.float64)
    weight = np.broadcast_to(np.asarray(h, np.float64), z.shape)
    term, sums = z * z, []
    for _ in range(kernel.MOMENTS):
        sums.append(ordered_sum(term))
        term = term * weight
    return sums


def reference_write(a, c, h, lo, hi, boxed, lam, dtype):
    shift, point, _, _ = reference_terms(a, c, h, lo, hi, boxed, lam)
    out = point.astype(dtype)
    if dtype == np.float64 and not boxed and lam != 0:  # one float64 back toward c past the measured shift
        center = np.broadcast_to(np.asarray(c, np.float64), point.shape)
        weight = np.broadcast_to(np.asarray(h, np.float64), point.shape)
        measured = (a.astype(np.float64) - center) * (weight * (1.0 / (weight + lam)))
        out = np.where(np.abs(point - center) > np.abs(measured), np.nextafter(point, center), point)
    if dtype == np.float32:  # one float32 back toward c where rounding moved away from it
        wide = out.astype(np.float64)
        outward = ((wide - point) * shift > 0) & (wide != 0)
        toward_zero = (shift > 0) == (wide > 0)
        out.view(np.int32)[:] += np.where(outward, np.where(toward_zero, -1, 1), 0).astype(np.int32)
    return out


def cases():
    rng = np.random.default_rng(17)
    for dim in (1, 7, LANES - 1, SPAN + LANES + 1, BLOCK - 3, BLOCK, 2 * BLOCK + 13):
        a = (rng.standard_normal(dim) * 3).astype(np.float32)
        weights = np.exp(rng.uniform(-3, 3, dim)).astype(np.float32)
        if dim > 2:
            a[dim // 2] = np.nan
            a[dim // 3] = np.inf
            weights[1] = 0.0
        center = (rng.standard_normal(dim) * 0.1).astype(np.float32)
        lower = rng.uniform(-4, -0.5, dim).astype(np.float32)
        for c in (np.float32(0.25), center):
            for h in (None, weights):
                for box in (None, (np.float32(-1.0), np.float32(1.0)), (lower, lower + np.float32(3))):
                    yield dim, a, c, h, box


def bits(values) -> bytes:
    return np.asarray(values, np.float64).tobytes()  # NaN compares by its bits


@pytest.mark.parametrize("lam", [0.0, 0.37, 12.5])
def test_the_passes_compute_the_references_bits(lam):
    checked = 0
    with np.errstate(all="ignore"):
        for dim, a, c, h, box in cases():
            lo, hi = box if box is not None else (None, None)
            ball = _Ball(a, c, h, lo, hi)
            inputs = (c, 1.0 if h is None else h, -np.inf if lo is None else lo, np.inf if hi is None else hi,
                      box is not None, lam)
            assert bits(ball.evaluate(lam)) == bits(reference_evaluate(a, *inputs)), (dim, box is not None)
            if box is None:
                assert bits(ball.moments()) == bits(reference_moments(a, c, inputs[1])), dim
            for dtype in (np.float32, np.float64):
                out = np.empty(dim, dtype)
                ball.write(lam, out)
                assert out.tobytes() == reference_write(a, *inputs, dtype).tobytes(), (dim, dtype)
            checked += 1
    assert checked == 7 * 2 * 2 * 3


def test_the_sums_do_not_depend_on_where_a_vector_starts_in_memory():
    """The lanes follow the index, not the address: a copy at another alignment sums alike."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal(BLOCK + 77).astype(np.float32)
    h = np.exp(rng.uniform(-2, 2, a.size)).astype(np.float32)
    shifted = np.empty(a.size + 1, np.float32)[1:]
    shifted[:] = a
    assert bits(_Ball(a, 0.5, h, None, None).evaluate(0.3)) == bits(_Ball(shifted, 0.5, h, None, None).evaluate(0.3))
    assert bits(_Ball(a, 0.5, h, None, None).moments()) == bits(_Ball(shifted, 0.5, h, None, None).moments())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_write_into_the_point_itself_gives_the_bits_of_a_write_elsewhere(dtype):
    """A step projects x in place (out is a): the write reads every chunk before it rounds into
    it, so aliasing changes nothing, across chunks and with a box or none."""
    rng = np.random.default_rng(5)
    checked = 0
    for dim in (1, CHUNK - 1, CHUNK + 1, 3 * CHUNK + 77):
        a = rng.standard_normal(dim).astype(dtype)
        h = np.exp(rng.uniform(-2, 2, dim)).astype(np.float32)
        c = (0.1 * rng.standard_normal(dim)).astype(np.float32)
        for lo, hi in ((None, None), (np.float32(-0.5), np.float32(0.5))):
            elsewhere = np.empty_like(a)
            _Ball(a, c, h, lo, hi).write(0.37, elsewhere)
            inside = a.copy()
            _Ball(inside, c, h, lo, hi).write(0.37, inside)
            assert inside.tobytes() == elsewhere.tobytes(), (dim, lo)
            assert not np.array_equal(inside, a)  # the write did move the point
            checked += 1
    assert checked == 8


@pytest.mark.parametrize("threads", [2, 3])
def test_passes_shared_among_threads_give_the_bits_of_one_thread(monkeypatch, threads):
    """From PARALLEL_FROM coordinates on, a pass's blocks are shared among threads: each block's
    sums are added in block order afterwards, so any number of threads gives the same bits (and
    a size that is not a whole number of blocks leaves no coordinate out)."""
    from zoadamm import projection

    rng = np.random.default_rng(11)
    dim = 3 * projection.PARALLEL_FROM + 5 * BLOCK // 3
    a = (rng.standard_normal(dim) * 3).astype(np.float32)
    h = np.exp(rng.uniform(-3, 3, dim)).astype(np.float32)
    c = (rng.standard_normal(dim) * 0.1).astype(np.float32)
    lo, hi = np.float32(-1.0), np.float32(1.5)

    def passes():
        ball, boxed = _Ball(a, c, h, None, None), _Ball(a, c, h, lo, hi)
        written = [np.empty(dim, np.float32), np.empty(dim, np.float32)]
        ball.write(0.37, written[0])
        boxed.write(0.37, written[1])
        sums = bits(ball.moments()), bits(ball.evaluate(0.37)), bits(boxed.evaluate(0.37))
        return (*sums, [w.tobytes() for w in written])

    monkeypatch.setattr(projection, "THREADS", 1)
    alone = passes()
    monkeypatch.setattr(projection, "THREADS", threads)
    called = []
    monkeypatch.setattr(projection, "_in_parts", _counting(projection._in_parts, called))
    assert passes() == alone
    assert called and all(parts == threads for parts in called)
    inputs = (c, h, -np.inf, np.inf, False, 0.37)
    assert alone[1] == bits(reference_evaluate(a, *inputs))  # and those bits are the reference's


def _counting(in_parts, called):
    """``_in_parts``, recording into how many parts each pass was cut (all blocks covered)."""

    def counted(count, run):
        ranges = []
        in_parts(count, lambda first, last: (ranges.append((first, last)), run(first, last)))
        assert sorted(ranges)[0][0] == 0 and sorted(ranges)[-1][1] == count
        called.append(len(ranges))

    return counted


def test_the_thread_count_is_a_setting_and_a_bad_one_is_refused(monkeypatch):
    from zoadamm import projection

    monkeypatch.setenv("ZOADAMM_PROJECTION_THREADS", "3")
    assert projection._threads_setting() == 3
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv("ZOADAMM_PROJECTION_THREADS", bad)
        with pytest.raises(ValueError, match="ZOADAMM_PROJECTION_THREADS"):
            projection._threads_setting()
    monkeypatch.delenv("ZOADAMM_PROJECTION_THREADS")
    assert 1 <= projection._threads_setting() <= 4


def test_a_bad_thread_count_fails_no_import_and_each_command_refuses_it_in_one_line(tmp_path):
    """It was read at import: `import zoadamm`, and every command, ended in a 41-line traceback."""
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "ZOADAMM_PROJECTION_THREADS": "abc"}
    imported = subprocess.run([sys.executable, "-c", "import zoadamm, zoadamm.projection"], env=env,
                              capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    bin_dir = Path(sys.executable).parent
    for command in (["zoadamm-service", "--port", "1"], ["zoadamm-worker", "mnist", "--epochs", "1"],
                    ["zoadamm-worker", "rest", "--objective", "http://127.0.0.1:1", "--dim", "2"]):
        refused = subprocess.run([str(bin_dir / command[0]), *command[1:]], env=env, capture_output=True, text=True,
                                 cwd=tmp_path)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
        assert "ZOADAMM_PROJECTION_THREADS must be a whole number >= 1, not 'abc'" in refused.stderr, refused.stderr


def test_a_pass_shares_the_cores_from_parallel_from_on_and_waits_for_every_part(monkeypatch):
    """At d = PARALLEL_FROM a pass is cut into THREADS parts (it took twice that d before); a part
    that raises leaves no other part still writing when the pass returns."""
    import time

    from zoadamm import projection

    monkeypatch.setattr(projection, "THREADS", 3)
    count = projection.PARALLEL_FROM // BLOCK
    ranges: list[tuple[int, int]] = []
    projection._in_parts(count, lambda first, last: ranges.append((first, last)))
    assert len(ranges) == 3 and sorted(ranges)[0][0] == 0 and sorted(ranges)[-1][1] == count
    ranges.clear()
    projection._in_parts(count - 1, lambda first, last: ranges.append((first, last)))
    assert ranges == [(0, count - 1)]  # below it: one call, on this thread

    finished: list[int] = []
    second = count // 3  # where the second of the three parts starts

    def part(first: int, last: int) -> None:
        if first == second:
            raise ValueError("this part failed")
        time.sleep(0.2)  # the other two are still writing when the second fails
        finished.append(first)

    with pytest.raises(ValueError, match="this part failed"):
        projection._in_parts(count, part)
    assert sorted(finished) == [0, 2 * count // 3]  # both ended before the pass raised

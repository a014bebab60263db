"""Directions: bit-identical everywhere, and equal to an independent reading of docs/directions.md.

The reference below is written from the document alone (pure Python Philox4x64-10, the table
rebuilt from ``statistics.NormalDist``, scales in plain float64 rounded once to float32), so a
change to the library that the document does not describe fails here.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from functools import cache
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

import zoadamm
from zoadamm.directions import TABLE_SHA256, lanes, quantile_table, rows_per_block

DOCS = Path(__file__).resolve().parents[2] / "docs"
VECTORS = json.loads((DOCS / "direction-test-vectors.json").read_text())

# --- independent reference, from the document ----------------------------------------------
MASK64 = (1 << 64) - 1
PHILOX_M = (0xD2E7470EE14C6C93, 0xCA5A826395121157)
PHILOX_W = (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)
HALF = 1 << 15  # lanes >= HALF pick the non-negative half of the table


def philox4x64_10(counter: tuple[int, ...], key: tuple[int, ...]) -> tuple[int, ...]:
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0, p1 = PHILOX_M[0] * c0, PHILOX_M[1] * c2  # exact 128-bit products
        c0, c1, c2, c3 = (p1 >> 64) ^ c1 ^ k0, p1 & MASK64, (p0 >> 64) ^ c3 ^ k1, p0 & MASK64
        k0, k1 = (k0 + PHILOX_W[0]) & MASK64, (k1 + PHILOX_W[1]) & MASK64
    return c0, c1, c2, c3


def reference_lanes(seed: int, step: int, index: int, dim: int) -> list[int]:
    out: list[int] = []
    block = 0
    while len(out) < dim:
        for word in philox4x64_10((block + 1, 0, index, 0), (seed, step)):
            out.extend((word >> shift) & 0xFFFF for shift in (0, 16, 32, 48))
        block += 1
    return out[:dim]


@cache
def reference_table() -> tuple[int, ...]:
    # built entry by entry (the library builds one half and mirrors it): the digest must agree
    inv_cdf = NormalDist().inv_cdf
    return tuple(round(4096 * inv_cdf((k + 0.5) / 65536)) for k in range(65536))


def to_float32(x: float) -> float:
    """Round a float64 to the nearest float32 (struct packs with the C cast)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def reference_direction(seed: int, step: int, index: int, dim: int, distribution: str) -> np.ndarray:
    codes = reference_lanes(seed, step, index, dim)
    table = reference_table()
    values = [table[k] for k in codes]
    if distribution == "gaussian":
        scale = to_float32(1.0 / math.sqrt(sum(t * t for t in table) / 65536))
    elif any(values):
        scale = to_float32(1.0 / math.sqrt(sum(v * v for v in values)))
    else:  # every lane hit a zero of the table: the documented sign fallback
        values = [1 if k >= HALF else -1 for k in codes]
        scale = to_float32(1.0 / math.sqrt(dim))
    # T * scale is exact in float64 (15 + 24 significant bits), so one rounding to float32
    # equals the float32 multiply the document specifies
    return np.array([v * scale for v in values], dtype=np.float64).astype(np.float32)


def bits(u: np.ndarray) -> list[str]:
    return [f"{b:08x}" for b in np.asarray(u, dtype=np.float32).view("<u4")]


# --- the reference itself ------------------------------------------------------------------
# Known-answer tests published with Random123 (kat_vectors, philox4x64 with 10 rounds).
RANDOM123_KAT = [
    ((0, 0, 0, 0), (0, 0),
     (0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B)),
    ((MASK64,) * 4, (MASK64, MASK64),
     (0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0)),
    ((0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89),
     (0x452821E638D01377, 0xBE5466CF34E90C6C),
     (0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6)),
]


@pytest.mark.parametrize("counter, key, expected", RANDOM123_KAT)
def test_reference_philox_matches_random123_known_answers(counter, key, expected):
    assert philox4x64_10(counter, key) == expected


def test_quantile_table_is_the_documented_one():
    table = np.array(reference_table(), dtype="<i4")
    assert hashlib.sha256(table.tobytes()).hexdigest() == TABLE_SHA256 == VECTORS["table_sha256"]
    np.testing.assert_array_equal(quantile_table(), table)
    np.testing.assert_array_equal(table, -table[::-1])  # symmetric, so E[u] = 0 exactly
    assert int((table.astype(np.int64) ** 2).sum()) == VECTORS["table_sum_of_squares"]


# --- the library against the reference ----------------------------------------------------
EDGE = 2**64 - 1
CASES = [  # (seed, step, index, dim): dims off a multiple of 4, and 64-bit edge values
    (0, 0, 0, 1),
    (0, 0, 0, 13),
    (42, 7, 3, 257),
    (EDGE, 0, 0, 9),
    (0, EDGE, 0, 9),
    (0, 0, EDGE, 9),
    (2**63 + 1, 2**63, 2**63 - 1, 31),
    (123456789, 2**32, 65536, 1000),
]


@pytest.mark.parametrize("seed, step, index, dim", CASES)
def test_lanes_equal_independent_philox(seed, step, index, dim):
    assert lanes(seed, step, index, dim).tolist() == reference_lanes(seed, step, index, dim)


@pytest.mark.parametrize("distribution", ["sphere", "gaussian"])
@pytest.mark.parametrize("seed, step, index, dim", CASES)
def test_direction_equals_documented_formulas(seed, step, index, dim, distribution):
    u = zoadamm.direction(seed, step, index, dim, distribution)
    assert u.dtype == np.float32 and u.shape == (dim,)
    assert bits(u) == bits(reference_direction(seed, step, index, dim, distribution))


def test_keys_at_the_64_bit_edge_are_distinct():
    # seeds/steps/indexes >= 2**63 must not be squeezed through float64 on their way to Philox
    triples = [(0, 0, 0), (EDGE, 0, 0), (2**63, 0, 0), (2**63 + 1, 0, 0),
               (0, EDGE, 0), (0, 2**63 + 1, 0), (0, 0, EDGE), (0, 0, 2**63 + 1)]
    streams = {lanes(*triple, 8).tobytes() for triple in triples}
    assert len(streams) == len(triples)


def test_directions_stacks_direction_by_index():
    stacked = zoadamm.directions(5, 9, 4, 100, "gaussian")
    for index, row in enumerate(stacked):
        assert bits(row) == bits(zoadamm.direction(5, 9, index, 100, "gaussian"))


@pytest.mark.parametrize("distribution", ["sphere", "gaussian"])
@pytest.mark.parametrize("seed, step, index, dim", CASES)
def test_direction_rows_are_direction_bit_for_bit(seed, step, index, dim, distribution):
    indices = [index, 0, 2**63 + 5, index]  # any order, repeats allowed
    rows = zoadamm.direction_rows(seed, step, indices, dim, distribution)
    assert rows.dtype == np.float32 and rows.shape == (len(indices), dim)
    for row, i in zip(rows, indices, strict=True):
        assert bits(row) == bits(zoadamm.direction(seed, step, i, dim, distribution))


def test_direction_rows_keep_the_all_zero_fallback_beside_ordinary_rows():
    rows = zoadamm.direction_rows(0, 16750, [1, 0, 2], 1, "sphere")  # index 0 draws a table zero
    for row, i in zip(rows, [1, 0, 2], strict=True):
        assert bits(row) == bits(zoadamm.direction(0, 16750, i, 1, "sphere"))
    assert abs(float(rows[1, 0])) == 1.0


@pytest.mark.parametrize("dim", [32_768, 32_769])  # made together, then one at a time (long vectors)
def test_direction_rows_on_either_side_of_the_block_limit(dim):
    rows = zoadamm.direction_rows(1, 2, [3, 0], dim, "sphere")
    assert bits(rows[0]) == bits(zoadamm.direction(1, 2, 3, dim, "sphere"))
    assert bits(rows[1]) == bits(zoadamm.direction(1, 2, 0, dim, "sphere"))


@pytest.mark.parametrize("call, message", [
    (lambda: zoadamm.direction_rows(0, 0, [-1], 4), "index"),
    (lambda: zoadamm.direction_rows(0, 0, [1.0], 4), "index"),
    (lambda: zoadamm.direction_rows(0, 0, [0], 0), "dim"),
    (lambda: zoadamm.direction_rows(0, 0, [0], 4, "uniform"), "distribution"),
    (lambda: zoadamm.direction_rows(0, 0, [0, 1], 4, out=np.empty((1, 4), np.float32)), "out"),
])
def test_direction_rows_refuse_bad_arguments(call, message):
    with pytest.raises(zoadamm.InvalidArgument, match=message):
        call()


def test_direction_rows_of_no_indices_is_empty():
    assert zoadamm.direction_rows(0, 0, [], 5).shape == (0, 5)


# --- direction_blocks: the one loop every batch of directions goes through ----------------------
@pytest.mark.parametrize("dim", [100, 32_768, 32_769])  # blocks of 2,621 rows, of 8, one at a time
def test_direction_blocks_cut_the_rows_into_blocks_of_the_same_bits(dim):
    indices = list(range(3, 3 + 2 * rows_per_block(dim) + 1))
    out = np.empty((len(indices), dim), dtype=np.float32)
    starts = []
    for start, block in zoadamm.direction_blocks(7, 8, indices, dim, "sphere", out=out):
        assert np.shares_memory(block, out[start : start + len(block)])  # each block in its place
        assert len(block) <= rows_per_block(dim)
        starts.append(start)
    assert starts == list(range(0, len(indices), rows_per_block(dim))) and len(starts) == 3
    for row in (0, rows_per_block(dim), len(indices) - 1):  # the first row of each block
        assert bits(out[row]) == bits(zoadamm.direction(7, 8, indices[row], dim, "sphere"))


def test_direction_blocks_without_out_reuse_one_buffer():
    seen = []
    for start, block in zoadamm.direction_blocks(1, 2, range(40), 20_000, "gaussian"):
        assert bits(block[-1]) == bits(zoadamm.direction(1, 2, start + len(block) - 1, 20_000, "gaussian"))
        seen.append(block)
    assert len(seen) == 4 == -(-40 // rows_per_block(20_000))  # blocks of 13 rows
    assert all(np.shares_memory(seen[0], block) for block in seen)


def test_direction_blocks_check_everything_before_the_first_block():
    blocks = zoadamm.direction_blocks(0, 0, [0, 1], 4, out=np.empty((2, 5), np.float32))
    with pytest.raises(zoadamm.InvalidArgument, match="out"):
        next(blocks)
    with pytest.raises(zoadamm.InvalidArgument, match="index"):
        next(zoadamm.direction_blocks(0, 0, range(-1, 2), 4))


# --- test vectors: the JSON file is the spec, the document's table must agree with it ------
@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['distribution']}-d{v['dim']}")
def test_published_vectors(vector):
    seed, step, index, dim = vector["seed"], vector["step"], vector["index"], vector["dim"]
    u = zoadamm.direction(seed, step, index, dim, vector["distribution"])
    assert lanes(seed, step, index, dim)[: len(vector["lanes"])].tolist() == vector["lanes"]
    assert bits(u[:4]) == vector["first_hex"]
    assert bits(np.array(vector["first"], dtype=np.float32)) == vector["first_hex"]
    assert bits(np.float32(vector["scale"]).reshape(1)) == [vector["scale_hex"]]
    assert hashlib.sha256(u.astype("<f4").tobytes()).hexdigest() == vector["sha256"]
    if "sum_of_squares" in vector:
        squares = quantile_table()[lanes(seed, step, index, dim)].astype(np.int64) ** 2
        assert int(squares.sum()) == vector["sum_of_squares"]


def test_document_table_matches_vector_file():
    text = (DOCS / "directions.md").read_text()
    assert VECTORS["table_sha256"] in text
    rows = []
    for line in text.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 7 and re.fullmatch(r"\d+", cells[0].replace(",", "")):
            rows.append(cells)
    assert len(rows) == len(VECTORS["vectors"])
    for cells, vector in zip(rows, VECTORS["vectors"], strict=True):
        expected = [vector["seed"], vector["step"], vector["index"], vector["distribution"], vector["dim"]]
        assert [int(c.replace(",", "")) if c[0].isdigit() else c for c in cells[:5]] == expected
        assert [float(v) for v in cells[5].split(",")] == vector["first"]
        assert cells[6].split() == vector["first_hex"]


def test_the_inverse_cdf_written_in_the_document_builds_the_table_of_its_digest():
    """directions.md writes out the inverse normal CDF with its coefficients, for clients in
    other languages: the quantile table built from the text alone has the digest it names."""
    text = (DOCS / "directions.md").read_text()
    coefficients = {name: [float(v) for v in re.findall(r"[-+0-9.e]+", values)]
                    for name, values in re.findall(r"^([A-F]) = \[([^\]]+)\]", text, flags=re.MULTILINE)}
    assert sorted(coefficients) == list("ABCDEF") and all(len(c) == 8 for c in coefficients.values())

    def horner(h, r):
        value = h[0]
        for c in h[1:]:
            value = value * r + c
        return value

    def inv_cdf(p):
        q = p - 0.5
        if abs(q) <= 0.425:
            r = 0.180625 - q * q
            return (horner(coefficients["A"], r) * q) / horner(coefficients["B"], r)
        r = math.sqrt(-math.log(p if q <= 0.0 else 1.0 - p))
        if r <= 5.0:
            x = horner(coefficients["C"], r - 1.6) / horner(coefficients["D"], r - 1.6)
        else:
            x = horner(coefficients["E"], r - 5.0) / horner(coefficients["F"], r - 5.0)
        return -x if q < 0.0 else x

    upper = [round(4096 * inv_cdf((k + 0.5) / 65536)) for k in range(32768, 65536)]
    table = np.array([-t for t in reversed(upper)] + upper, dtype="<i4")
    assert hashlib.sha256(table.tobytes()).hexdigest() == VECTORS["table_sha256"]
    assert table.tolist() == quantile_table().tolist()


# --- the same bits in a fresh interpreter, with and without run-time SIMD dispatch ---------
@pytest.mark.parametrize("distribution", ["sphere", "gaussian"])
def test_bit_identical_in_a_fresh_process(fresh_python, distribution):
    args = (2024, 17, 3, 100_003, distribution)
    code = f"import sys, zoadamm; sys.stdout.write(zoadamm.direction(*{args!r}).tobytes().hex())"
    assert fresh_python(code) == zoadamm.direction(*args).tobytes().hex()


# --- the laws the estimators rely on -------------------------------------------------------
@pytest.mark.parametrize("seed, step, index, dim", [*CASES, (3, 1, 0, 2), (3, 1, 0, 2_806_751)])
def test_sphere_directions_have_unit_norm(seed, step, index, dim):
    u = zoadamm.direction(seed, step, index, dim, "sphere").astype(np.float64)
    assert abs(np.linalg.norm(u) - 1.0) <= 1e-6


def test_sphere_when_every_lane_is_a_zero_of_the_table():
    # (seed 0, step 16750, index 0) draws a lane on one of the table's six zeros; at dim 1
    # that happens about once in 11,000 directions, so a session will meet it
    table = reference_table()
    assert table[reference_lanes(0, 16750, 0, 1)[0]] == 0
    u = zoadamm.direction(0, 16750, 0, 1, "sphere")
    assert abs(float(u[0])) == 1.0


def test_gaussian_coordinates_have_zero_mean_and_unit_variance():
    u = np.concatenate([zoadamm.direction(11, step, 0, 100_000, "gaussian") for step in range(4)])
    x = u.astype(np.float64)
    n = x.size
    # five standard errors, each estimated from the sample itself
    assert abs(x.mean()) <= 5 * x.std() / math.sqrt(n)
    squares = x * x
    assert abs(squares.mean() - 1.0) <= 5 * squares.std() / math.sqrt(n)
    # and the shape is normal: the share within one standard deviation (binomial error)
    share, p = np.mean(np.abs(x) < 1.0), 0.6826894921370859
    assert abs(share - p) <= 5 * math.sqrt(p * (1 - p) / n)

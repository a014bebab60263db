"""The update as docs/directions.md writes it out for clients in other languages ("The update,
bit for bit"): one float32 operation at a time, in the order given, replays every method's
steps bit for bit, numpy's path and the compiled one alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoadamm.adamm import COMPILED_FROM, AdaMMConfig, AdaMMState
from zoadamm.methods import METHODS, method

f32 = np.float32
CONFIG = AdaMMConfig(beta1=0.9, beta2=0.999, eps=1e-8)


def documented(name: str, x, m, v, v_hat, g, lr: float, step: int, normalizer: str = "v_hat") -> None:
    """One step of ``name`` on float32 arrays, in place, as the document writes it."""
    b1, c1, b2, c2 = f32(CONFIG.beta1), f32(1 - CONFIG.beta1), f32(CONFIG.beta2), f32(1 - CONFIG.beta2)
    e, lr32 = f32(CONFIG.eps), f32(lr)
    if name == "zo-sgd":
        x[:] = x - (g * lr32)
    elif name == "zo-signsgd":
        x[:] = x - (np.sign(g) * lr32)
    else:
        m[:] = (m * b1) + (g * c1)
        v[:] = (v * b2) + ((g * g) * c2)
        if name == "zo-adam":
            t = step + 1
            h = (np.sqrt(v) / f32(math.sqrt(1 - CONFIG.beta2**t))) + e
            x[:] = x - ((m / h) * f32(lr / (1 - CONFIG.beta1**t)))
        else:
            v_hat[:] = np.maximum(v_hat, v)
            h = np.sqrt(v_hat if normalizer == "v_hat" else v) + e
            x[:] = x - ((m / h) * lr32)


@pytest.mark.parametrize("dim", [7, COMPILED_FROM + 3])
@pytest.mark.parametrize("name", METHODS)
def test_the_documented_update_replays_every_method_bit_for_bit(name, dim):
    rng = np.random.default_rng(5)
    state = AdaMMState.start(rng.standard_normal(dim).astype(np.float32), method(name).keeps)
    x, m, v, v_hat = (np.zeros(dim, np.float32) for _ in range(4))
    x[:] = state.x
    for step in range(6):
        g = (rng.standard_normal(dim) * 10.0 ** rng.integers(-6, 3)).astype(np.float32)
        g[::5] = 0.0  # sign(0), and a zero gradient's moments
        lr = 0.01 / (step + 1)
        documented(name, x, m, v, v_hat, g.copy(), lr, step)
        method(name).update(state, g.copy(), lr, CONFIG, None)
        assert x.tobytes() == state.x.tobytes(), (name, dim, step)

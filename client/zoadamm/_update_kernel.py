"""The compiled AdaMM and Adam updates for large d (``adamm.adamm_update``,
``methods.adam_update``): numpy's float32 operations in numpy's order, so the same bits, in one
pass over the vectors where numpy's update makes a dozen or more.

No fast-math (it would let LLVM fuse a multiply and an add into one rounding), no threads.
Compiled on first use and cached beside this file (numba's ``cache=True``).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def update(x, m, v, v_hat, g, h, rates, amsgrad):  # pragma: no cover - compiled
    """m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g*g;  v_hat = max(v_hat, v);
    h = sqrt(v_hat, or v without ``amsgrad``) + eps;  x -= (m / h) lr, in place.

    ``rates``: float32 (b1, 1 - b1, b2, 1 - b2, eps, lr).  ``h`` receives the metric, or is
    None where nobody needs it (no projection): one vector less to write."""
    b1, c1, b2, c2, eps, lr = rates[0], rates[1], rates[2], rates[3], rates[4], rates[5]
    for k in range(x.size):
        gk = g[k]
        mk = m[k] * b1 + gk * c1
        vk = v[k] * b2 + (gk * gk) * c2
        top = v_hat[k]
        top = top if top != top else (vk if vk != vk or vk > top else top)  # np.maximum: NaN wins
        m[k], v[k], v_hat[k] = mk, vk, top
        # a float32 square root, correctly rounded: float64 has the bits to round it once more
        hk = np.float32(math.sqrt(np.float64(top if amsgrad else vk))) + eps
        if h is not None:
            h[k] = hk
        x[k] = x[k] - (mk / hk) * lr


@numba.njit(cache=True, nogil=True, error_model="numpy")
def adam_update(x, m, v, g, h, rates):  # pragma: no cover - compiled
    """Bias-corrected Adam (``methods.adam_update``): m and v as above, h = sqrt(v) / c2 + eps,
    x -= (m / h) lr_t, in place.  ``rates``: float32 (b1, 1 - b1, b2, 1 - b2, eps, lr_t, c2),
    lr_t = lr / (1 - b1^t) and c2 = sqrt(1 - b2^t); ``h`` as in ``update``."""
    b1, c1, b2, c2, eps, lr, root = rates[0], rates[1], rates[2], rates[3], rates[4], rates[5], rates[6]
    for k in range(x.size):
        gk = g[k]
        mk = m[k] * b1 + gk * c1
        vk = v[k] * b2 + (gk * gk) * c2
        m[k], v[k] = mk, vk
        hk = np.float32(math.sqrt(np.float64(vk))) / root + eps
        if h is not None:
            h[k] = hk
        x[k] = x[k] - (mk / hk) * lr

"""zoadamm: zeroth-order AdaMM as a service.

This package is all a user installs (with numpy, numba, httpx and sniffio): the optimizer math, the
seed-derived directions, the wire protocol and the HTTP client SDK.  The service and the
workers import the same code, so the two sides can never disagree on a direction or an update.

The math imports numpy alone; the SDK (``Client``, ``AsyncClient``, ``RemoteOptimizer``,
``minimize``) and httpx load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .adamm import NORMALIZERS, AdaMMConfig, AdaMMState, adamm_update
from .constraints import Ball, Box, FeasibleSet
from .directions import DISTRIBUTIONS, direction, direction_blocks, direction_rows, directions
from .estimators import DIFFERENCES, assemble_gradient, dimension_factor, zo_coefficients, zo_gradient
from .exceptions import InvalidArgument, ObjectiveError, ZoadammError
from .methods import METHODS, STATE_VECTORS, adam_update, sgd_update, signsgd_update
from .optimizer import Optimizer, SessionConfig, StepRecord, require_input, require_method
from .schedule import PlateauConfig, PlateauState, plateau_step
from .step_directions import StepDirections
from .wire import AnswerMode

if TYPE_CHECKING:
    from .sdk.client import AsyncClient, Client
    from .sdk.minimize import minimize
    from .sdk.remote import RemoteOptimizer

_SDK = ("AsyncClient", "Client", "RemoteOptimizer", "minimize")

__all__ = [
    "DIFFERENCES", "DISTRIBUTIONS", "METHODS", "NORMALIZERS", "STATE_VECTORS", "AdaMMConfig", "AdaMMState",
    "AnswerMode", "AsyncClient", "Ball", "Box", "Client", "FeasibleSet", "InvalidArgument", "ObjectiveError",
    "Optimizer",
    "PlateauConfig", "PlateauState", "RemoteOptimizer", "SessionConfig", "StepDirections", "StepRecord",
    "ZoadammError", "adam_update", "adamm_update", "assemble_gradient", "dimension_factor", "direction",
    "direction_blocks", "direction_rows", "directions", "minimize", "plateau_step", "require_input",
    "require_method", "sgd_update", "signsgd_update",
    "zo_coefficients", "zo_gradient",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _SDK:
        return getattr(importlib.import_module(".sdk", __name__), name)
    if name == "sdk":  # ``zoadamm.sdk.X`` after a plain ``import zoadamm``, as the docs write it
        return importlib.import_module(".sdk", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and the SDK's, which load on first use: tab completion finds both."""
    return sorted({*globals(), *_SDK, "sdk"})

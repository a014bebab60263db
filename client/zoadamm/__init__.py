"""zoadamm: zeroth-order AdaMM as a service.

This package is all a user installs (numpy and httpx only): the optimizer math, the
seed-derived directions, the wire protocol and the HTTP client SDK.  The service and the
workers import the same code, so the two sides can never disagree on a direction or an update.
"""

from .exceptions import InvalidArgument, ZoadammError
from .adamm import AdaMMConfig, AdaMMState, adamm_update
from .directions import direction, directions
from .estimators import assemble_gradient, dimension_factor, zo_coefficients, zo_gradient
from .optimizer import Optimizer, SessionConfig, StepRecord
from .schedule import PlateauConfig, PlateauState, plateau_step
from .sdk import AsyncClient, Client, RemoteOptimizer, minimize

__all__ = [
    "AdaMMConfig", "AdaMMState", "AsyncClient", "Client", "RemoteOptimizer", "minimize", "InvalidArgument", "ZoadammError", "Optimizer", "PlateauConfig", "PlateauState",
    "SessionConfig", "StepRecord", "adamm_update", "assemble_gradient", "dimension_factor",
    "direction", "directions", "plateau_step", "zo_coefficients", "zo_gradient",
]
__version__ = "0.1.0"

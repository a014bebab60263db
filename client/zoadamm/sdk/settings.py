"""The settings a session is created with, by name: one definition for every ``create`` of the
SDK (``Sessions.create``, ``RemoteOptimizer.create``, ``minimize``), so that a type checker and
an editor know them, and a misspelt one is refused before any request (the service refuses it
too, for clients in other languages: ``reasons`` words both alike)."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from typing import Any, TypedDict

from .._validate import InvalidArgument
from ..constraints import Ball, Box, FeasibleSet
from ..schedule import PlateauConfig
from .reasons import OTHER_NAMES, close_setting

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # the same, for Python 3.10 (a dependency of the package there)
    from typing_extensions import Unpack

__all__ = ["NAMES", "SessionSettings", "Unpack", "check_names"]


class SessionSettings(TypedDict, total=False):
    """The core's ``SessionConfig`` less ``dim`` (docs/api.md lists each one's range); a
    setting left out takes the service's default."""

    method: str  # zo-adamm (default), adamm, zo-sgd, zo-signsgd, zo-adam
    lr: float
    mu: float
    beta1: float
    beta2: float
    eps: float
    normalizer: str
    directions: int  # q
    distribution: str
    difference: str
    seed: int  # random when left out
    schedule: PlateauConfig | dict[str, Any] | None  # None: no schedule
    constraint: FeasibleSet | Box | Ball | dict[str, Any] | None


NAMES = frozenset(SessionSettings.__annotations__)


def check_names(settings: Mapping[str, object], arguments: tuple[str, ...] = ("dim", "name", "x0")) -> None:
    """Refuse a setting that no session has, in the words of the service's 422 for it;
    ``arguments``: the caller's own (a create's dim, name and x0 by default), which a misspelt name
    may have meant too, and the only others a hint may name (``minimize`` takes no dim).

    Raises:
        InvalidArgument: an unknown name.
    """
    for name in settings:
        if name not in NAMES:
            spelled = str(name).lower()
            if "dim" not in arguments and (OTHER_NAMES.get(spelled) == "dim"
                                           or difflib.SequenceMatcher(None, spelled, "dim").ratio() >= 0.75):
                hint = " (d is x0's length here)"  # dims=, Dim=, d=, dimension=; not lim=
            elif meant := close_setting(str(name), [*NAMES, *arguments]):
                hint = f" (did you mean {meant}?)"
            else:
                hint = f"; the settings are {', '.join(sorted(NAMES))}"
            raise InvalidArgument(f"{name}: unknown setting{hint}")

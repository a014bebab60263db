"""What the session rules report about themselves: one small interface, which the service's
Prometheus metrics (``telemetry.prom``) implement, so that the domain imports no metrics library."""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def step_committed(self, method: str, evaluations: int) -> None: ...


class Silent:
    """Reports nothing: session rules used without the service (tests, tools)."""

    def step_committed(self, method: str, evaluations: int) -> None: ...

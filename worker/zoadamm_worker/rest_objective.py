"""A user's HTTP endpoint as the objective: ``POST {"x": [...]}`` answers ``{"value": float}``.

Evaluations time out and are retried with the SDK's policy (capped jittered backoff, and the
endpoint's Retry-After when it sends one); an evaluation that still fails raises
``EvaluationError``, so a failure can never reach the optimizer disguised as a number.
"""

from __future__ import annotations

import math
import time

import httpx
import numpy as np

from zoadamm.sdk import RetryPolicy


class EvaluationError(RuntimeError):
    """The objective endpoint did not produce a finite value after all retries."""


class NoEndpoint(EvaluationError):
    """Nothing at the objective's URL evaluates x (404, 405): a URL mistyped, not a failed step."""


class RestObjective:
    def __init__(self, url: str, *, timeout: float = 30.0, retries: int = 3, backoff: float = 0.5,
                 http_client: httpx.Client | None = None) -> None:
        self.url = url
        self.retry = RetryPolicy(max_retries=retries, base_delay=backoff)
        self._owned = http_client is None  # a client the caller passed in is the caller's to close
        self.http = http_client or httpx.Client(timeout=timeout)
        self.evaluations = 0

    def __call__(self, x: np.ndarray) -> float:
        """f(x) from the endpoint.  Raises EvaluationError when no attempt gives a finite value."""
        payload = {"x": np.asarray(x, dtype=np.float64).tolist()}
        problem = "no attempt made"
        response: httpx.Response | None = None
        for attempt in range(self.retry.max_retries + 1):
            if attempt:
                time.sleep(self.retry.delay(attempt - 1, response))
            try:
                response = self.http.post(self.url, json=payload)
            except httpx.TransportError as exc:
                problem, response = f"request failed: {exc!r}", None
                continue
            if response.status_code in self.retry.statuses:
                problem = f"endpoint answered {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code in (404, 405):
                raise NoEndpoint(f"{self.url} answered {response.status_code}: no endpoint that evaluates x is there")
            if response.status_code >= 400:
                raise EvaluationError(f"endpoint refused x with {response.status_code}: {response.text[:200]}")
            value = _value_of(response)
            if value is None:
                problem = ('endpoint answered no finite "value" (expected {"value": <number>}): '
                           + response.text[:200])
                continue
            self.evaluations += 1
            return value
        tries = self.retry.max_retries + 1
        raise EvaluationError(f"objective at {self.url} failed after {tries} attempt{'s' * (tries > 1)}: {problem}")

    def close(self) -> None:
        if self._owned:
            self.http.close()


def _value_of(response: httpx.Response) -> float | None:
    try:
        value = response.json()["value"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits: no float holds it
        return None
    return number if math.isfinite(number) else None

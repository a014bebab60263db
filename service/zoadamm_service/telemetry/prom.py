"""The Prometheus metrics of the service, and their exposition at ``/metrics``.

With several worker processes (``zoadamm-service --workers N``) every process writes its
samples to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape, answered by any one of them,
adds them up (prometheus-client's multiprocess mode); the process manager marks a dead
worker's files (``cli.run``), so its live gauges drop out while its counters still count.
Labels are bounded: methods, route templates, reasons, store calls; never a session id.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)

# the metrics below open their files in the multiprocess folder as they are made, at import: a
# folder given that does not exist yet is made here (a FileNotFoundError traceback before)
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    with contextlib.suppress(OSError):  # a file there: prometheus-client's own error names the path
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

STEPS = Counter("zoadamm_steps", "Steps committed.", ["method"])
EVALUATIONS = Counter(
    "zoadamm_evaluations",
    "Function evaluations the committed steps cost their clients (ZO: q+1 forward, 1+2q central; FO: 1 gradient).",
    ["method"],
)
TELLS_REJECTED = Counter("zoadamm_tells_rejected", "Tells answered with an error, by reason.", ["reason"])
REQUEST_SECONDS = Histogram(
    "zoadamm_request_duration_seconds", "Time to answer a request, by route template.",
    ["method", "route"], buckets=LATENCY_BUCKETS,
)
STORE_SECONDS = Histogram(
    "zoadamm_store_call_duration_seconds", "Time of one store call (Redis or in-process), by call.",
    ["store", "call"], buckets=STORE_BUCKETS,
)
CHECKPOINT_SAVED = Gauge(
    "zoadamm_checkpoint_last_saved_timestamp_seconds", "Unix time of the newest checkpoint written (0: none yet).",
    multiprocess_mode="max",
)

# answered status -> reason label of a rejected tell
REASONS = {
    400: "malformed", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
    413: "too_large", 415: "unsupported", 422: "invalid", 429: "rate_limited", 503: "unavailable",
}


def step_committed(method: str, evaluations: int) -> None:
    steps, evaluated = _child(STEPS, method), _child(EVALUATIONS, method)
    steps.inc()
    evaluated.inc(evaluations)


def tell_rejected(status: int) -> None:
    _child(TELLS_REJECTED, REASONS.get(status, "error" if status >= 500 else "other")).inc()


def request_seconds(method: str, route: str):
    """The request histogram's child for (method, route template)."""
    return _child(REQUEST_SECONDS, method, route)


_CHILDREN: dict = {}  # (metric, labels) -> its child: ``labels()`` takes a lock and builds a key


def _child(metric, *labels: str):
    child = _CHILDREN.get((metric, labels))
    if child is None:
        child = _CHILDREN[(metric, labels)] = metric.labels(*labels)
    return child


def exposition(active_sessions: int | None) -> bytes:
    """The text exposition: every process's samples, plus two gauges computed now: sessions
    active (a step in the last minute) and the age of the newest checkpoint."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    families = list(registry.collect())
    saved = [s.value for f in families if f.name == CHECKPOINT_SAVED._name for s in f.samples if s.value > 0]
    extra = []
    if active_sessions is not None:
        extra.append(GaugeMetricFamily("zoadamm_sessions_active", "Sessions with a step in the last minute.",
                                       value=active_sessions))
    age = max(0.0, time.time() - max(saved)) if saved else 0.0
    extra.append(GaugeMetricFamily("zoadamm_checkpoint_age_seconds", "Seconds since the newest checkpoint (0: none).",
                                   value=age))
    return generate_latest(_Families(families + extra))


class _Families:
    def __init__(self, families) -> None:
        self._families = families

    def collect(self):
        return iter(self._families)

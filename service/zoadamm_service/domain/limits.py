"""The service's limits (``Settings``), checked before any work: each raises ``Invalid`` (422)."""

from __future__ import annotations

from zoadamm import SessionConfig

from ..errors import Invalid
from ..settings import Settings
from ..store import Quota, SessionMeta

RESERVED_METRICS = frozenset({"step", "value", "lr", "mu", "time"})
# The metric reports of one answer: beside a full trace (the dashboard's session view) an answer
# stays far under 1 MB, which the JSON encoder turns out without holding the event loop for long.
# More reports come by cursor.
PAGE_BYTES = 256 * 1024
PAGE_LIMIT = 10_000  # the most reports a page may ask for


def check_config(settings: Settings, config: dict) -> None:
    """A session's size: d and q."""
    for name, limit, setting in (("dim", settings.max_dim, "ZOADAMM_MAX_DIM"),
                                 ("directions", settings.max_directions, "ZOADAMM_MAX_DIRECTIONS")):
        if config[name] > limit:
            raise Invalid(f"{name} is {config[name]}; this service allows at most {limit} ({setting})")


def check_work(settings: Settings, config: SessionConfig) -> None:
    """The CPU one step costs: q * d (d for adamm), bounded so that no single call holds a core
    for seconds (as q = 256 at d = 8.4M would)."""
    work = config.dim * (config.directions if config.takes_values else 1)
    if work > settings.max_work:
        raise Invalid(f"directions * dim is {work}; this service allows at most {settings.max_work} per step "
                      "(ZOADAMM_MAX_WORK): fewer directions, or a smaller dim")


def quota(settings: Settings, config: SessionConfig, meta: SessionMeta) -> Quota:
    """The tenant's quota at the create of ``meta``'s session, and what the session takes of it."""
    return Quota(settings.max_sessions, settings.max_tenant_bytes, state_bytes(settings, config, meta))


def state_bytes(settings: Settings, config: SessionConfig, meta: SessionMeta) -> int:
    """What a session keeps of its tenant's ``ZOADAMM_MAX_TENANT_BYTES``: its state's vectors (x
    and the moments its method keeps, float32) and its set's vectors.  Invalid for a session
    that alone holds more than that: deleting others would not make room for it."""
    size = 4 * config.dim * len(config.method_spec.keeps) + len(meta.vectors)
    if settings.max_tenant_bytes and size > settings.max_tenant_bytes:
        raise Invalid(f"a {config.method} session of dim {config.dim} holds {size:,} bytes of state, more than a "
                      f"tenant may hold ({settings.max_tenant_bytes:,}, ZOADAMM_MAX_TENANT_BYTES): a smaller dim")
    return size


def check_metric_names(settings: Settings, named: dict[str, float]) -> None:
    """The named numbers of one metric report: how many, how long, none reserved."""
    if RESERVED_METRICS & named.keys():
        raise Invalid(f"metrics cannot be named {sorted(RESERVED_METRICS & named.keys())}")
    if len(named) > settings.max_metric_names:
        raise Invalid(f"{len(named)} named metrics; a report may carry at most {settings.max_metric_names} "
                      "(ZOADAMM_MAX_METRIC_NAMES)")
    longest = max(map(len, named), default=0)
    if longest > settings.max_metric_name_length:
        raise Invalid(f"a metric name of {longest} characters; at most {settings.max_metric_name_length} "
                      "(ZOADAMM_MAX_METRIC_NAME_LENGTH)")


def newest_within(rows: list[str], max_bytes: int) -> list[str]:
    """The newest of ``rows`` (JSON texts, oldest first) whose list fits in ``max_bytes``."""
    size, kept = 2, 0
    for row in reversed(rows):
        size += len(row) + 2
        if size > max_bytes:
            break
        kept += 1
    return rows[len(rows) - kept:]


def check_answer_size(settings: Settings, values: int, bytes_per_value: int) -> None:
    """Raises Invalid when ``values`` direction values, of ``bytes_per_value`` bytes each in the
    answer (4 in the frame, up to 24 in JSON), would be over the body limit."""
    if values * bytes_per_value > settings.max_body_bytes:
        smaller = "" if bytes_per_value <= 4 else ", or ask for them in the binary frame (4 bytes a value)"
        raise Invalid(f"the {values:,} direction values are too large to send (ZOADAMM_MAX_BODY_BYTES, "
                      f"{settings.max_body_bytes:,} bytes); regenerate them from (seed, step, index) as "
                      f"docs/directions.md describes (zoadamm.directions in Python){smaller}")

"""All service settings, read from the environment (prefix ``ZOADAMM_``; ``REDIS_URL`` as is)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REDIS_MAX_CONNECTIONS = 100  # per service process; the embedded store's pool has as many


class Settings(BaseSettings):
    # NaN failed a bound's check with that bound's message ("less than or equal to 3600"), and an
    # infinite timeout or cache age is no setting anyone means: both are refused as "a finite number"
    model_config = SettingsConfigDict(env_prefix="ZOADAMM_", extra="ignore", allow_inf_nan=False)

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "ZOADAMM_REDIS_URL"),
        description="Redis to keep sessions in (`ZOADAMM_REDIS_URL` is read too); unset means the in-process "
        "store (one process only, nothing survives a restart).",
    )
    redis_cluster: bool = Field(
        False, description="REDIS_URL names one node of a Redis Cluster; the store follows the cluster's slots.")
    redis_wait_replicas: int = Field(
        0, ge=0, description="Replicas that must hold a write (Redis WAIT) before it is acknowledged; 0: only a "
        "create waits, for one replica when its master has one, and a failover can lose the steps its replica had "
        "not received.")
    redis_wait_timeout_ms: int = Field(
        1000, ge=1, description="How long a write waits for those replicas before the request gets 503 (the "
        "client's retry gets the answer).")
    max_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1024,
        description="Larger requests get 413; also bounds an ask's vectors (4 bytes a value in the frame, 24 in JSON).",
    )
    max_body_bytes_in_flight: int = Field(
        256 * 1024 * 1024, ge=1024,
        description="Bytes of request bodies one process holds at once (each byte received counts until its "
        "call answers); past it a call gets 503. At least ZOADAMM_MAX_BODY_BYTES. With API keys of several "
        "tenants, one tenant's bodies hold at most half of it (at least one body of ZOADAMM_MAX_BODY_BYTES).",
    )
    checkpoint_every: int = Field(
        1000, ge=1, description="Steps between full checkpoints; journal records cover the rest."
    )
    cache_bytes: int = Field(
        2 * 1024**3, ge=0, description="Memory for cached session states in one replica."
    )
    max_json_bytes: int = Field(
        2 * 1024 * 1024, ge=1024,
        description="Larger JSON bodies get 413: parsing JSON holds the event loop; large vectors travel in the frame.",
    )
    body_timeout_s: float = Field(30.0, gt=0, description="A request body not read in full within this time gets 408.")
    max_directions: int = Field(1024, ge=1, description="Largest q a session may have (422 above).")
    max_dim: int = Field(8 * 1024 * 1024, ge=1, description="Largest d a session may have (422 above).")
    max_work: int = Field(
        2**27, ge=1, description="Largest q * d of a session (d for adamm): what one step costs the service's CPU "
                                 "(422 above).")
    max_metric_names: int = Field(32, ge=0, description="Named metrics in one report (422 above).")
    max_metric_name_length: int = Field(100, ge=1, description="Characters in a metric's name (422 above).")
    metric_history: int = Field(10_000, ge=1, description="Metric reports kept per session; older ones are dropped.")
    metric_history_bytes: int = Field(
        4 * 1024 * 1024, ge=64 * 1024,
        description="Bytes of metric reports (their JSON) kept per session; the oldest are dropped first.")
    recent_metrics: int = Field(20, ge=0, description="Metrics shown by GET /v1/sessions/{id}.")
    recent_metrics_bytes: int = Field(
        64 * 1024, ge=0, description="Most bytes of recent_metrics in GET /v1/sessions/{id}; the newest are kept."
    )
    redis_timeout_s: float = Field(2.0, gt=0, description="Redis socket timeout: a hung Redis gives 503 after it.")
    redis_connect_timeout_s: float = Field(2.0, gt=0, description="Redis connect timeout.")
    redis_max_connections: int = Field(
        REDIS_MAX_CONNECTIONS, ge=1,
        description="Pooled connections to Redis per service process; a call waits for a free one within "
                    "its budget (ZOADAMM_REDIS_TIMEOUT_S). The tells' per-step script shares one more; the rate "
                    "limit's and the failed-key limit's counters, when set, have a pool of as many each. A pool "
                    "keeps the connections it opened (a burst's, or a scrape of /metrics reading every tenant's "
                    "table at once) open while idle.")
    max_calls: int = Field(
        64, ge=1, description="/v1 calls one service process works on at once; the others wait their turn in order "
                              "(a POST takes its turn once its body is in; a lease's wait gives it back meanwhile).")
    queue_timeout_s: float = Field(
        10.0, gt=0, description="A call that does not get its turn within this gets 503 with Retry-After.")
    retry_after_s: int = Field(1, ge=0, description="The Retry-After of a 503; the SDK waits out up to 60 s of it, and "
                               "takes a longer one as final.")
    trace_points: int = Field(
        2048, ge=0, le=4096,
        description="Trace points kept per session; the stride doubles when full.  0 turns the trace off, and with "
        "it what the dashboard's table and zoadamm_sessions_active read from it: step, evaluations, steps/s, f(x), "
        "running (the API's own answers keep them).",
    )
    api_keys: str | None = Field(
        None, description="tenant:sha256hex entries, comma-separated; unset runs open, as one tenant.")
    allow_open: bool = Field(False, description="Run open (no keys) on an address other than loopback.")
    open_host_names: str = Field(
        "", description="Open (no keys, ZOADAMM_ALLOW_OPEN unset), the Host names a /v1 call may name besides "
                        "localhost, 127.0.0.1 and [::1], comma-separated (docker compose: balancer): a name of a web "
                        "page's own, pointed at the service (DNS rebinding), is refused with 403.")
    published_address: str | None = Field(
        None, description="Where clients reach the service when that is not where it listens (docker compose "
                          "passes its ZOADAMM_BIND); the open mode checks this address instead.")
    max_sessions: int = Field(
        1000, ge=0, description="Sessions one tenant may keep at once (one more create gets 429); 0: no limit.")
    max_tenant_bytes: int = Field(
        8 * 2**30, ge=0,
        description="Bytes of state one tenant's sessions may hold at once: each session's x and the moments its "
                    "method keeps (4 bytes a coordinate), and its set's vectors; a create past it gets 429.  "
                    "0: no limit.")
    session_ttl_s: int = Field(
        0, ge=0, description="Delete a session, all its keys, after this many seconds without a call, by Redis's "
                             "clock: a stall or outage of Redis counts too, so keep it far above any.  0: never (a "
                             "session idle since a service with a TTL wrote it keeps that expiry until its next call).")
    rate_limit: str | None = Field(
        None, description="Requests per API key on /v1, in the limits package's notation (e.g. 200/second), "
                          "counted in Redis when Redis is the store; over it: 429 with Retry-After; unset: no limit.")
    auth_fail_limit: str | None = Field(
        "10/minute", description="Unknown API keys (401) per client address (a call with no key is not "
                                 "counted), in the limits package's notation; past it 429 with Retry-After, "
                                 "a good key still passes.  Empty: no limit.")
    idempotency_ttl_s: int = Field(
        86_400, ge=1, description="How long a POST's Idempotency-Key and first answer are kept.")
    dashboard_cache_s: float = Field(
        1.0, ge=0, description="How old the dashboard's data may be: one store read per this many seconds per "
                               "replica; /metrics' zoadamm_sessions_active, five times this."
    )
    lease_seconds: float = Field(
        10.0, gt=0, le=3600,
        description="How long a worker's lease on directions of a shared step lasts before another worker gets them.",
    )

    @field_validator("redis_cluster")
    @classmethod
    def _cluster_needs_redis(cls, cluster: bool, info: ValidationInfo) -> bool:
        if cluster and not info.data.get("redis_url"):  # else the in-process store, the setting ignored
            raise ValueError("a Redis Cluster is reached through REDIS_URL, a node of it, and REDIS_URL is not set")
        return cluster


_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def shown_url(url: str) -> str:
    """A Redis URL for a log line or an error: its password as ``***``, in the user part and as a
    ``password=`` parameter (redis-py reads both).  Read as text, so a URL that is no Redis URL (an
    error quotes it) is masked too."""
    head, slashes, rest = url.partition("//")
    if slashes:
        end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0] or [len(rest)])
        user_info, at, host = rest[:end].rpartition("@")
        if at and ":" in user_info:
            rest = f"{user_info.split(':', 1)[0]}:***@{host}{rest[end:]}"
        url = f"{head}//{rest}"
    return _PASSWORD_PARAMETER.sub(r"\1***", url)


def environment_variable(field: str) -> str:
    """The environment variable of a ``Settings`` field (its alias, else the prefixed name)."""
    if field not in Settings.model_fields:  # a validation error names the alias it was read from
        return field.upper()
    choices = getattr(Settings.model_fields[field].validation_alias, "choices", None)
    return str(choices[0]) if choices else f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


# Names of zoadamm's other parts (the SDK, the workers, compose and the balancer): not the
# service's, and no misspelling of its settings either, wherever one environment sets them all
READ_ELSEWHERE = frozenset({
    "ZOADAMM_API_KEY", "ZOADAMM_SERVICE_URL", "ZOADAMM_SERVICE_WAIT_S", "ZOADAMM_TRAIN_LIMIT", "ZOADAMM_DATA_DIR",
    "ZOADAMM_PROJECTION_THREADS", "ZOADAMM_BIND", "ZOADAMM_SESSION_SEED", "ZOADAMM_TORCH_SOURCE",
    "ZOADAMM_SERVICE_WORKERS", "ZOADAMM_BALANCER_RATE", "ZOADAMM_BALANCER_CONNECTIONS", "ZOADAMM_BALANCER_REQUEST_S",
    "ZOADAMM_PORT", "ZOADAMM_SCALE", "ZOADAMM_EPOCHS", "ZOADAMM_DIRECTIONS", "ZOADAMM_SEED", "ZOADAMM_MONITORING_BIND",
    "ZOADAMM_PROMETHEUS_PORT", "ZOADAMM_GRAFANA_PORT",
})


def misspelled(environ: Mapping[str, str]) -> list[str]:
    """A line for each ``ZOADAMM_`` name in ``environ`` that is no setting but close to one
    (``ZOADAMM_MAX_DIMS``): the service would run without it, as if it were not set."""
    names = [environment_variable(field) for field in Settings.model_fields]
    lines = []
    for name in sorted(environ):
        if not name.startswith("ZOADAMM_") or name in names or name in READ_ELSEWHERE:
            continue
        close = difflib.get_close_matches(name, names, 1, 0.85)
        if close:
            lines.append(f"{name} is no setting of the service, and is not read: did you mean {close[0]}?")
    if "ZOADAMM_API_KEY" in environ and "ZOADAMM_API_KEYS" not in environ:
        lines.append("ZOADAMM_API_KEY is the key a client sends; the service's keys are ZOADAMM_API_KEYS")
    return lines


def trusts_forwarded_headers() -> bool:
    """Whether the HTTP server takes a client's address from X-Forwarded-For: only where
    ``FORWARDED_ALLOW_IPS`` (uvicorn's and gunicorn's own setting) names the proxies to believe.
    Their default believes any process on 127.0.0.1, which could then name any address to the
    limits that count addresses (ZOADAMM_AUTH_FAIL_LIMIT); a service reached directly has no proxy."""
    return bool(os.environ.get("FORWARDED_ALLOW_IPS"))

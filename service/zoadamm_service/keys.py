"""Every Redis key the service uses, in one place.

A session's keys carry its id as a hash tag, ``zoadamm:{<id>}:<part>``: Redis Cluster puts
them all in one slot, so each script touches one slot, and no id (validated before it gets
here, and braces are not in its alphabet) can name another session's keys.  The index of a
tenant's sessions spans sessions, so it lives outside the tags and outside the scripts.
"""

PREFIX = "zoadamm"
# Pub/sub channel: "<meta key> <seq>" of each split step appended (``scripts.APPEND``)
CLOSES = f"{PREFIX}:closes"


def _session(session_id: str, part: str) -> str:
    return f"{PREFIX}:{{{session_id}}}:{part}"


def meta(session_id: str) -> str:
    """Hash: tenant, config, name, created, head (events so far), ckpt_seq (events the
    checkpoint covers), has_state, and the trace's stride and newest point."""
    return _session(session_id, "meta")


def events(session_id: str) -> str:
    """List: the journal; entry i is event number ckpt_seq + i."""
    return _session(session_id, "events")


def checkpoint(session_id: str) -> str:
    """String: the full state (a wire frame) after event number ckpt_seq."""
    return _session(session_id, "checkpoint")


def staged_checkpoint(session_id: str, token: str) -> str:
    """String: a checkpoint on its way in, renamed into ``checkpoint`` by the script that
    accepts it; it expires by itself if nothing does (``store.redis.STAGED_TTL_MS``)."""
    return _session(session_id, f"checkpoint:staged:{token}")


def metrics(session_id: str) -> str:
    """List: JSON metric reports, oldest first."""
    return _session(session_id, "metrics")


def partials(session_id: str) -> str:
    """Hash: "step:index" -> what one worker reported for one direction of a split step.
    Cleared whenever a step is appended, so it only ever holds the open step's parts."""
    return _session(session_id, "partials")


def leases(session_id: str) -> str:
    """Hash: "step:index" -> "<expiry, ms of the Redis clock> <holder>": who evaluates which
    direction of the open step (``Store.lease``); fields of other steps go at the next lease."""
    return _session(session_id, "leases")


def trace(session_id: str) -> str:
    """List: packed trace points (``domain.trace``), oldest first, every trace_stride-th step."""
    return _session(session_id, "trace")


def idempotency(session_id: str, key: str) -> str:
    """String (expiring): the request digest and first answer of a POST sent with an
    Idempotency-Key; ``key`` is already a digest of the tenant and the header."""
    return _session(session_id, f"idempotency:{key}")


def replication_probe(session_id: str) -> str:
    """String (expiring in 10 s): written just before a WAIT, so that the WAIT covers every
    earlier write of the session (``store.replication``)."""
    return _session(session_id, "probe")


def all_for(session_id: str) -> list[str]:
    """The session's keys but its idempotency records, which expire by themselves."""
    return [
        meta(session_id), events(session_id), checkpoint(session_id),
        metrics(session_id), partials(session_id), trace(session_id), leases(session_id),
    ]


def tenant_sessions(tenant: str) -> str:
    """Sorted set: a tenant's session ids by creation time (tenant names are validated)."""
    return f"{PREFIX}:tenant:{tenant}:sessions"


def tenant_sizes(tenant: str) -> str:
    """Hash: the bytes of state each of a tenant's sessions holds, by id.  Its hash tag is the
    whole index key (which has no braces), so it lives in the index's slot: one script reads both."""
    return f"{{{tenant_sessions(tenant)}}}:bytes"


def session_of(key: str) -> str:
    """The session id in one of its keys (the hash tag)."""
    return key[key.index("{") + 1 : key.index("}")]


def index_probe(index: str) -> str:
    """String (expiring in 10 s): the probe of ``replication_probe`` for a tenant's index.  Its
    hash tag is the whole index key (which has no braces), so it lives in the index's slot."""
    return f"{{{index}}}:probe"

"""Every Redis key the service uses, in one place."""

PREFIX = "zoadamm"
SESSIONS = f"{PREFIX}:sessions"  # sorted set: session id -> creation time


def meta(session_id: str) -> str:
    """Hash: config, name, created, head (events so far), base (first event kept), ckpt_seq."""
    return f"{PREFIX}:session:{session_id}"


def events(session_id: str) -> str:
    """List: the journal; entry i is event number base + i."""
    return f"{PREFIX}:session:{session_id}:events"


def checkpoint(session_id: str) -> str:
    """String: the full state (a wire frame) after event number ckpt_seq."""
    return f"{PREFIX}:session:{session_id}:checkpoint"


def metrics(session_id: str) -> str:
    """List: JSON metric reports, oldest first."""
    return f"{PREFIX}:session:{session_id}:metrics"


def partials(session_id: str) -> str:
    """Hash: "step:index" -> what one worker reported for one direction of a split step.
    Cleared whenever a step is appended, so it only ever holds the open step's parts."""
    return f"{PREFIX}:session:{session_id}:partials"


def trace(session_id: str) -> str:
    """List: packed trace points (``domain.trace``), oldest first, every trace_stride-th step;
    the meta hash keeps trace_stride and trace_last (the newest point)."""
    return f"{PREFIX}:session:{session_id}:trace"


def all_for(session_id: str) -> list[str]:
    return [
        meta(session_id), events(session_id), checkpoint(session_id),
        metrics(session_id), partials(session_id), trace(session_id),
    ]

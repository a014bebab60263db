"""Domain errors; ``api.handlers`` maps each class to one HTTP status, the one it is declared
with (``class NotFound(ServiceError, status=404)``)."""

from __future__ import annotations


class ServiceError(Exception):
    status = 500

    def __init_subclass__(cls, status: int | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = cls.status if status is None else status  # a subclass keeps its parent's

    def __init__(self, message: str, **details) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(ServiceError, status=422):
    """The request is well-formed but its values are not acceptable."""


class Malformed(ServiceError, status=400):
    """The body cannot be decoded at all."""


class NotFound(ServiceError, status=404):
    """No such session."""

    @classmethod
    def session(cls, session_id: str) -> NotFound:
        return cls(f"no session {session_id!r}")


class Conflict(ServiceError, status=409):
    """The session moved on (stale or future step, another writer); ``details`` has its step."""


class StepInParts(Conflict):
    """A tell of a whole step some of whose directions were reported apart (``Store.append``
    with ``whole``): its values are compared with those parts first; ``details["other"]``: a
    direction reported with other values, once compared."""


class RequestTimeout(ServiceError, status=408):
    """The request body did not arrive in time."""


class TooLarge(ServiceError, status=413):
    """The body is over its limit."""


class Unsupported(ServiceError, status=415):
    """The body's media type is not one the service reads."""


class QuotaExceeded(ServiceError, status=429):
    """A tenant's quota (sessions) or rate limit is used up."""


class ServiceBusy(ServiceError, status=503):
    """The call did not get its turn (``ZOADAMM_MAX_CALLS``) in time, or other writers moved its
    session on at every try (other replicas' steps): busy, which a retry waits out."""


class StoreUnavailable(ServiceError, status=503):
    """The store does not answer."""


class StoreDamaged(ServiceError, status=500):
    """The store answers, but a session's records in it are not whole (keys evicted or deleted)."""


class SessionReplaced(ServiceBusy):
    """The session under this id was made anew (deleted or expired, then created again with the
    same Idempotency-Key) since this process read it: its copy is dropped, and a retry reads anew."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} was made anew since this service process read it "
                         "(deleted, then created again with its Idempotency-Key); retry")
        self.session_id = session_id

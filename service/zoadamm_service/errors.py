"""Domain errors; ``api.handlers`` maps each class to one HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    status = 500

    def __init__(self, message: str, **details) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(ServiceError):
    """The request is well-formed but its values are not acceptable (422)."""

    status = 422


class Malformed(ServiceError):
    """The body cannot be decoded at all (400)."""

    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """The session moved on (stale or future step, another writer); ``details`` has its step."""

    status = 409


class RequestTimeout(ServiceError):
    """The request body did not arrive in time (408)."""

    status = 408


class TooLarge(ServiceError):
    status = 413


class Unsupported(ServiceError):
    status = 415


class QuotaExceeded(ServiceError):
    """A tenant's quota (sessions) or rate limit is used up (429)."""

    status = 429


class StoreUnavailable(ServiceError):
    status = 503

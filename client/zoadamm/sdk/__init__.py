"""The HTTP client SDK: ``Client``/``AsyncClient`` mirror the API; ``RemoteOptimizer`` and
``minimize`` drive whole runs."""

from ._http import RetryPolicy
from .client import AsyncClient, Client
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    EventLoopError,
    ForeignServerError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)
from .interrupted import Interrupted
from .minimize import MinimizeResult, minimize
from .models import Parameters, Session, SessionSummary, StepInfo, TellResult, Trace
from .remote import RemoteOptimizer
from .sessions import AsyncSessions, Sessions
from .shared import SharedRun, Work
from .switching import fast_switching

__all__ = [
    "APIConnectionError", "APIError", "APIStatusError", "APITimeoutError", "AsyncClient", "AsyncSessions",
    "AuthenticationError", "BadRequestError", "Client", "ClientClosedError", "ConflictError", "EventLoopError",
    "ForeignServerError",
    "InternalServerError", "Interrupted",
    "MinimizeResult",
    "NotFoundError", "Parameters", "PayloadTooLargeError", "RateLimitError", "RemoteOptimizer", "RetryPolicy",
    "ServiceUnavailableError", "Session", "SessionSummary", "Sessions", "SharedRun", "StepInfo", "TellResult", "Trace",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError", "Work", "fast_switching", "minimize",
]

"""What the command-line tools print when the service fails them: one line that names the URL
and says what to do, and a non-zero exit status; ``--debug`` shows the traceback instead."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import httpx

from zoadamm import Client, ZoadammError
from zoadamm.sdk import APIConnectionError, APIStatusError, ConflictError, ForeignServerError, NotFoundError

START_HINT = "start one with `zoadamm-service --port 8000` (in .venv/bin) or pass --service URL"


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")


def check_service(url: str) -> None:
    """One ``/healthz`` request without retries, so that a service that is not there is reported
    in milliseconds rather than after the SDK's backoff (retries are for a service that blinks).

    Raises:
        zoadamm.sdk.APIConnectionError, zoadamm.sdk.APIStatusError: see ``explain``.
    """
    with Client(url) as client:
        client.health(retry=False)
        client.sessions.list(limit=1)  # the API key: a 401 now, not after the data has loaded


def explain(error: ZoadammError, service: str | None) -> str:
    """One line for a failure of the service at ``service`` (the URL the user gave)."""
    where = service or getattr(error, "url", None) or "the service"
    if isinstance(error, APIConnectionError):
        return f"cannot reach the zoadamm service at {where} ({_reason(error)}); {START_HINT}"
    if not isinstance(error, APIStatusError):
        return str(error)
    if isinstance(error, ForeignServerError):  # the SDK's rule: no answer a zoadamm service gives
        return (f"no zoadamm service at {where} ({error.url} answered {error.status_code} "
                f"{error.response.reason_phrase}: another HTTP server); {START_HINT}")
    status, detail = error.status_code, error.body.get("detail") or error.response.reason_phrase
    if status in (401, 403):
        return (f"{error.url} answered {status} ({detail}): set ZOADAMM_API_KEY to a key this service "
                f"accepts (its operator makes one with `zoadamm-service keys new TENANT`)")
    if isinstance(error, NotFoundError) and error.no_such_path:
        return (f"{error.url} answered 404: {where} is not the root of a zoadamm service (its API lives "
                f"at <root>/v1/sessions); pass the root, such as --service http://127.0.0.1:8000")
    if isinstance(error, NotFoundError):
        return (f"the service at {where} no longer has this run's session ({detail}): it was deleted, or "
                f"the service restarted on its in-process store (set REDIS_URL to keep sessions); start the run again")
    if isinstance(error, ConflictError):
        return (f"the service at {where} refused the step (409: {detail}; the session is at step "
                f"{error.step}): another client is driving the same session; give each run its own session")
    return f"the service at {where} failed: {error}"


def run_command(prog: str, command: Callable[[], int], *, debug: bool, service: str | None) -> int:
    """``command()``, with the SDK's errors turned into one line on stderr and exit status 1."""
    try:
        return command()
    except ZoadammError as error:
        if debug:
            raise
        print(f"{prog}: {explain(error, service)} (--debug shows the traceback)", file=sys.stderr)
        return 1


def _reason(error: APIConnectionError) -> str:
    cause = error.__cause__
    if isinstance(cause, httpx.ConnectTimeout):
        return "no answer to the connection"
    if isinstance(cause, httpx.TimeoutException):
        return "timed out"
    if isinstance(cause, httpx.ConnectError):
        text = str(cause)
        if "refused" in text.lower():
            return "connection refused"
        return text or "cannot connect"
    return str(cause or error)

"""What the worker's command-line tools print when they cannot go on: one line that says what
is wrong and what to do, and a non-zero exit status; ``--debug`` shows the traceback instead.

The mechanics (one-line parse errors, ``--version``, ``--debug``, Ctrl-C and SIGTERM) are the
service package's ``console``, shared by every zoadamm command; here are the worker's words:
the service's failures, which name its URL, and how an interrupted run continues.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

import httpx

from zoadamm import Client, InvalidArgument, ZoadammError
from zoadamm.sdk import (
    APIConnectionError,
    APIStatusError,
    ConflictError,
    ForeignServerError,
    InternalServerError,
    Interrupted,
    NotFoundError,
    ServiceUnavailableError,
)
from zoadamm.sdk._http import start_command
from zoadamm.sdk.errors import GATEWAY_STATUSES
from zoadamm_service import console
from zoadamm_service.launch import ServiceStartError

from .diverged import Diverged
from .mnist import MnistError
from .records import RecordError


def start_hint(service: str | None) -> str:
    command = start_command(service)
    return f"start one with `{command}` (in .venv/bin) or pass --service URL" if command else "check --service URL"


def check_service(url: str, join: str | None = None, *, wait: float = 0.0, wait_if_absent: bool = False) -> None:
    """One ``/healthz`` request without retries, so that a service that is not there is reported
    in milliseconds rather than after the SDK's backoff; then the API key, and the session to
    ``join`` when there is one.

    A service on its way is waited for as a running worker rides out a restart: a 502 or 504 (a
    balancer with no replica up yet) or a 503 (that, or a store that blinks) is asked again for
    ``wait`` seconds (the worker's --service-wait), and so is a URL where nothing answers when
    ``wait_if_absent`` (the user gave that wait: the service may be restarting); the wait is
    said at once in one line (the SDK's WARNING).  Without a wait, a 503 gets the SDK's tries.

    Raises:
        zoadamm.sdk.APIConnectionError, zoadamm.sdk.APIStatusError: see ``explain``.
        zoadamm.InvalidArgument: the service has no session ``join``.
    """
    with Client(url) as client:
        try:
            client.health(retry=False)
        except (APIConnectionError, InternalServerError) as away:
            coming = isinstance(away, InternalServerError) and away.status_code in GATEWAY_STATUSES
            if wait > 0 and (coming or (wait_if_absent and isinstance(away, APIConnectionError))):
                # max_retries=0: the first failure already says that it waits, not the sixth seconds later
                with Client(url, max_retries=0, retry_window=wait) as waiting:
                    waiting.health()
            elif isinstance(away, ServiceUnavailableError):  # its store not yet: a blip is waited out
                client.health()
            else:
                raise
        client.sessions.list(limit=1)  # the API key: a 401 now, not after the data has loaded
        if join is None:
            return
        try:
            client.sessions.get(join)
        except NotFoundError as error:
            if error.no_such_path:
                raise
            raise InvalidArgument(f"the service at {url} has no session {join}: --join takes the id of a "
                                  f"session it holds (`curl {url}/v1/sessions` lists them)") from error


def explain(error: ZoadammError, service: str | None) -> str:
    """One line for a failure of the service at ``service`` (the URL the user gave)."""
    where = service or getattr(error, "url", None) or "the service"
    if isinstance(error, APIConnectionError):
        return f"cannot reach the zoadamm service at {where} ({_reason(error)}); {start_hint(service)}"
    if isinstance(error, ForeignServerError):  # the SDK's rule: no answer a zoadamm service gives
        # that port is taken: a service started on it would not bind, so the hint is another URL
        return (f"no zoadamm service at {where} ({error.url} answered {error.status_code} "
                f"{error.response.reason_phrase}: another HTTP server holds that port); pass --service "
                f"with the URL of a zoadamm service, or start one on a free port")
    if not isinstance(error, APIStatusError):
        return str(error)
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
    if isinstance(error, ConflictError) and "x differs" in detail:  # a joining worker's x0 is not the session's
        return (f"the service at {where} refused this run's x0 (409: {detail}): a run that joins a session starts "
                "from the session's x0: give it the options the session was created with (rest: --x0; "
                "mnist: --seed and --scale)")
    if isinstance(error, ConflictError) and "not open yet" in detail:  # the session went back: its store lost steps
        return (f"the service at {where} refused the step (409: {detail}): the session is behind this run, so its "
                "store lost acknowledged steps (a Redis that restarted without its last writes, or a failover); "
                "restart the service's replicas (docs/deploy.md) and start the run again")
    if isinstance(error, ConflictError):
        return (f"the service at {where} refused the step (409: {detail}): another client is driving the same "
                "session; give each run its own session")
    if status in (400, 422):
        return f"the service at {where} refused the request: {error}"
    return f"the service at {where} failed: {error}"


def failure_line(error: Exception, service: str | None) -> str | None:
    """The one line for a failure a user can cause; None for a bug (its traceback shows)."""
    if isinstance(error, ZoadammError):
        return explain(error, service)
    if isinstance(error, MnistError | Diverged | RecordError):
        return str(error)
    if isinstance(error, ServiceStartError):  # the message ends with the service's log
        first, *log = str(error).splitlines()
        said = [line.strip() for line in log if line.strip()]
        return f"{first.rstrip(':')}; its last words: {said[-1]}" if said else first
    if isinstance(error, FileExistsError | NotADirectoryError) and error.filename:  # a file where a folder goes
        strerror = error.strerror or ""  # "--record: ..." where records.check_writable named the option
        option = strerror.split(":")[0] + ": " if strerror.startswith("--") else ""
        return (f"{option}cannot write under {error.filename}: a part of that path is a file, not a folder; "
                "give a path whose folders are folders (or do not exist yet)")
    if isinstance(error, OSError):  # a record file or folder that cannot be written
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    return None


def command_again(prog: str, argv: Sequence[str], flag: str | None = "--resume") -> str:
    """The command line that continues a run: the same one, with ``flag`` added unless it is
    there already."""
    return shlex.join([prog, *argv, *([flag] if flag and flag not in argv else [])])


def stopped_answering(prog: str, service: str, lost: APIConnectionError, argv: Sequence[str],
                      joined: str | None = None) -> str:
    """What a run that lost its service mid-way prints: where it stood, and what continues it.
    ``joined``: the session a ``--join`` worker shares, which the same command joins again."""
    where = (f"at step {lost.step} (session {lost.session_id})" if joined is None
             else f"while this worker shared session {joined}")
    again = command_again(prog, argv, None if joined is not None else "--resume")
    return (f"the service at {service} stopped answering {where}; a service on Redis keeps the steps told: "
            f"once it answers, continue with: {again}")


def continue_line(prog: str, argv: Sequence[str], stop: KeyboardInterrupt, *, flag: str | None = "--resume") -> str:
    """What an interrupted run prints: where it stopped, and the command that continues it
    (the same command line, with ``flag`` added unless it is there already)."""
    where = (f"interrupted at step {stop.step} of session {stop.session_id}; the steps told are kept"
             if isinstance(stop, Interrupted) else "interrupted")
    return f"{where}; continue with: {command_again(prog, argv, flag)}"


def run_command(prog: str, command: Callable[[], int], *, debug: bool, service: str | None,
                interrupted: Callable[[KeyboardInterrupt], str] | None = None) -> int:
    """``command()``, with the failures a user can cause turned into one line on stderr and exit
    status 1, and Ctrl-C into ``interrupted(stop)`` (see ``zoadamm_service.console.run``)."""
    return console.run(prog, command, debug=debug, explain=lambda error: failure_line(error, service),
                       interrupted=interrupted or (lambda stop: "interrupted"))


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

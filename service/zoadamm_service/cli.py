"""``zoadamm-service``: run the service, or make API keys.

    zoadamm-service [--host H] [--port P] [--workers N]    run it (REDIS_URL for Redis)
    zoadamm-service keys new TENANT [--env]                print a fresh key and its entry

Settings come from the environment (ZOADAMM_*, and REDIS_URL); a bad one is refused in one
line that names its variable.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse
from pydantic import ValidationError

from . import console
from .settings import Settings, environment_variable, shown_url, trusts_forwarded_headers
from .store.server_checks import CLUSTER_NODE
from .tenants import OPEN_TENANT, OPEN_TENANT_NOTE, KeyConfigError, KeyRing, entry, new_key

log = logging.getLogger("zoadamm.service")
PROG = "zoadamm-service"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keys"]:
        return keys(argv[1:])
    return run(argv)


def keys_parser() -> argparse.ArgumentParser:
    parser = console.CommandParser(prog=f"{PROG} keys", description="Make API keys.")
    console.add_version(parser, "zoadamm-service")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    made = sub.add_parser("new", help="print a fresh random key (256 bits) for TENANT and its entry",
                          description="Print a fresh random key (256 bits) for TENANT and its entry.")
    console.add_version(made, "zoadamm-service")
    made.add_argument("tenant", help="the tenant's name: 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric)")
    made.add_argument("--env", action="store_true",
                      help="print them as the two lines of a docker compose .env file instead")
    return parser


def keys(argv: list[str]) -> int:
    parser = keys_parser()
    args = parser.parse_args(argv)
    key = new_key()
    try:
        line = entry(args.tenant, key)
    except KeyConfigError as error:
        parser.error(str(error))
    if args.tenant == OPEN_TENANT:
        print(f"note: {OPEN_TENANT_NOTE}", file=sys.stderr)
    if args.env:  # docker compose reads .env: the service's entry and the workers' key
        print(f"ZOADAMM_API_KEYS={line}\nZOADAMM_API_KEY={key}")
        return 0
    print(f"key (give it to the client, as ZOADAMM_API_KEY; it is not shown again): {key}")
    print(f"entry (add it to the service's ZOADAMM_API_KEYS, comma-separated): {line}")
    return 0


def run_parser() -> argparse.ArgumentParser:
    parser = console.CommandParser(prog=PROG, description=__doc__)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; beyond loopback it needs ZOADAMM_API_KEYS "
                             "(or ZOADAMM_ALLOW_OPEN=true)")
    parser.add_argument("--port", type=_port, default=8000, help="TCP port to listen on")
    parser.add_argument("--workers", type=console.positive(int), default=1,
                        help="worker processes (needs REDIS_URL when > 1)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", type=str.lower,
                        help="how much the service logs")
    console.add_version(parser, "zoadamm-service")
    console.add_debug(parser)
    return parser


def run(argv: list[str]) -> int:
    parser = run_parser()
    args = parser.parse_args(argv)
    return console.run(PROG, lambda: _serve(parser, args), debug=args.debug, explain=_explain,
                       interrupted=lambda stop: "stopped")


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import uvicorn

    from . import workers
    from .http_protocol import HttpProtocol

    settings = Settings()
    _check(parser, args, settings)
    where = (shown_url(settings.redis_url) if settings.redis_url
             else "the in-process store (nothing survives a restart; set REDIS_URL for Redis)")
    logging.basicConfig(level=args.log_level.upper() if args.log_level != "trace" else 5)
    log.info("sessions are kept in %s", where)
    if args.workers > 1:
        workers.run(args.host, args.port, args.workers, args.log_level)  # gunicorn; does not return
    if folder := os.environ.get(workers.MULTIPROC):  # before the app makes the metrics' files
        workers.drop_dead_samples(folder)
    uvicorn.run(
        "zoadamm_service.main:serve_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_level=args.log_level, server_header=False, http=HttpProtocol,
        proxy_headers=trusts_forwarded_headers(),
        # uvicorn formats each answer's access line before the logger drops it below info
        access_log=LOG_LEVELS.index(args.log_level) >= LOG_LEVELS.index("info"),
    )
    return 0


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings) -> None:
    """Settings that disagree with the options, or that no request could ever use, refused at start."""
    if settings.redis_url and (reason := _unreadable_url(settings.redis_url)) is not None:
        parser.error(f"REDIS_URL={shown_url(settings.redis_url)!r} is not a Redis URL{reason} (redis://HOST:6379/0, "
                     "rediss://..., unix:///path/to/socket)")
    if settings.redis_cluster and settings.redis_url and urlsplit(settings.redis_url).path.strip("/") not in ("", "0"):
        parser.error(f"REDIS_URL={shown_url(settings.redis_url)!r} names a database other than 0, which a Redis "
                     "Cluster does not have: end it with /0 (or unset ZOADAMM_REDIS_CLUSTER for a single Redis)")
    if settings.max_body_bytes_in_flight < settings.max_body_bytes:
        parser.error(f"ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT={settings.max_body_bytes_in_flight} is below "
                     f"ZOADAMM_MAX_BODY_BYTES={settings.max_body_bytes}: no body of the largest size could be received")
    at_most = min(settings.redis_connect_timeout_s, 2.0)  # a Redis that does not answer delays the start no longer
    if settings.redis_url and not settings.redis_cluster and _a_cluster_node(settings.redis_url, at_most):
        parser.error(CLUSTER_NODE)  # else every call would be a 503 that clients retry for their whole window
    from zoadamm.projection_threads import setting_error as threads_setting_error

    if wrong := threads_setting_error():  # the l2 ball's passes, read by the core package
        parser.error(wrong)
    if args.workers > 1 and not settings.redis_url:
        parser.error("--workers > 1 needs REDIS_URL: the in-process store cannot be shared between processes")
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and any(p.exists() and not p.is_dir() for p in (Path(folder), *Path(folder).parents)):
        parser.error(f"PROMETHEUS_MULTIPROC_DIR={folder}: a file stands where that folder goes")
    if wrong := console.cannot_listen(args.host, 0):  # first: a host no one can serve there needs no keys
        parser.error(wrong)
    if settings.api_keys:
        try:
            KeyRing.parse(settings.api_keys)
        except KeyConfigError as error:
            parser.error(str(error))
    elif not _is_loopback(exposed := settings.published_address or args.host) and not settings.allow_open:
        parser.error(f"refusing to serve {exposed} without API keys: set ZOADAMM_API_KEYS "
                     "(`zoadamm-service keys new TENANT`), or ZOADAMM_ALLOW_OPEN=true to run open anyway")
    rates = {"ZOADAMM_RATE_LIMIT": settings.rate_limit, "ZOADAMM_AUTH_FAIL_LIMIT": settings.auth_fail_limit}
    for variable, rate in rates.items():
        try:
            parse(rate) if rate else None
        except ValueError:
            parser.error(f"{variable}={rate!r} is not a rate such as 200/second or 10/minute")
    if wrong := console.cannot_listen(args.host, args.port):
        parser.error(wrong)


def _unreadable_url(url: str) -> str | None:
    """None for a Redis URL redis-py reads; else what is wrong, as ": why" ("" for a scheme that is
    not Redis's).  redis-py reads a database that is no number as 0: that is refused here."""
    from redis.connection import parse_url

    try:
        parts = urlsplit(url)
        if parts.scheme not in REDIS_SCHEMES:
            return ""
        parse_url(url)
    except ValueError as error:  # a port that is no number, a broken IPv6 address
        return f": {error}"
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        return f": the database {database!r} is not a number"
    return None


def _a_cluster_node(url: str, timeout: float) -> bool:
    """Whether REDIS_URL answers as a node of a Redis Cluster within ``timeout`` seconds; False
    when nothing answers now (``/healthz`` names what is wrong once it does)."""
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout) as client:
            return bool(client.info("cluster").get("cluster_enabled"))
    except (redis.RedisError, OSError):
        return False


def _explain(error: Exception) -> str | None:
    """Settings that do not parse, by the environment variable that holds them."""
    if isinstance(error, ValidationError) and error.title == Settings.__name__:
        return "; ".join(f"{environment_variable(str(e['loc'][0]))}={e['input']!r}: {e['msg']}" for e in error.errors())
    return None


def _port(text: str) -> int:
    port = console.at_least(int, 1)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port, 1 to 65535, got {text!r}")
    return int(port)


def _is_loopback(host: str) -> bool:
    # imported here: the API's modules make the metrics, which open files where
    # PROMETHEUS_MULTIPROC_DIR says, and --help, --version and `keys new` need none of that
    from .api.auth import is_loopback

    return is_loopback(host)

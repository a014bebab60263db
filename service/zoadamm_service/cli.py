"""``zoadamm-service``: run the service, or make API keys.

    zoadamm-service [--host H] [--port P] [--workers N]    run it (REDIS_URL for Redis)
    zoadamm-service keys new TENANT [--env]                print a fresh key and its entry
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from limits import parse

from .settings import Settings
from .tenants import KeyConfigError, KeyRing, entry, new_key

log = logging.getLogger("zoadamm.service")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keys"]:
        keys(argv[1:])
    else:
        run(argv)


def keys(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="zoadamm-service keys", description="Make API keys.")
    sub = parser.add_subparsers(dest="command", required=True)
    made = sub.add_parser("new", help="print a fresh random key (256 bits) for TENANT and its entry")
    made.add_argument("tenant")
    made.add_argument("--env", action="store_true", help="print them as the two lines of an .env file instead")
    args = parser.parse_args(argv)
    key = new_key()
    try:
        line = entry(args.tenant, key)
    except KeyConfigError as error:
        parser.error(str(error))
    if args.env:  # docker compose reads .env: the service's entry and the workers' key
        print(f"ZOADAMM_API_KEYS={line}\nZOADAMM_API_KEY={key}")
        return
    print(f"key (give it to the client, as ZOADAMM_API_KEY; it is not shown again): {key}")
    print(f"entry (add it to the service's ZOADAMM_API_KEYS, comma-separated): {line}")


def run(argv: list[str]) -> None:
    import uvicorn

    from . import workers

    parser = argparse.ArgumentParser(prog="zoadamm-service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (needs REDIS_URL when > 1)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.workers > 1 and not settings.redis_url:
        parser.error("--workers > 1 needs REDIS_URL: the in-process store cannot be shared between processes")
    if settings.api_keys:
        try:
            KeyRing.parse(settings.api_keys)
        except KeyConfigError as error:
            parser.error(str(error))
    elif not is_loopback(exposed := settings.published_address or args.host) and not settings.allow_open:
        parser.exit(2, f"zoadamm-service: refusing to serve {exposed} without API keys: set ZOADAMM_API_KEYS "
                       "(`zoadamm-service keys new TENANT`), or ZOADAMM_ALLOW_OPEN=true to run open anyway\n")
    if settings.rate_limit:
        try:
            parse(settings.rate_limit)
        except ValueError:
            parser.error(f"ZOADAMM_RATE_LIMIT={settings.rate_limit!r} is not a rate such as 200/second or 10/minute")
    where = settings.redis_url or "the in-process store (nothing survives a restart; set REDIS_URL for Redis)"
    logging.basicConfig(level=args.log_level.upper())
    log.info("sessions are kept in %s", where)
    if args.workers > 1:
        workers.run(args.host, args.port, args.workers, args.log_level)  # gunicorn; does not return
    uvicorn.run(
        "zoadamm_service.main:serve_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_level=args.log_level, server_header=False,
    )


def is_loopback(host: str) -> bool:
    host = host.strip("[]")  # an IPv6 address as compose writes it
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost may resolve anywhere
        return False

"""What a client is made with, checked when it is made: a bad URL, key, timeout or retry count
fails there, in one line, instead of as a broken connection on the first call."""

from __future__ import annotations

import functools
import math
import os
import ssl
from urllib.parse import urlsplit

import httpx
import numpy as np

from .._validate import InvalidArgument, shown

DEFAULT_URL = "http://127.0.0.1:8000"
API_KEY_ENV = "ZOADAMM_API_KEY"
MAX_TIMEOUT_S = 1e6  # about 12 days: httpx adds a timeout to a clock, which 1e12 overflows


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), made once
    per process and shared by every client: making one reads the CA bundle, which a program
    that opens a client per session or per thread paid for each."""
    return httpx.create_ssl_context()


def checked_key(api_key: str | None) -> str | None:
    """``api_key``, or ``$ZOADAMM_API_KEY`` when it is None; InvalidArgument when it cannot be a
    Bearer token (empty, spaces, characters outside ASCII), which would otherwise fail as a broken
    connection or an encoding error.  The message never shows the key."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    if key is not None and (not isinstance(key, str) or not key or not key.isascii() or not key.isprintable()
                            or any(c.isspace() for c in key)):
        where = "api_key" if api_key is not None else f"${API_KEY_ENV}"
        raise InvalidArgument(f"{where} must be a non-empty API key of printable ASCII without spaces "
                              "(as `zoadamm-service keys new` makes them)")
    return key


def checked_options(base_url, timeout, max_retries, http_client, asynchronous: bool = False,
                    retry_window: object = 0.0) -> None:
    """The base URL (unless an httpx client brings its own), the timeout, the retry count and
    window, and the httpx client's kind (``asynchronous``: an AsyncClient's)."""
    if http_client is None:
        parts = urlsplit(str(base_url)) if isinstance(base_url, (str, httpx.URL)) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"base_url must be an http:// or https:// URL with a host, such as {DEFAULT_URL}; "
                                  f"got {shown(base_url)}")
    if not (timeout is None or isinstance(timeout, (httpx.Timeout, tuple))  # httpx reads a tuple itself
            or (isinstance(timeout, (int, float, np.integer, np.floating)) and not isinstance(timeout, bool)
                and 0 < timeout <= MAX_TIMEOUT_S)):
        raise InvalidArgument(f"timeout must be seconds > 0 (at most {MAX_TIMEOUT_S:g}), an httpx.Timeout or None "
                              f"(no timeout); got {shown(timeout)}")
    wanted = httpx.AsyncClient if asynchronous else httpx.Client
    if http_client is not None and not isinstance(http_client, wanted):
        raise InvalidArgument(f"http_client must be an {wanted.__module__}.{wanted.__name__} here, "
                              f"got {type(http_client).__name__}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, (int, np.integer)) or max_retries < 0:
        raise InvalidArgument(f"max_retries must be a whole number >= 0; got {shown(max_retries)}")
    if not (isinstance(retry_window, (int, float, np.integer, np.floating)) and not isinstance(retry_window, bool)
            and 0 <= retry_window < math.inf):
        raise InvalidArgument(f"retry_window must be a finite number of seconds >= 0; got {shown(retry_window)}")


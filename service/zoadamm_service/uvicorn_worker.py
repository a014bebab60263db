"""The gunicorn worker class of ``zoadamm-service --workers N``: uvicorn's, without the
``server`` header (it names the software and its version to anyone who asks), believing
X-Forwarded-For only where FORWARDED_ALLOW_IPS is set (``settings.trusts_forwarded_headers``), and
refusing unreadable bytes in JSON (``http_protocol``)."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from .http_protocol import HttpProtocol
from .settings import trusts_forwarded_headers


class Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "server_header": False,
                                                "proxy_headers": trusts_forwarded_headers(), "http": HttpProtocol}

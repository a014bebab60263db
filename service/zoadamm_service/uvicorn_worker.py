"""The gunicorn worker class of ``zoadamm-service --workers N``: uvicorn's, without the
``server`` header (it names the software and its version to anyone who asks)."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "server_header": False}

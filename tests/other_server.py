"""Another HTTP server where a zoadamm service was expected, shared by every test folder:
Python's own ``python -m http.server``, in a process of its own, as a user would start it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zoadamm_service.launch import free_port


@contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """``python -m http.server`` serving ``folder`` on a free local port; yields its URL.

    It answers a POST with 501, a missing path with an HTML 404 page, and a file with 200.
    """
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:  # until it listens; a server that died fails here rather than hangs
            assert server.poll() is None, "python -m http.server did not start"
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()

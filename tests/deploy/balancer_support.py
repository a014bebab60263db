"""deploy/nginx/nginx.conf run by the system nginx in front of local service processes: the
repository's config, with only `service:8000` rewritten to the replicas' ports, the listen port
to a free one, and temp files in a folder the test owns."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from zoadamm_service.launch import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "nginx" / "nginx.conf"


def nginx_config(text: str, upstreams: list[int], port: int, folder: Path, header_timeout: str | None = None) -> str:
    """The repository's config with its upstream and listen port rewritten (and, for the slow
    client test, a shorter header timeout); temp files in ``folder``, which the test owns."""
    servers = "".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n        " for p in upstreams)
    text, n = re.subn(r"server service:8000 [^;]*;\n\s*", servers, text)
    assert n == 1, "the config must name the upstream as `server service:8000 ...;`"
    text, n = re.subn(r"listen 8000;", f"listen 127.0.0.1:{port};", text)
    assert n == 1
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temps = "".join(f"    {kind}_temp_path {folder / kind};\n" for kind in kinds)
    text = text.replace("http {\n", "http {\n" + temps, 1)
    if header_timeout:
        text = re.sub(r"client_header_timeout \w+;", f"client_header_timeout {header_timeout};", text)
    return text


class Balancer:
    def __init__(self, upstreams: list[int], folder: Path, **rewrite) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = folder / "nginx.conf"
        conf.write_text(nginx_config(CONFIG.read_text(), upstreams, self.port, folder, **rewrite))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        # `user root`: run as root (as here), workers would otherwise drop to an account that
        # cannot write in folder; as another user nginx ignores it, with a warning
        self.proc = subprocess.Popen([nginx, "-p", str(folder), "-c", str(conf), "-g",
                                      f"daemon off; pid {folder / 'nginx.pid'}; user root;"],
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30  # a guard against an nginx that never listens
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"nginx did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

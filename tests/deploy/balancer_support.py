"""deploy/haproxy/haproxy.cfg run by the system HAProxy in front of local service processes: the
repository's config, with only its `server-template` (compose's DNS name `service`) rewritten to
the replicas' ports and its listen address to a free port.  Its per-client limits come from the
environment, as in compose."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from zoadamm_service.launch import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
PROBE = "127.0.0.254"  # the address that checks the balancer listens
LIMITS = ("ZOADAMM_BALANCER_CONNECTIONS", "ZOADAMM_BALANCER_RATE", "ZOADAMM_BALANCER_REQUEST_S")


def haproxy_config(text: str, upstreams: list[int], port: int) -> str:
    """The repository's config with its replicas and listen address rewritten."""
    servers = "".join(f"    server replica{i} 127.0.0.1:{p}\n" for i, p in enumerate(upstreams))
    text, n = re.subn(r"^    server-template service .*\n", servers, text, flags=re.M)
    assert n == 1, "the config must name the replicas as `server-template service ... service:8000 ...`"
    text, n = re.subn(r"^    bind :8000$", f"    bind 127.0.0.1:{port}", text, flags=re.M)
    assert n == 1
    return text


class Balancer:
    """HAProxy on a free port; ``limits`` sets its per-client limits (environment variables)."""

    def __init__(self, upstreams: list[int], folder: Path, **limits: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = folder / "haproxy.cfg"
        conf.write_text(haproxy_config(CONFIG.read_text(), upstreams, self.port))
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        assert Path(haproxy).exists(), "haproxy is missing: `make setup` installs it (apt-get install haproxy)"
        env = {k: v for k, v in os.environ.items() if k not in LIMITS}
        env.update({f"ZOADAMM_BALANCER_{name.upper()}": value for name, value in limits.items()})
        self.log = folder / "haproxy.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen([haproxy, "-db", "-f", str(conf)], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30  # a guard against a balancer that never listens
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                # from an address of its own: the tests count what 127.0.0.1 sends
                with socket.create_connection(("127.0.0.1", self.port), timeout=1, source_address=(PROBE, 0)):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"haproxy did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

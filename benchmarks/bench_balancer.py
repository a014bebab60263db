"""What the balancer costs a step: ZO tells (q = 1, d = 1,400 quadratic, x in every answer,
binary frames, one client) straight to a replica and through the balancer of the compose file
(deploy/haproxy/haproxy.cfg, run by the system HAProxy, two replicas on one Redis); with
``--nginx-config PATH``, also through nginx running that config (its `server service:8000`
line rewritten the same way), for an A/B against an nginx balancer.  The modes run in
alternating blocks, so machine noise hits them alike.

Reported: each mode's median step time per block, and the median over blocks of its ratio to
the direct mode (and, with nginx, of HAProxy's to nginx's): blocks side by side share the
machine's load at that moment.  The direct mode talks to one of the two replicas, which also
serves half of the balanced steps.

    python benchmarks/bench_balancer.py --steps 400 --blocks 5
    git show 75b160c:deploy/nginx/nginx.conf > /tmp/nginx.conf
    python benchmarks/bench_balancer.py --steps 400 --blocks 5 --nginx-config /tmp/nginx.conf
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_dashboard import Loop
from harness import redis_server, service

from zoadamm_service.launch import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "deploy"))
from balancer_support import Balancer  # type: ignore[import-not-found]  # noqa: E402  (the tests' launcher)


@contextlib.contextmanager
def haproxy(ports: list[int]):
    with tempfile.TemporaryDirectory() as folder:
        balancer = Balancer(ports, Path(folder))
        try:
            yield balancer.url
        finally:
            balancer.stop()


@contextlib.contextmanager
def nginx(config: Path, ports: list[int]):
    """nginx on ``config`` with its upstream and listen port rewritten, temp files in a folder of its own."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        servers = "".join(f"server 127.0.0.1:{p};\n        " for p in ports)
        text = re.sub(r"server service:8000 [^;]*;\n\s*", servers, config.read_text())
        text = text.replace("listen 8000;", f"listen 127.0.0.1:{port};")
        kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        temps = "".join(f"    {k}_temp_path {folder}/{k};\n" for k in kinds)
        (Path(folder) / "nginx.conf").write_text(text.replace("http {\n", "http {\n" + temps, 1))
        proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", folder, "-c", f"{folder}/nginx.conf",
                                 "-g", f"daemon off; pid {folder}/nginx.pid; user root;"])
        time.sleep(1.0)  # nginx listens within milliseconds; its first request checks it
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait()


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median over blocks of a's block median over b's."""
    return round(statistics.median(x / y for x, y in zip(a, b, strict=True)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="steps per block")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--nginx-config", type=Path, help="also measure nginx with this config")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "balancer.json")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server())
        urls = [stack.enter_context(service(redis_url)) for _ in range(2)]
        ports = [int(u.rsplit(":", 1)[1]) for u in urls]
        modes = {"direct": urls[0], "haproxy": stack.enter_context(haproxy(ports))}
        if args.nginx_config:
            modes["nginx"] = stack.enter_context(nginx(args.nginx_config, ports))
        loops = {name: Loop(url) for name, url in modes.items()}
        blocks: dict[str, list[float]] = {name: [] for name in loops}  # median step ms of each block
        for loop in loops.values():
            loop.block(50)  # warm-up: connections, caches
        for block in range(args.blocks):
            for name, loop in loops.items():
                blocks[name].append(statistics.median(loop.block(args.steps)) * 1e3)
            print(f"block {block + 1}/{args.blocks}", file=sys.stderr)
    result = {
        "steps_per_block": args.steps,
        "median_step_ms_per_block": {name: [round(m, 3) for m in ms] for name, ms in blocks.items()},
        "ratio_to_direct": {name: paired_ratio(ms, blocks["direct"]) for name, ms in blocks.items()},
    }
    if "nginx" in blocks:
        result["haproxy_over_nginx"] = paired_ratio(blocks["haproxy"], blocks["nginx"])
    print(json.dumps(result, indent=2))
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

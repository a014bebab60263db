"""The commands of the README and the docs, run as written from the project root in a shell where
the venv is active, against a real service on a free port.

Every shell and Python block of README.md and docs/*.md is listed in ``BLOCKS`` by a piece of its
text that no other block holds, with what runs it: a test here (long ones with a smaller
setting, by the substitutions shown), a ``make`` target, or another test of the suite.  The
blocks are looked up in every document, so a block moved from the README into docs/ keeps its
test; a block added without an entry fails ``test_every_block_has_an_entry``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ACTIVATE = f"source {Path(sys.executable).parent / 'activate'}\n"

BLOCKS = {
    "make setup": "test_setup_then_activate",
    "make demo": "test_demo_then_report",
    "make report": "test_demo_then_report",
    "make test": "the suite itself (.ci/run runs it)",
    "zoadamm-service --port 8000 --log-level": "the `service` fixture",
    "zoadamm-service keys new alice": "test_keys_block",
    "S=http://127.0.0.1:8000": "test_curl_loop",
    "zoadamm-worker mnist --method zo-adamm": "test_workers_block",
    "zoadamm-worker mnist --join": "test_join_block",
    "zoadamm-experiments run --preset q-sweep": "test_experiments_block",
    "zoadamm.minimize(": "test_python_blocks",
    "RemoteOptimizer.create(": "test_python_blocks",
    "client.sessions.list(offset=offset)": "test_python_blocks",
    "client.sessions.trace(": "test_python_blocks",
    "constraint=ball": "test_python_blocks",
    "zoadamm.AsyncClient(": "test_python_blocks",
    "np.random.Philox(key=": "test_philox_block",
    "ZOADAMM_SESSION_SEED=auto docker compose up": "make compose-check (needs Docker)",
    "keys new lab --env > .env": "tests/deploy/test_compose.py",
    "zoadamm-worker attack --method art-square": "tests/attack/test_runners.py (the same commands on free ports)",
    "zoadamm-worker attack --method zo-adamm --victim": "tests/attack/test_zo.py (the ZO runners on a service, "
                                                        "the command line, on free ports)",
    "benchmarks/bench_failover.py --resync": "tests/service/test_failover.py; the benchmarks are minutes long",
    "redis-cli --cluster create": "tests/redis_cluster.py (the same cluster on free ports)",
}


def all_blocks() -> list[str]:
    """Every shell and Python block of the documents, in order."""
    return [b for doc in DOCUMENTS for b in re.findall(r"^```(?:bash|python)\n(.*?)^```", doc.read_text(), re.S | re.M)]


def block(key: str) -> str:
    (found,) = [b for b in all_blocks() if key in b]
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(script: str, *, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """``script`` in bash from the project root, the venv active, stopping at the first error."""
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + ACTIVATE + script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def service():
    """The README's `zoadamm-service --port 8000 &`, on a free port instead of 8000."""
    yield from _serve()


def _serve(env: dict | None = None):
    port = _free_port()
    command = block("zoadamm-service --port 8000 --log-level").split("&")[0].replace("8000", str(port))
    proc = subprocess.Popen(["bash", "-c", ACTIVATE + "exec " + command], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def on(port: int, text: str) -> str:
    return text.replace("127.0.0.1:8000", f"127.0.0.1:{port}")


def test_every_block_has_an_entry():
    keys_per_block = [[key for key in BLOCKS if key in b] for b in all_blocks()]
    unlisted = [b.splitlines()[0] for b, keys in zip(all_blocks(), keys_per_block, strict=True) if not keys]
    assert not unlisted, f"blocks of README.md or docs/ that nothing runs: {unlisted}"
    assert all(len(keys) == 1 for keys in keys_per_block), keys_per_block
    assert sorted(k for keys in keys_per_block for k in keys) == sorted(BLOCKS), "an entry without its block"
    makefile = (ROOT / "Makefile").read_text()
    for target in ("setup", "demo", "report", "test", "compose-check"):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_setup_then_activate():
    """After `make setup` (nothing to do on an existing venv) and activating it, the README's
    commands are on PATH."""
    done = sh(block("make setup") + "command -v zoadamm-service zoadamm-worker zoadamm-demo zoadamm-experiments\n")
    paths = done.stdout.strip().splitlines()[-4:]
    assert [Path(p).parent for p in paths] == [Path(sys.executable).parent] * 4, done.stdout


def test_demo_then_report(tmp_path):
    """`make demo` (1 epoch on 1,280 images), then `make report` on its folder."""
    before = set((ROOT / "runs").glob("demo-*"))
    demo = block("make demo").split("#")[0].strip() + ' ARGS="--epochs 1 --train-limit 1280"'
    try:
        out = sh(demo + "\n" + block("make report")).stdout
        (folder,) = set((ROOT / "runs").glob("demo-*")) - before
        for name in ("fo.jsonl", "zo.jsonl", "table.md", "summary.json", "loss.png", "accuracy.png", "k.png"):
            assert (folder / name).stat().st_size > 0, name
        assert "train loss ZO/FO" in out and "come from the train loss" in out
        assert "come from the train loss" in (folder / "table.md").read_text()
    finally:
        for new in set((ROOT / "runs").glob("demo-*")) - before:
            shutil.rmtree(new)


def test_python_blocks(service):
    """The Python blocks, each in an interpreter of its own; the trace snippet after a session."""
    out = sh(f"python - <<'PY'\n{on(service, block('zoadamm.minimize('))}PY\n").stdout.split()
    assert float(out[0]) < 1e-4
    out = sh(f"python - <<'PY'\n{on(service, block('RemoteOptimizer.create('))}PY\n").stdout.split()
    assert int(out[1]) == 1000 and float(out[2]) < 1e-3
    out = sh(f"python - <<'PY'\n{on(service, block('client.sessions.list(offset=offset)'))}PY\n").stdout
    assert out.strip()
    norm, off = (float(v) for v in sh(f"python - <<'PY'\n{on(service, block('constraint=ball'))}PY\n").stdout.split())
    assert abs(norm - 1) < 1e-6 and off < 0.05  # on the sphere, near the constrained minimum
    assert sh(f"python - <<'PY'\n{on(service, block('zoadamm.AsyncClient('))}PY\n").stdout.split() == ["0", "True"]
    session = on(service, "import numpy as np, zoadamm\nclient = zoadamm.Client('http://127.0.0.1:8000')\n"
                 "session_id = zoadamm.minimize(lambda x: float(np.sum(x ** 2)), np.ones(3), steps=5, client=client,"
                 " progress=False).session_id\n")
    trace = block("client.sessions.trace(") + "assert list(trace.step) == [0, 1, 2, 3, 4], trace.step\n"
    sh(f"python - <<'PY'\n{session}{trace}PY\n")


def test_philox_block():
    """docs/directions.md's numpy call gives the words whose 16-bit lanes are the generator's."""
    from zoadamm.directions import lanes

    seed, step, index, dim = 2**63 + 5, 3, 2, 10  # a seed that a plain list would round
    words = eval(block("np.random.Philox(key="), {"np": np, "seed": seed, "step": step, "index": index, "dim": dim})
    assert np.array_equal(words.view("<u2")[:dim], lanes(seed, step, index, dim))


def test_curl_loop(service):
    """The curl loop with 20 steps instead of 200."""
    script = on(service, block("S=http://127.0.0.1:8000")).replace("seq 0 199", "seq 0 19")
    lines = sh(script).stdout.strip().splitlines()
    x = json.loads(lines[0])  # from [0, 0, 0], where f = 27; 200 steps end within 1e-3 of 3
    assert len(x) == 3 and sum((v - 3) ** 2 for v in x) < 27 / 4
    assert json.loads("".join(lines[1:]))["step"] == 20


def test_curl_loop_with_a_key():
    """With keys on, the loop runs with KEY set; without it, the first call stops the script with
    the 401 on stderr (before, every call failed and the loop ended printing null)."""
    from zoadamm_service.tenants import entry, new_key

    key = new_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOADAMM_")}
    served = _serve({**env, "ZOADAMM_API_KEYS": entry("alice", key)})
    port = next(served)
    try:
        script = on(port, block("S=http://127.0.0.1:8000")).replace("seq 0 199", "seq 0 2")
        lines = sh(f"KEY={key}\n" + script).stdout.strip().splitlines()
        assert json.loads("".join(lines[1:]))["step"] == 3
        refused = subprocess.run(["bash", "-c", "set -euo pipefail\n" + ACTIVATE + script], cwd=ROOT,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "401" in refused.stderr, refused
        # pasted into a shell (no set -e): the service's reason on stderr, and the loop stops at once
        pasted = subprocess.run(["bash", "-c", ACTIVATE + script], cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
        reasons = [line for line in pasted.stderr.splitlines() if line.startswith('{"detail"')]
        assert reasons and "API key" in reasons[0], pasted.stderr
        assert pasted.stderr.count("error: 401") <= 3, pasted.stderr  # create, the first ask, the last GET
    finally:
        next(served, None)


def test_keys_block(tmp_path):
    """Keys on, on a free port, from a scratch folder: the key file is the reader's."""
    port = str(_free_port())
    script = block("zoadamm-service keys new alice").replace("8000", port)
    script = f"cd {tmp_path}\n{script}\nkill %1\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOADAMM_")}
    wait = f"until curl -sf http://127.0.0.1:{port}/healthz >/dev/null; do sleep 0.2; done\n"
    body = json.loads(sh(script.replace("curl -s", wait + "curl -s", 1), env=env).stdout.strip().splitlines()[-1])
    assert body == {"sessions": [], "total": 0}
    assert "zk_" in (tmp_path / "alice.txt").read_text()


def test_workers_block(service, tmp_path):
    """The MNIST worker on 1,280 images (ZOADAMM_TRAIN_LIMIT) and the REST worker on the toy
    endpoint, on free ports."""
    script = on(service, block("zoadamm-worker mnist --method zo-adamm")).replace("9000", str(_free_port()))
    script = script.replace("runs/zo.jsonl", str(tmp_path / "zo.jsonl"))
    lines = sh("export ZOADAMM_TRAIN_LIMIT=1280\n" + script).stdout.strip().splitlines()
    mnist, rest = json.loads(lines[0]), json.loads(lines[1])
    assert mnist["epoch"] == 1 and mnist["d"] == 1400
    assert len((tmp_path / "zo.jsonl").read_text().splitlines()) == 1
    assert rest["steps"] == 500 and rest["f"] < 1e-3  # f(0) = 90, f(3) = 0


def test_join_block(service):
    """Two joined MNIST workers on 1,280 images (ZOADAMM_TRAIN_LIMIT): 10 steps."""
    out = sh("export ZOADAMM_TRAIN_LIMIT=1280\n" + on(service, block("zoadamm-worker mnist --join"))).stdout
    assert json.loads(out[out.rindex("{"):]) == {"step": 10, "lr": 0.001}


def test_experiments_block(tmp_path):
    """The dry run as written, the smoke grid and the analysis into a temporary folder."""
    script = block("zoadamm-experiments run --preset q-sweep")
    script = script.replace("--out runs/smoke", f"--out {tmp_path / 'smoke'}")
    script = script.replace("analyze results/paper", f"analyze results/paper --out {tmp_path / 'paper'}")
    out = sh(script).stdout
    assert "trained 6 runs" in out
    assert (tmp_path / "paper" / "report.md").exists()


def test_scale_table_matches_the_model_and_the_records():
    """docs/experiments.md's sizes: h1, h2 and d from the model, seconds per epoch the median of
    the committed records in results/paper/."""
    from zoadamm_worker.model import hidden_sizes, parameter_count

    text = "".join(doc.read_text() for doc in DOCUMENTS)
    rows = re.findall(r"^\| ([\d.]+)[^|]* \| (\d+), (\d+) \| ([\d,]+) \|\s*([\d.]*)\s*\|\s*([\d.]*)\s*\|$", text, re.M)
    assert len(rows) == 4
    for scale, h1, h2, d, fo, zo in rows:
        assert hidden_sizes(float(scale)) == (int(h1), int(h2)), scale
        assert parameter_count(float(scale)) == int(d.replace(",", "")), scale
        for method, cell in (("fo", fo), ("zo-", zo)):
            files = [f for f in (ROOT / "results" / "paper").glob(f"{method.rstrip('-')}-d{d.replace(',', '')}-*.jsonl")
                     if method == "fo" or "-vhat-" in f.name]
            seconds = [json.loads(line)["seconds"] for f in files for line in f.read_text().splitlines()]
            assert cell == (f"{statistics.median(seconds):.1f}" if seconds else ""), (scale, method)


def test_readme_results_are_the_reports():
    """Every mean ± std of the README's results table is in the report its row names."""
    rows = re.findall(r"^\|[^|]+\| ([\d.]+ ± [\d.]+) \|[^|]+\| (results/[\w/-]+\.md) \|$",
                      (ROOT / "README.md").read_text(), re.M)
    assert len(rows) >= 5
    for value, report in rows:
        assert value in (ROOT / report).read_text(), (value, report)


def test_the_methods_table_of_the_docs_is_the_reports():
    """docs/constraints.md shows the methods table of results/methods/report.md as it is."""
    doc = (ROOT / "docs" / "constraints.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| zo-")]
    assert len(rows) == 3
    report = (ROOT / "results" / "methods" / "report.md").read_text().splitlines()
    assert all(row in report for row in rows)


def test_readme_links_every_doc():
    readme = (ROOT / "README.md").read_text()
    unlinked = [doc.name for doc in DOCUMENTS[1:] if f"](docs/{doc.name})" not in readme]
    assert not unlinked, f"docs the README does not link: {unlinked}"


def _anchors(document: Path) -> set[str]:
    """GitHub's anchors for the headings of ``document``: lower case, punctuation dropped, spaces to -."""
    headings = re.findall(r"^#+ (.+)$", document.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_link_between_the_docs_resolves():
    broken = []
    for doc in DOCUMENTS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if "://" in target:
                continue
            path, _, anchor = target.partition("#")
            resolved = (doc.parent / path).resolve() if path else doc
            if not resolved.exists() or (anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved)):
                broken.append(f"{doc.name}: {target}")
    assert not broken, broken

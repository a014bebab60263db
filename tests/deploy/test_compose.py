"""The compose file and the Dockerfile, checked without a Docker engine.

The compose file is the one place the services' commands live: this test parses it and runs
those very commands as local processes (only host names and ports are rewritten to loopback),
against a real Redis started with the compose file's own redis command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from balancer_support import CONFIG, LIMITS, Balancer
from dotenv import dotenv_values

from zoadamm_service.launch import free_port
from zoadamm_service.tenants import entry, new_key

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text()
BIN = Path(sys.executable).parent


def _interpolate(value: str, env: dict) -> str:
    """Compose's ${VAR:-default} (unset or empty) and ${VAR-default} (unset) substitution."""
    def one(m: re.Match) -> str:
        given = env.get(m.group(1))
        return (given or m.group(3)) if m.group(2) else (m.group(3) if given is None else given)
    return re.sub(r"\$\{(\w+)(:?)-([^}]*)\}", one, value)


def _wait(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError("process did not become ready")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_wires_the_parts(compose):
    services = {k: v for k, v in compose["services"].items() if "monitoring" not in v.get("profiles", [])}
    assert set(services) == {"redis", "service", "balancer", "zo-worker", "fo-worker", "report"}
    assert services["report"]["profiles"] == ["report"], "`up` must not start the report"
    assert services["report"]["command"] == ["--report", "/runs"]
    assert services["report"]["volumes"] == services["zo-worker"]["volumes"] == ["runs:/runs"]
    redis = services["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert redis["command"][redis["command"].index("--appendfsync") + 1] == "everysec"
    volume = redis["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], "redis data must live on a named volume"
    for name in ("redis", "service"):
        assert services[name]["healthcheck"]["test"], f"{name} needs a healthcheck"
    assert services["service"]["depends_on"]["redis"]["condition"] == "service_healthy"
    for worker in ("zo-worker", "fo-worker"):
        assert services[worker]["depends_on"]["balancer"]["condition"] == "service_healthy"
        assert services[worker]["build"]["target"] == "worker"
        assert "container_name" not in services[worker], "a fixed name would stop --scale"
        assert "http://balancer:8000" in services[worker]["command"], "workers talk to the balancer"
    assert services["service"]["build"]["target"] == "service"


def test_replicas_sit_behind_one_balancer(compose):
    """`up --scale service=3`: the service publishes no port (three could not share one) and has
    no fixed name; the balancer, an official HAProxy image running the repository's config,
    publishes the one address, on loopback unless ZOADAMM_BIND says otherwise."""
    services = compose["services"]
    service, balancer = services["service"], services["balancer"]
    assert "ports" not in service and "container_name" not in service
    assert balancer["image"].split(":")[0] == "haproxy"
    assert balancer["ports"] == ["${ZOADAMM_BIND:-127.0.0.1}:${ZOADAMM_PORT:-8000}:8000"]
    for name in ("prometheus", "grafana"):  # no login of their own: on loopback whatever ZOADAMM_BIND says
        assert services[name]["ports"][0].startswith("${ZOADAMM_MONITORING_BIND:-127.0.0.1}:"), name
    assert balancer["volumes"] == ["./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert balancer["depends_on"]["service"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(balancer["healthcheck"]["test"])
    config = CONFIG.read_text()
    assert re.search(r"^\s*server-template service \S+ service:8000 resolvers compose\b", config, re.M), \
        "the replicas are compose's service name, followed in its DNS"
    assert re.search(r"^\s*bind :8000$", config, re.M)
    for directive in ("option http-buffer-request", "timeout http-request", "timeout client", "sc0_conn_cur",
                      "sc0_http_req_rate", "req.hdr_val(content-length)"):
        assert directive in config, directive


def test_the_balancers_limits_default_alike_in_compose_and_in_its_config(compose):
    """The limits reach the balancer as environment variables; the compose file's defaults are
    the config's own (which apply where the config runs without compose)."""
    environment = compose["services"]["balancer"]["environment"]
    config = CONFIG.read_text()
    assert set(environment) == set(LIMITS)
    for name in LIMITS:
        (default,) = re.findall(rf"\$\{{{name}-([^}}]+)\}}", config)
        assert environment[name] == f"${{{name}:-{default}}}", name


def test_settings_reach_the_containers(compose):
    """Each setting a reader may export must be in the container's environment, or it never
    arrives: the service's, the workers' (ZOADAMM_TRAIN_LIMIT), and the worker build's torch source."""
    from zoadamm_service.settings import Settings

    services = compose["services"]
    service_env = services["service"]["environment"]
    for name in Settings.model_fields:
        if name != "redis_url":
            assert f"ZOADAMM_{name.upper()}" in service_env, name
    for worker in ("zo-worker", "fo-worker"):
        assert "ZOADAMM_TRAIN_LIMIT" in services[worker]["environment"]
        assert "TORCH_SOURCE" in services[worker]["build"]["args"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG TORCH_SOURCE=", dockerfile, re.M)
    assert "pip install $TORCH_SOURCE torch==2.13.0" in dockerfile


def test_a_setting_whose_empty_value_means_something_can_be_set_empty(compose):
    """"Empty: no limit" (the settings' table) must reach the service: ${VAR:-default} would give
    the default for an empty value too.  And the open mode's Host names a reader exports are
    added to the balancer's, as the 403 for another Host tells them to."""
    from zoadamm_service.settings import Settings, environment_variable

    service_env = compose["services"]["service"]["environment"]
    emptied = [environment_variable(name) for name, field in Settings.model_fields.items()
               if "Empty:" in (field.description or "")]
    assert emptied
    for name in emptied:
        assert _interpolate(str(service_env[name]), {name: ""}) == "", name
        assert _interpolate(str(service_env[name]), {}) == str(Settings.model_fields[name.removeprefix("ZOADAMM_")
                                                                                      .lower()].default), name
    hosts = service_env["ZOADAMM_OPEN_HOST_NAMES"]
    assert _interpolate(hosts, {}).strip(",") == "balancer"
    assert _interpolate(hosts, {"ZOADAMM_OPEN_HOST_NAMES": "lab.example"}).split(",") == ["balancer", "lab.example"]


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint comes with requirements-dev.txt"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_images_are_slim_non_root_and_checked():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)", text, re.M)
    assert {"service", "worker"} <= {name for _, name in stages}
    for stage in ("service", "worker"):
        body = text.split(f" AS {stage}\n", 1)[1].split("\nFROM ", 1)[0]
        assert re.search(r"^USER 10001$", body, re.M), f"{stage} must not run as root"
    service_stage = text.split(" AS service\n", 1)[1].split("\nFROM ", 1)[0]
    assert "HEALTHCHECK --interval" in service_stage
    service_runs = [line for line in text.split(" AS build-worker", 1)[0].splitlines() if line.startswith("RUN")]
    assert not any("torch" in line for line in service_runs), "the service image must not carry torch"
    assert "torch==2.13.0" in text


def service_command(services: dict, env: dict, port: int, redis_url: str) -> tuple[list[str], dict]:
    """The service's command and environment as compose gives them, with ``env`` as the shell's:
    only Redis' address, the port and the listen address (loopback here) rewritten."""
    service = services["service"]
    service_env = dict(env, **{k: _interpolate(str(v), env) for k, v in service["environment"].items()})
    service_env["REDIS_URL"] = redis_url
    cmd = [_interpolate(a, env) for a in service["command"]]
    cmd[0] = str(BIN / cmd[0])
    cmd[cmd.index("--port") + 1] = str(port)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"  # inside its container
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    return cmd, service_env


def shell_env(**values: str) -> dict:
    """The environment of a shell that runs `docker compose up`, with ``values`` exported."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ZOADAMM_") and k != "REDIS_URL"}, **values}


def env_file(tmp_path: Path) -> dict:
    """The .env file docs/deploy.md makes, as compose reads it: its block's last command, run here
    without Docker (the same command runs in the service image there)."""
    (block,) = re.findall(r"^```bash\n(docker compose build service\n.*?)^```", DEPLOY_DOC, re.S | re.M)
    made_privately = block.strip().splitlines()[-1]
    # the key is in clear in .env: the command makes it readable by its owner alone
    assert made_privately.startswith("(umask 077; ") and made_privately.endswith(")"), made_privately
    make = made_privately.removeprefix("(umask 077; ").removesuffix(")")
    assert make.startswith("docker compose run --rm --no-deps -T service zoadamm-service keys new") and \
        make.endswith("> .env"), make
    argv = make.removeprefix("docker compose run --rm --no-deps -T service ").removesuffix(" > .env").split()
    made = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, check=True)
    (tmp_path / ".env").write_text(made.stdout)
    return {k: v for k, v in dotenv_values(tmp_path / ".env").items() if v is not None}


@pytest.mark.parametrize("exported, starts", [
    ({}, True),  # plain `docker compose up`: loopback, no keys
    ({"ZOADAMM_BIND": "0.0.0.0"}, False),
    ({"ZOADAMM_BIND": "0.0.0.0", "ZOADAMM_ALLOW_OPEN": "true"}, True),
    ({"ZOADAMM_BIND": "0.0.0.0", ".env": "keys"}, True),
], ids=["loopback", "public-no-keys", "public-allow-open", "public-with-env-file"])
def test_compose_runs_open_only_on_loopback_unless_told(compose, redis_url, tmp_path, exported, starts):
    """The service command of the compose file, with the compose file's environment: beyond
    loopback and without keys it refuses to start, in one line naming what to set."""
    if exported.pop(".env", None):
        exported.update(env_file(tmp_path))
    port = free_port()
    cmd, env = service_command(compose["services"], shell_env(**exported), port, redis_url)
    if not starts:
        refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 1 and len(lines) == 1, refused.stderr
        # make compose-check waits for this very status of the container
        check = (ROOT / ".ci" / "compose-check").read_text()
        assert f'[ "$code" = {refused.returncode} ]' in check
        assert lines[0].startswith("zoadamm-service: refusing to serve 0.0.0.0 without API keys")
        assert "ZOADAMM_API_KEYS" in lines[0] and "ZOADAMM_ALLOW_OPEN=true" in lines[0]
        return
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(url + "/healthz").status_code == 200)
        keyed = "ZOADAMM_API_KEY" in exported
        assert httpx.get(url + "/v1/sessions").status_code == (401 if keyed else 200)
        if keyed:
            auth = {"authorization": f"Bearer {exported['ZOADAMM_API_KEY']}"}
            assert httpx.get(url + "/v1/sessions", headers=auth).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_compose_commands_run_a_short_comparison(compose, tmp_path):
    """redis, service (2 worker processes on Redis), then the ZO and FO workers: each one's exact
    command, shortened through the environment (1 epoch on 2,560 images), with keys on as a
    shared deployment has them: the service's ZOADAMM_API_KEYS, the workers' ZOADAMM_API_KEY."""
    services = compose["services"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOADAMM_")}
    key = new_key()
    # these reach the containers only through compose's environment sections
    env.update(ZOADAMM_EPOCHS="1", ZOADAMM_TRAIN_LIMIT="2560", ZOADAMM_API_KEYS=entry("lab", key),
               ZOADAMM_API_KEY=key)
    redis_port, service_port = free_port(), free_port()
    balancer = None
    processes = []
    try:
        redis_cmd = [_interpolate(a, env) for a in services["redis"]["command"]]
        redis_cmd[redis_cmd.index("--dir") + 1] = str(tmp_path)
        processes.append(subprocess.Popen(redis_cmd + ["--port", str(redis_port), "--bind", "127.0.0.1"],
                                          stdout=subprocess.DEVNULL))
        ping = ["redis-cli", "-p", str(redis_port), "ping"]
        _wait(lambda: subprocess.run(ping, capture_output=True).stdout.strip() == b"PONG")

        cmd, service_env = service_command(services, env, service_port, f"redis://127.0.0.1:{redis_port}/0")
        assert cmd[cmd.index("--workers") + 1] == "2"
        processes.append(subprocess.Popen(cmd, env=service_env))
        _wait(lambda: httpx.get(f"http://127.0.0.1:{service_port}/healthz").json()["store"] == "RedisStore")
        (tmp_path / "balancer").mkdir()
        limits = {k.removeprefix("ZOADAMM_BALANCER_").lower(): _interpolate(v, env)
                  for k, v in services["balancer"]["environment"].items()}
        balancer = Balancer([service_port], tmp_path / "balancer", **limits)  # the workers talk to it, as in compose
        url = balancer.url

        results = {}
        for name in ("fo-worker", "zo-worker"):
            args = [_interpolate(a, env).replace("http://balancer:8000", url) for a in services[name]["command"]]
            args[args.index("--record-dir") + 1] = str(tmp_path / "runs")
            worker_env = {k: v for k, v in env.items() if k not in ("ZOADAMM_TRAIN_LIMIT", "ZOADAMM_API_KEY")}
            worker_env.update({k: _interpolate(str(v), env) for k, v in services[name]["environment"].items()})
            done = subprocess.run([str(BIN / "zoadamm-worker"), *args, "--quiet"], env=worker_env,
                                  capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, done.stderr[-2000:]
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])

        records = sorted((tmp_path / "runs").glob("*.jsonl"))
        assert len(records) == 2
        assert all(r["epoch"] == 1 and r["d"] == 1400 for r in results.values())
        assert results["fo-worker"]["test_accuracy"] > 0.2  # 20 FO steps already beat chance (0.1)
        assert httpx.get(url + "/v1/sessions").status_code == 401  # the keys are on
        auth = {"authorization": f"Bearer {key}"}
        sessions = httpx.get(url + "/v1/sessions", headers=auth).json()["sessions"]
        assert {s["config"]["method"] for s in sessions} == {"adamm", "zo-adamm"}
        for session in sessions:  # every minibatch of the epoch went through the service
            assert httpx.get(f"{url}/v1/sessions/{session['id']}", headers=auth).json()["step"] == 2560 // 128
    finally:
        if balancer is not None:
            balancer.stop()
        for proc in reversed(processes):
            proc.terminate()
            proc.wait(timeout=30)

"""``zoadamm-service keys new``, the open mode's guard rails, and keys kept out of sight."""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from zoadamm import Client
from zoadamm.sdk import NotFoundError
from zoadamm_service.launch import ServiceProcess, free_port
from zoadamm_service.main import OPEN_WARNING, create_app
from zoadamm_service.settings import READ_ELSEWHERE, Settings, environment_variable
from zoadamm_service.tenants import OPEN_TENANT, OPEN_TENANT_NOTE, KeyConfigError, KeyRing, entry

SERVICE = str(Path(sys.executable).with_name("zoadamm-service"))


def test_keys_new_prints_a_fresh_key_and_its_entry():
    outputs = [subprocess.run([SERVICE, "keys", "new", "team-a"], capture_output=True, text=True, check=True).stdout
               for _ in range(2)]
    keys, entries = [], []
    for out in outputs:
        key = out.split("it is not shown again): ", 1)[1].split()[0]
        line = out.split("comma-separated): ", 1)[1].split()[0]
        keys.append(key)
        entries.append(line)
        assert line == f"team-a:{hashlib.sha256(key.encode()).hexdigest()}"
        assert len(key) >= 40  # 256 random bits in URL-safe base64, and a prefix
    assert keys[0] != keys[1]
    assert KeyRing.parse(",".join(entries)).tenant_of(keys[1]) == "team-a"
    refused = subprocess.run([SERVICE, "keys", "new", "no spaces"], capture_output=True, text=True)
    assert refused.returncode == 1 and "tenant names" in refused.stderr


def test_a_key_of_the_open_modes_tenant_says_what_it_reaches(redis_url, caplog):
    """The open mode's sessions belong to the tenant ``open``: a key of that tenant reaches them
    (the way to keep them once keys are on), which making such a key and starting with it say."""
    made = subprocess.run([SERVICE, "keys", "new", OPEN_TENANT], capture_output=True, text=True, check=True)
    assert OPEN_TENANT_NOTE in made.stderr and OPEN_TENANT_NOTE not in made.stdout
    key = made.stdout.split("it is not shown again): ", 1)[1].split()[0]
    assert OPEN_TENANT_NOTE not in subprocess.run([SERVICE, "keys", "new", "team-a"], capture_output=True,
                                                  text=True, check=True).stderr
    with ServiceProcess(redis_url) as open_service:
        made_open = httpx.post(open_service.url + "/v1/sessions", json={"dim": 2}).json()["id"]
    from fastapi.testclient import TestClient

    with caplog.at_level(logging.WARNING, logger="zoadamm.service"), TestClient(
            create_app(Settings(redis_url=redis_url, api_keys=entry(OPEN_TENANT, key)))) as keyed:
        listed = keyed.get("/v1/sessions", headers={"Authorization": f"Bearer {key}"}).json()["sessions"]
    assert [s["id"] for s in listed] == [made_open]
    assert OPEN_TENANT_NOTE in caplog.text


@pytest.mark.parametrize("text", ["", "alice", "alice:abc", "alice:" + "g" * 64, ":" + "a" * 64,
                                  "a b:" + "a" * 64, "alice:" + "a" * 64 + ",bob"])
def test_a_malformed_key_list_is_refused_without_echoing_it(text):
    with pytest.raises(KeyConfigError) as refused:
        KeyRing.parse(text)
    assert "g" * 64 not in str(refused.value) and ("abc" not in str(refused.value))


def test_one_key_given_to_two_tenants_is_refused_and_one_tenant_may_hold_two_keys():
    with pytest.raises(KeyConfigError, match="entry 2 gives tenant 'bob' the key of tenant 'alice'"):
        KeyRing.parse(entry("alice", "the-key") + "," + entry("bob", "the-key"))
    ring = KeyRing.parse(",".join((entry("alice", "the-key"), entry("alice", "the-key"), entry("alice", "another"))))
    assert ring.tenant_of("the-key") == ring.tenant_of("another") == "alice"


def test_a_misspelled_setting_is_named_at_start(caplog, monkeypatch):
    """The service ignores names that are not its settings; one close to a setting is a slip the
    operator would otherwise only find by its effect (a limit not applied, a service left open)."""
    monkeypatch.setenv("ZOADAMM_MAX_DIMS", "5")
    monkeypatch.setenv("ZOADAMM_API_KEY", "zk_x")  # a client's variable, on the service
    monkeypatch.setenv("ZOADAMM_TRAIN_LIMIT", "1280")  # the workers': close to RATE_LIMIT, not a slip
    monkeypatch.delenv("ZOADAMM_API_KEYS", raising=False)
    with caplog.at_level(logging.WARNING, logger="zoadamm.service"):
        from fastapi.testclient import TestClient

        with TestClient(create_app(Settings(redis_url=None))):
            pass
    assert ("ZOADAMM_MAX_DIMS is no setting of the service, and is not read: did you mean ZOADAMM_MAX_DIM?"
            in caplog.text)
    assert "ZOADAMM_API_KEY is the key a client sends; the service's keys are ZOADAMM_API_KEYS" in caplog.text
    assert "ZOADAMM_TRAIN_LIMIT" not in caplog.text


def test_every_zoadamm_name_the_other_parts_read_is_known_to_the_service():
    """``READ_ELSEWHERE`` is the list of the names the SDK, the workers and compose read."""
    root = Path(__file__).resolve().parents[2]
    texts = [p.read_text() for part in ("client", "worker") for p in (root / part).rglob("*.py")]
    texts.append((root / "docker-compose.yml").read_text())
    texts.append((root / "deploy" / "haproxy" / "haproxy.cfg").read_text())
    read = {name for text in texts for name in re.findall(r"ZOADAMM_[A-Z0-9_]*[A-Z0-9]", text)}
    settings = {environment_variable(field) for field in Settings.model_fields}
    assert read - settings - READ_ELSEWHERE == set()


def test_open_mode_refuses_a_public_address_and_warns_on_loopback(caplog):
    refused = subprocess.run([SERVICE, "--host", "0.0.0.0", "--port", str(free_port())],
                             capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert refused.returncode == 1 and "ZOADAMM_API_KEYS" in refused.stderr and "ZOADAMM_ALLOW_OPEN" in refused.stderr
    with caplog.at_level(logging.WARNING, logger="zoadamm.service"):
        from fastapi.testclient import TestClient

        with TestClient(create_app(Settings(redis_url=None))):
            pass
    assert OPEN_WARNING in caplog.text


def test_a_cluster_node_named_for_a_single_redis_is_refused_at_start(cluster_url, redis_url):
    """Every call would answer 503, which clients retry for their whole window: the service
    refuses to start instead, naming the setting; a single Redis and the cluster mode start."""
    refused = subprocess.run([SERVICE, "--port", str(free_port())], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "REDIS_URL": cluster_url}, timeout=60)
    assert refused.returncode == 1 and "set ZOADAMM_REDIS_CLUSTER=true" in refused.stderr, refused.stderr
    for env in ({"ZOADAMM_REDIS_CLUSTER": "true"}, {}):
        with ServiceProcess(cluster_url if env else redis_url, env=env) as service:
            assert httpx.get(service.url + "/healthz").status_code == 200


def test_allow_open_and_keys_each_let_the_service_listen_beyond_loopback():
    key = "k" * 40
    for env in ({"ZOADAMM_ALLOW_OPEN": "true"}, {"ZOADAMM_API_KEYS": entry("t", key)}):
        with ServiceProcess(env=env, host="0.0.0.0") as service:
            assert httpx.get(service.url + "/healthz").status_code == 200


def test_the_sdk_takes_the_key_from_the_environment_and_never_shows_it(monkeypatch, caplog):
    secret = "zk_" + "s3cr3t" * 6
    monkeypatch.setenv("ZOADAMM_API_KEY", secret)
    with ServiceProcess(env={"ZOADAMM_API_KEYS": entry("lab", secret)}) as service:
        with caplog.at_level(logging.DEBUG), Client(service.url) as client:
            made = client.sessions.create(3)
            assert [s.id for s in client.sessions.list()] == [made.id]
            with pytest.raises(NotFoundError) as missing:
                client.sessions.get("0" * 32)
            shown = [repr(client), str(client), repr(missing.value), str(missing.value),
                     repr(missing.value.response.request.headers), caplog.text]
        assert all(secret not in text for text in shown)
        with Client(service.url, api_key="wrong") as wrong:
            with pytest.raises(Exception) as refused:
                wrong.sessions.list()
            assert refused.value.status_code == 401 and "wrong" not in str(refused.value)

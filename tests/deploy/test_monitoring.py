"""The monitoring profile of the compose file, checked without a Docker engine: Prometheus
scrapes the service's /metrics, Grafana is provisioned with the dashboard in the repository,
and every metric its panels query is one the service exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"


def test_the_profile_adds_prometheus_and_grafana_with_the_repositorys_files():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            assert (ROOT / source).exists(), source
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["dns_sd_configs"][0] == {"names": ["service"], "type": "A", "port": 8000}  # every replica


def test_every_panel_queries_a_metric_the_service_exposes():
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "zoadamm.json").read_text())
    queried = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"zoadamm_\w+", t["expr"])}
    with TestClient(create_app(Settings(redis_url=None))) as client:
        s = client.post("/v1/sessions", json={"dim": 2, "x0": [1.0, 1.0]}).json()
        client.post(f"/v1/sessions/{s['id']}/tell", json={"step": 0, "f_x": 1.0, "f_plus": [2.0]})
        client.post(f"/v1/sessions/{s['id']}/tell", json={"step": 5, "f_x": 1.0, "f_plus": [2.0]})
        text = client.get("/metrics").text
    exposed = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    # checkpoint age appears once a checkpoint was written (tests/service/test_metrics.py)
    missing = queried - exposed - {"zoadamm_checkpoint_age_seconds"}
    assert not missing, missing
    assert {"zoadamm_steps_total", "zoadamm_evaluations_total", "zoadamm_tells_rejected_total",
            "zoadamm_request_duration_seconds_bucket", "zoadamm_store_call_duration_seconds_bucket",
            "zoadamm_sessions_active", "zoadamm_checkpoint_age_seconds"} <= queried

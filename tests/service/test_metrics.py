"""/metrics: it parses with prometheus-client's own parser, its counters move with the steps,
and with several worker processes (gunicorn, multiprocess mode) a scrape answered by any
worker counts every worker's steps, also after a worker is killed and replaced."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from service_support import apply_zo, create, objective, reference, tell, x0_for, zo_values

from zoadamm_service.launch import ServiceProcess

DIM = 5
GUARD_S = 120  # only a guard against a worker that never comes back


def samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def zo_steps(http, steps: int, q: int = 2) -> str:
    f, _ = objective(DIM)
    x0 = x0_for(DIM)
    s = create(http, dim=DIM, x0=x0, directions=q, seed=3)
    opt = reference(s, x0)
    for _ in range(steps):
        values = zo_values(opt, f)
        tell(http, s["id"], values)
        apply_zo(opt, values)
    return s["id"]


def test_counters_move_with_the_steps_and_labels_carry_no_ids(make_app, serve):
    with serve(make_app(dashboard_cache_s=0)) as client:
        check_counters(client)


def test_scrapes_count_the_active_sessions_at_a_bounded_rate(make_app, serve):
    """/metrics needs no key, and its count of active sessions reads every tenant's dashboard
    table: fifty scrapes in a row count once, and answer that count (a scrape after the count
    took its time no longer lost the gauge)."""
    app = make_app(dashboard_cache_s=60)
    counted = []
    with serve(app) as client:
        zo_steps(client, 2)
        overview = app.state.overview
        active = overview.active_sessions

        async def counting(tenant):
            counted.append(tenant)
            return await active(tenant)

        overview.active_sessions = counting
        scrapes = [samples(client.get("/metrics").text) for _ in range(50)]
    assert len(counted) == len(app.state.tenants) == 1
    assert [value(s, "zoadamm_sessions_active") for s in scrapes] == [1.0] * 50


def check_counters(client):
    before = samples(client.get("/metrics").text)
    sid = zo_steps(client, 7, q=3)
    tell(client, sid, {"step": 0, "f_x": 1.0, "f_plus": [1.0, 2.0, 3.0]}, expect=409)
    tell(client, sid, {"step": 7, "f_x": 1.0, "f_plus": [1.0]}, expect=422)
    fo = create(client, dim=DIM, x0=x0_for(DIM), method="adamm")
    for step in range(2):
        tell(client, fo["id"], {"step": step, "gradient": np.ones(DIM).tolist()})
    client.get(f"/v1/sessions/{sid}/trace")
    assert client.get(f"/v1/sessions/{sid}/tell").status_code == 405  # not a tell: no rejected tell counted
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = samples(r.text)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("zoadamm_steps_total", method="zo-adamm") == 7
    assert moved("zoadamm_evaluations_total", method="zo-adamm") == 7 * 4
    assert moved("zoadamm_steps_total", method="adamm") == 2
    assert moved("zoadamm_evaluations_total", method="adamm") == 2
    assert moved("zoadamm_tells_rejected_total", reason="conflict") == 1
    assert moved("zoadamm_tells_rejected_total", reason="invalid") == 1
    assert moved("zoadamm_tells_rejected_total", reason="other") == 0
    tell_route = {"method": "POST", "route": "/v1/sessions/{session_id}/tell"}
    assert moved("zoadamm_request_duration_seconds_count", **tell_route) == 7 + 2 + 2
    assert moved("zoadamm_request_duration_seconds_count", method="GET", route="/v1/sessions/{session_id}/trace") == 1
    assert any(name == "zoadamm_store_call_duration_seconds_count" and dict(labels)["call"] == "append"
               for name, labels in after)
    assert value(after, "zoadamm_sessions_active") >= 2
    for _, labels in after:
        for _, label_value in labels:
            assert sid not in label_value and fo["id"] not in label_value


def test_scrapes_are_made_off_the_event_loop_one_at_a_time_and_never_stale(make_app, serve, monkeypatch):
    """/metrics needs no key: an exposition is made on a worker thread, so other calls go on
    meanwhile, and scrapes that come while one is made share the next one, begun after they
    arrived, rather than each making its own."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from zoadamm_service.telemetry import prom

    made, release, events = [], threading.Event(), []
    original = prom.exposition

    def held(active):
        made.append(active)
        text = original(active)
        if len(made) == 1:
            assert release.wait(60)  # the first exposition holds its thread, not the loop
        events.append(f"made {len(made)}")
        return text

    monkeypatch.setattr(prom, "exposition", held)
    app = make_app()
    with serve(app) as client, ThreadPoolExecutor(6) as pool:
        first = pool.submit(client.get, "/metrics")
        while not made:
            threading.Event().wait(0.01)
        assert client.get("/healthz").status_code == 200
        events.append("healthz answered")
        zo_steps(client, 1)  # counted after the first exposition began
        waiting = [pool.submit(client.get, "/metrics") for _ in range(5)]
        while app.state.exposition.waiting < 5:
            threading.Event().wait(0.01)
        release.set()
        answers = [first.result().text, *(w.result().text for w in waiting)]
    assert events == ["healthz answered", "made 1", "made 2"]
    assert len(made) == 2 and len(set(answers[1:])) == 1
    before, *after = (value(samples(text), "zoadamm_steps_total", method="zo-adamm") for text in answers)
    assert after == [before + 1] * 5  # the five saw the step told before they came


def test_a_checkpoint_sets_its_age(make_app, serve):
    with serve(make_app(checkpoint_every=3)) as http:
        before = value(samples(http.get("/metrics").text), "zoadamm_checkpoint_last_saved_timestamp_seconds")
        zo_steps(http, 3)
        # the checkpoint is written in the background after the answer: its time moves once written
        for _ in range(600):
            scrape = samples(http.get("/metrics").text)
            if value(scrape, "zoadamm_checkpoint_last_saved_timestamp_seconds") > before:
                break
            time.sleep(0.05)
    assert value(scrape, "zoadamm_checkpoint_last_saved_timestamp_seconds") > before
    assert 0 <= value(scrape, "zoadamm_checkpoint_age_seconds") < 3600


def children(pid: int) -> set[int]:
    return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def scrape_all(url: str, times: int = 8) -> list[dict]:
    """Scrapes on fresh connections, so that different workers answer."""
    return [samples(httpx.get(url + "/metrics").text) for _ in range(times)]


def test_several_workers_add_up_and_survive_a_killed_worker(redis_url, tmp_path):
    service = ServiceProcess(redis_url, workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    service.start()
    try:
        with httpx.Client(base_url=service.url) as http:
            zo_steps(http, 6)
        for scrape in scrape_all(service.url):
            assert value(scrape, "zoadamm_steps_total", method="zo-adamm") == 6
        workers = children(service.proc.pid)
        assert len(workers) == 2
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + GUARD_S
        while not (len(children(service.proc.pid)) == 2 and victim not in children(service.proc.pid)):
            assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
            time.sleep(0.1)
        while True:  # the new worker answers once it has loaded the app
            try:
                if httpx.get(service.url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        with httpx.Client(base_url=service.url) as http:
            zo_steps(http, 4)
        for scrape in scrape_all(service.url):
            # the dead worker's steps still count; the new one's add to them
            assert value(scrape, "zoadamm_steps_total", method="zo-adamm") == 10
            assert value(scrape, "zoadamm_evaluations_total", method="zo-adamm") == 30
    finally:
        service.stop()


def test_a_new_process_scrapes_a_checkpoint_age_of_0_and_other_methods_as_one_label():
    """A process of its own (the gauges are the process's): before its first checkpoint the age is
    0, as documented, where the sample was missing (a panel showed "No data"); methods the HTTP
    parser takes but no route serves, sent without a key, count under one label, "other", where
    each made series of its own on every route."""
    with ServiceProcess() as service, httpx.Client(base_url=service.url) as http:
        first = samples(http.get("/metrics").text)
        assert ("zoadamm_checkpoint_age_seconds", ()) in first
        assert value(first, "zoadamm_checkpoint_age_seconds") == 0
        assert value(first, "zoadamm_checkpoint_last_saved_timestamp_seconds") == 0
        for method in ("PROPFIND", "PURGE", "MKCALENDAR", "SEARCH", "LINK"):
            assert http.request(method, "/v1/sessions").status_code == 405
        http.get("/v1/sessions")
        scrape = samples(http.get("/metrics").text)
    methods = {dict(labels)["method"] for name, labels in scrape if name == "zoadamm_request_duration_seconds_count"}
    assert methods == {"GET", "other"}, methods
    assert value(scrape, "zoadamm_request_duration_seconds_count", method="other", route="/v1/sessions") == 5

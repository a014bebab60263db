"""Big reads, against a service process on a real Redis, over real HTTP: a session's metric
history stays within its byte cap (the oldest dropped first, in the append), no answer is over
1 MB (the history comes in pages, by cursor, or as a series of points), and /healthz stays
quick while six readers read a session filled to its caps, over and over."""

from __future__ import annotations

import json

import httpx
import pytest
from big_reads_support import MB, READERS, big_reads, fill, healthz_under_reads

from zoadamm import Client
from zoadamm_service.launch import ServiceProcess
from zoadamm_service.settings import Settings

SMALL_CAP = 64 * 1024  # the smallest cap the settings allow: a few reports fill it


@pytest.fixture
def small_cap(redis_url):
    with ServiceProcess(redis_url, env={"ZOADAMM_METRIC_HISTORY_BYTES": str(SMALL_CAP)}) as service:
        with httpx.Client(base_url=service.url, timeout=60) as http:
            yield service.url, http


def report(http: httpx.Client, sid: str, i: int, width: int = 1000) -> dict:
    r = http.post(f"/v1/sessions/{sid}/metrics", json={"value": float(i), "metrics": {"pad": float(i)} | {
        f"n{k}".ljust(100, "x"): 0.0 for k in range(width // 110)}})
    assert r.status_code == 200, r.text
    return r.json()


def walk(http: httpx.Client, sid: str, cursor: int = 0, limit: int = 7) -> tuple[list[dict], int]:
    """Every page from ``cursor``: the reports, and the cursor where new ones will start."""
    items = []
    while True:
        body = http.get(f"/v1/sessions/{sid}/metrics", params={"cursor": cursor, "limit": limit}).json()
        assert len(body["items"]) <= limit
        items += body["items"]
        if body["next_cursor"] is None:
            return items, body["end_cursor"]
        assert body["next_cursor"] >= cursor + len(body["items"])  # more when the walk began at a dropped one
        cursor = body["next_cursor"]


def session(http: httpx.Client) -> str:
    r = http.post("/v1/sessions", json={"dim": 1, "x0": [1.0], "schedule": None})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_the_history_keeps_the_newest_reports_within_its_byte_cap(small_cap):
    _, http = small_cap
    sid = session(http)
    sent = [report(http, sid, i) for i in range(120)]  # ~1 KB each: about twice the cap
    kept, end = walk(http, sid)
    assert end == len(sent)  # cursors count every report, the dropped ones too
    assert kept == sent[len(sent) - len(kept):]  # the newest, in order, none missing
    size = sum(len(json.dumps(m)) for m in kept)
    assert size <= SMALL_CAP < size + len(json.dumps(sent[len(sent) - len(kept) - 1]))


def test_a_cursor_stays_valid_while_the_oldest_reports_are_dropped(small_cap):
    url, http = small_cap
    sid = session(http)
    first = [report(http, sid, i) for i in range(30)]
    page = http.get(f"/v1/sessions/{sid}/metrics", params={"limit": 10}).json()
    assert page["items"] == first[:10] and page["next_cursor"] == 10
    more = [report(http, sid, i) for i in range(30, 45)]
    rest, end = walk(http, sid, page["next_cursor"])
    assert rest == (first + more)[10:] and end == 45  # nothing dropped yet: the walk goes on where it stopped
    later = [report(http, sid, i) for i in range(45, 150)]
    resumed, end = walk(http, sid, 20)  # report 20 is long gone: the walk starts at the oldest kept
    assert end == 150 and resumed[-1] == later[-1] and resumed == (first + more + later)[150 - len(resumed):]
    with Client(url, binary=False) as sdk:
        assert sdk.sessions.history(sid) == resumed  # the SDK follows the cursors
        assert sdk.sessions.history(sid, last=3) == later[-3:]


def test_points_spread_over_the_history_with_the_newest(small_cap):
    _, http = small_cap
    sid = session(http)
    sent = [report(http, sid, i, width=200) for i in range(200)]
    body = http.get(f"/v1/dashboard/sessions/{sid}", params={"points": 10}).json()
    values = [m["value"] for m in body["metrics"]]
    assert len(values) == 10 and values == sorted(values) and values[-1] == sent[-1]["value"]
    kept, _ = walk(http, sid, limit=1000)
    assert values[0] == kept[0]["value"]  # from the oldest kept to the newest
    assert body["next_cursor"] is None and body["end_cursor"] == 200
    new = report(http, sid, 200, width=200)
    polled = http.get(f"/v1/dashboard/sessions/{sid}", params={"cursor": body["end_cursor"]}).json()
    assert polled["metrics"] == [new] and polled["end_cursor"] == 201


def test_a_session_filled_to_its_caps_answers_under_1_mb_and_healthz_stays_quick(redis_url):
    settings = Settings()
    with ServiceProcess(redis_url) as service, httpx.Client(base_url=service.url, timeout=60) as http:
        sid = fill(http, settings)
        sizes = big_reads(http, sid)
        assert max(sizes.values()) <= MB, {k: v for k, v in sizes.items() if v > MB}
        kept, end = walk(http, sid, limit=10_000)
        assert sum(len(json.dumps(m)) for m in kept) <= settings.metric_history_bytes
        assert kept[-1]["step"] == settings.trace_points + 1 and end > len(kept)  # the oldest were dropped
        latency = healthz_under_reads(service.url, sid)
    print(json.dumps(latency))
    # the 95th percentile: on a shared machine the slowest probe measures the machine's other load
    assert latency["readers"] == READERS and latency["with_readers"]["probes"] == 150
    assert latency["with_readers"]["p95_ms"] < 200, latency

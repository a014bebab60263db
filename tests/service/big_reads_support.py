"""A session filled to its caps (a full trace, a metric history at its byte cap, reports as large
as the limits allow) and readers that read it whole while /healthz is probed: the helpers of
``test_big_reads.py`` and ``benchmarks/bench_big_reads.py``."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time

import httpx

from zoadamm_service.settings import Settings

MB = 1_000_000
READERS = 6


def big_report(settings: Settings, i: int) -> dict:
    """A metric report as large as the limits allow: every name at its longest."""
    width = settings.max_metric_name_length
    named = {f"m{k:02d}".ljust(width, "x"): i + k / 1000 for k in range(settings.max_metric_names)}
    return {"value": 1.0 + i, "metrics": named}


def fill(http: httpx.Client, settings: Settings, extra: float = 1.25) -> str:
    """A session with a full trace and ``extra`` times the byte cap of reports sent; its id."""
    r = http.post("/v1/sessions", json={"dim": 1, "x0": [1.0], "lr": 0.01, "seed": 5, "schedule": None})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    for step in range(settings.trace_points + 1):  # one past full: the stride doubles
        r = http.post(f"/v1/sessions/{sid}/tell", json={"step": step, "f_x": 1.0, "f_plus": [1.0 + step % 7]})
        assert r.status_code == 200, r.text
    sent, i = 0, 0
    while sent < extra * settings.metric_history_bytes:
        r = http.post(f"/v1/sessions/{sid}/metrics", json=big_report(settings, i))
        assert r.status_code == 200, r.text
        sent, i = sent + len(r.content), i + 1
    return sid


def big_reads(http: httpx.Client, sid: str, paged: bool = True) -> dict[str, int]:
    """Every read of the session, the metric history followed page by page: path -> bytes.
    Not ``paged``: the two reads of a service without pages (the history, the session view)."""
    if not paged:
        return {p: len(http.get(p).content) for p in (f"/v1/sessions/{sid}/metrics", f"/v1/dashboard/sessions/{sid}")}
    sizes = {}
    for path in (f"/v1/sessions/{sid}", f"/v1/sessions/{sid}/trace", "/v1/dashboard/sessions",
                 f"/v1/dashboard/sessions/{sid}", f"/v1/dashboard/sessions/{sid}?points=10000",
                 f"/v1/sessions/{sid}/metrics?limit=10000"):
        r = http.get(path)
        assert r.status_code == 200, (path, r.text)
        sizes[path] = len(r.content)
    for base in (f"/v1/sessions/{sid}/metrics?limit=10000", f"/v1/dashboard/sessions/{sid}?limit=10000"):
        cursor, page = 0, 0
        while cursor is not None:
            r = http.get(f"{base}&cursor={cursor}")
            assert r.status_code == 200, r.text
            sizes[f"{base}&cursor={cursor}"] = len(r.content)
            cursor, page = r.json()["next_cursor"], page + 1
    return sizes


def _read_forever(url: str, sid: str, stop, paged: bool) -> None:
    # Readers would run on other machines: here they share two cores with the service, and
    # parsing megabytes of answers would take the CPU the probe measures.  At a lower priority
    # they still keep the service busy, which is what the probe is to see.
    os.nice(10)
    with httpx.Client(base_url=url, timeout=120) as http:
        while not stop.is_set():
            try:
                big_reads(http, sid, paged)
            except httpx.TransportError:
                if not stop.is_set():  # the service may stop under a read once the probes are done
                    raise


def healthz_under_reads(url: str, sid: str, probes: int = 150, readers: int = READERS, paged: bool = True) -> dict:
    """/healthz latencies (ms), ``probes`` of them with no reader, then as many with ``readers``
    processes reading the session whole, over and over."""
    with httpx.Client(base_url=url, timeout=60) as http:
        alone = _probe(http, probes)
        spawn = multiprocessing.get_context("spawn")
        stop = spawn.Event()
        procs = [spawn.Process(target=_read_forever, args=(url, sid, stop, paged)) for _ in range(readers)]
        for p in procs:
            p.start()
        try:
            time.sleep(2.0)  # the readers' interpreters start before the probe counts
            loaded = _probe(http, probes)
        finally:
            stop.set()
            for p in procs:
                p.join(30)
    return {"alone": alone, "with_readers": loaded, "readers": readers}


def _probe(http: httpx.Client, probes: int) -> dict:
    times = []
    for _ in range(probes):
        start = time.perf_counter()
        assert http.get("/healthz").status_code == 200
        times.append((time.perf_counter() - start) * 1000)
        time.sleep(0.02)
    times.sort()
    return {"probes": len(times), "p50_ms": statistics.median(times),
            "p95_ms": times[int(0.95 * (len(times) - 1))], "max_ms": times[-1]}

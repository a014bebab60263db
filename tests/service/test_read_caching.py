"""A /v1 GET answers a tenant's data: no browser may keep it on disk (Swagger UI's try-it-out
runs in one), so every answer says ``Cache-Control: no-store``; the tell path adds nothing."""

from __future__ import annotations

from service_support import create

from zoadamm_service.tenants import entry

KEY = "key-of-alice-0123456789"


def test_every_read_says_no_store_and_a_tell_is_left_as_it_was(make_app, serve):
    with serve(make_app(api_keys=entry("alice", KEY))) as client:
        client.headers["Authorization"] = f"Bearer {KEY}"
        sid = create(client, dim=2, x0=[0.0, 0.0], directions=1)["id"]
        paths = client.get("/openapi.json").json()["paths"]
        reads = [path.replace("{session_id}", sid) for path, item in paths.items()
                 if path.startswith("/v1/") and "get" in item]
        answered = 0
        for path in reads:
            for method in ("GET", "HEAD"):
                answer = client.request(method, path)
                assert answer.headers.get("cache-control") == "no-store", (method, path, answer.status_code)
                answered += answer.status_code == 200
        assert len(reads) >= 7 and answered == 2 * len(reads), (reads, answered)  # each answered the data
        assert client.get("/v1/sessions/" + "0" * 32, headers={"Authorization": "Bearer wrong"}).headers[
            "cache-control"] == "no-store"  # a refusal too
        told = client.post(f"/v1/sessions/{sid}/tell", json={"step": 0, "f_x": 1.0, "f_plus": [2.0]})
        assert told.status_code == 200 and "cache-control" not in told.headers

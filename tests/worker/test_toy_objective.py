"""The README's toy endpoint: f at POST /f, 404 elsewhere (a mistyped --objective shows), 400
for a body that is not {"x": [numbers]}."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import httpx

from zoadamm_worker.toy_objective import Handler


def test_the_toy_objective_answers_at_f_only():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as http:
            assert http.post("/f", json={"x": [3.0, 5.0]}).json() == {"value": 4.0}
            wrong = http.post("/objective", json={"x": [3.0]})
            assert wrong.status_code == 404 and "POST /f" in wrong.json()["detail"]
            assert http.post("/f", json={"y": [1.0]}).status_code == 400
    finally:
        server.shutdown()
        server.server_close()

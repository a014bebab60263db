"""A toy objective endpoint for trying ``zoadamm-worker rest``: f(x) = sum((x_k - 3)^2).

    python -m zoadamm_worker.toy_objective --port 9000     # POST /f {"x": [...]} -> {"value": f}
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/f"  # the one path it answers: a mistyped --objective gets 404, which the worker reports


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        if self.path.split("?")[0] != PATH:
            self._answer(404, {"detail": f"nothing here: the objective is POST {PATH}"})
            return
        try:
            x = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))["x"]
            self._answer(200, {"value": sum((float(v) - 3.0) ** 2 for v in x)})
        except (ValueError, KeyError, TypeError) as exc:
            self._answer(400, {"detail": f"expected {{\"x\": [numbers]}}: {exc}"})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # one line per evaluation would drown the terminal
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

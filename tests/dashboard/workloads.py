"""Workers that drive sessions through the SDK while a test looks at the dashboard."""

from __future__ import annotations

import threading

import httpx
import numpy as np

from zoadamm import Client, directions


def quadratic(dim: int):
    scale = np.linspace(1.0, 10.0, dim).astype(np.float32)
    return lambda x: float(np.sum(scale * x.astype(np.float64) ** 2)), lambda x: (2 * scale * x).astype(np.float32)


class QuadraticRun(threading.Thread):
    """One session on a quadratic, a step at a time until ``stop`` is set (or ``steps`` are
    done), reporting the loss as a metric every ``report_every`` steps.  ``pace_s`` spaces the
    steps so that a page has time to see the curve grow."""

    def __init__(self, url: str, name: str, method: str = "zo-adamm", dim: int = 50, directions: int = 4,
                 report_every: int = 25, pace_s: float = 0.01, steps: int | None = None,
                 api_key: str | None = None, constraint=None, lr: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.client = Client(url, api_key=api_key)
        self.f, self.grad = quadratic(dim)
        x0 = np.full(dim, 0.5, np.float32)
        config = {"directions": directions} if method != "adamm" else {}
        self.session = self.client.sessions.create(dim, x0=x0, name=name, method=method, lr=lr, mu=0.005,
                                                   seed=7, constraint=constraint, **config)
        self.x, self.method, self.dim = x0, method, dim
        self.report_every, self.pace_s, self.steps = report_every, pace_s, steps
        self.stop, self.done, self.error = threading.Event(), 0, None

    def run(self) -> None:
        try:
            info = self.client.sessions.ask(self.session.id)
            step, mu = 0, info.mu
            while not self.stop.is_set() and (self.steps is None or step < self.steps):
                if self.method != "adamm":
                    u = directions(info.seed, step, info.directions, self.dim, info.distribution)
                    answer = self.client.sessions.tell(
                        self.session.id, step, f_x=self.f(self.x),
                        f_plus=[self.f(self.x + np.float32(mu) * ui) for ui in u])
                else:
                    answer = self.client.sessions.tell(self.session.id, step, gradient=self.grad(self.x))
                self.x, step, mu = answer.x, answer.step, answer.mu
                self.done = step
                if step % self.report_every == 0:
                    loss = self.f(self.x)
                    mu = self.client.sessions.report(self.session.id, loss, accuracy=float(np.exp(-loss)))["mu"]
                self.stop.wait(self.pace_s)
        except Exception as exc:  # the test reads it: a worker that died fails the test
            self.error = exc
        finally:
            self.client.close()


def traced_session(http: httpx.Client, name: str, f_values: list[float], dim: int = 2,
                   metrics: list[dict] | None = None) -> str:
    """A ZO session (q = 1) whose trace holds exactly ``f_values`` (one step each, f_x as
    told), with ``metrics`` reported after the steps; its id."""
    session = http.post("/v1/sessions", json={"dim": dim, "directions": 1, "name": name, "x0": [0.0] * dim}).json()
    for step, f in enumerate(f_values):
        answer = http.post(f"/v1/sessions/{session['id']}/tell", params={"answer": "checksum"},
                           json={"step": step, "f_x": f, "f_plus": [f]})
        assert answer.status_code == 200, answer.text
    for report in metrics or []:
        answer = http.post(f"/v1/sessions/{session['id']}/metrics", json=report)
        assert answer.status_code == 200, answer.text
    return session["id"]

"""The attacker's side of the victim's REST API: a batch of images in, probabilities out."""

from __future__ import annotations

import json
from typing import NamedTuple

import httpx
import numpy as np

from zoadamm import wire

from .victim import SIDE


class VictimError(RuntimeError):
    """The victim refused a request or could not be reached."""


class Prediction(NamedTuple):
    """Class probabilities (N, 10) float32, and the victim's count of the request's tag after it."""

    probabilities: np.ndarray
    counted: int


class VictimClient:
    """Asks the victim at ``url`` (``zoadamm-worker victim``) about images, in the binary frame
    (``binary=True``, the default: no float formatting on either side) or in JSON.  One
    keep-alive connection per client; a client is not meant to be shared between threads."""

    def __init__(self, url: str, *, binary: bool = True, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.binary = binary
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def predict(self, images: np.ndarray, tag: str | None = None) -> Prediction:
        """Probabilities of ``images`` (N x 784, N x 28 x 28 or N x 1 x 28 x 28, pixels in [0, 1]).

        Raises:
            VictimError: the victim answered 4xx/5xx (its message is kept) or is not reachable.
        """
        images = np.asarray(images, dtype=np.float32).reshape(-1, SIDE, SIDE)
        if self.binary:
            fields = {"shape": list(images.shape), **({"tag": tag} if tag is not None else {})}
            content = wire.encode(fields, {"images": images})
            headers = {"content-type": wire.MEDIA_TYPE, "accept": wire.MEDIA_TYPE}
        else:
            message = {"images": images.tolist(), **({"tag": tag} if tag is not None else {})}
            content = json.dumps(message).encode()
            headers = {"content-type": "application/json"}
        response = self._send("POST", "/predict", content=content, headers=headers)
        if response.headers.get("content-type", "").startswith(wire.MEDIA_TYPE):
            answer, vectors = wire.decode(response.content)
            return Prediction(vectors["probabilities"].reshape(answer["shape"]), int(answer["counted"]))
        body = response.json()
        return Prediction(np.asarray(body["probabilities"], dtype=np.float32), int(body["counted"]))

    def stats(self) -> dict:
        """The victim's counts: ``images``, ``requests``, ``refused``, ``tags``; raises VictimError."""
        return self._send("GET", "/stats").json()

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise VictimError(f"cannot reach the victim at {self.url} ({error})") from error
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise VictimError(f"the victim at {self.url} answered {response.status_code}: {detail}")
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VictimClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""The attacker's side of the victim's REST API: a batch of images in, probabilities out."""

from __future__ import annotations

import json
import time
from typing import NamedTuple

import httpx
import numpy as np

from zoadamm import wire

from .abortable import Sockets, transport
from .victim import SIDE

RETRY_WAITS = (0.5, 2.0)  # seconds before each further try of a call the victim could not answer
RETRIED = {502, 503, 504}
EXCERPT_CHARS = 300  # of a victim's error text shown in the one line that ends the run
# The most of an answer read: probabilities of the victim's limit of 1,024 images take 40 kB in the
# frame and some 200 kB in JSON (and 1,000 classes ten times as much); an answer without end
# would otherwise be read into memory whole.
MAX_ANSWER_BYTES = 32 << 20


class VictimError(RuntimeError):
    """The victim refused a request, could not be reached, or answered what no classifier would;
    ``status`` is its HTTP status where it answered one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Answer(NamedTuple):
    """A victim's answer, read whole (``VictimClient._fetch``)."""

    status_code: int
    media_type: str
    content: bytes

    def json(self):
        """The body as JSON, which is UTF-8 (RFC 8259): other bytes are named as such."""
        return json.loads(self.content.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Prediction(NamedTuple):
    """Class probabilities (N, classes) float32, and the victim's count of the request's tag
    after it (None where its answer leaves ``counted`` out: the attacker counts alone)."""

    probabilities: np.ndarray
    counted: int | None


class VictimClient:
    """Asks the victim at ``url`` (``zoadamm-worker victim``, or any endpoint of its API) about
    images, in the binary frame (``binary=True``, the default: no float formatting on either
    side) or in JSON; a victim that refuses its first frame (400 or 415) is asked in JSON from
    then on.  One keep-alive connection per client; not meant to be shared between threads."""

    def __init__(self, url: str, *, binary: bool = True, timeout: float = 60.0) -> None:
        # the victim's URL, or its /predict endpoint's, which is what a user may copy
        self.url = url.rstrip("/").removesuffix("/predict")
        self.binary = binary
        self._format_known = not binary  # whether the victim took a request in the chosen format
        self._timeout = timeout
        self._sockets = Sockets()
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport(self._sockets))

    def predict(self, images: np.ndarray, tag: str | None = None) -> Prediction:
        """Probabilities of ``images`` (N x 784, N x 28 x 28 or N x 1 x 28 x 28, pixels in [0, 1]).

        Raises:
            VictimError: the victim answered 4xx/5xx (its message is kept) or is not reachable.
        """
        images = np.asarray(images, dtype=np.float32).reshape(-1, SIDE, SIDE)
        try:
            response = self._send("POST", "/predict", **self._request(images, tag))
        except VictimError as error:
            if self._format_known or error.status not in (400, 415):
                raise
            self.binary = False  # a victim of its own that reads JSON only
            response = self._send("POST", "/predict", **self._request(images, tag))
        self._format_known = True
        try:
            if response.media_type.startswith(wire.MEDIA_TYPE):
                answer, vectors = wire.decode(response.content)
                probabilities = vectors["probabilities"].reshape(answer["shape"])
            else:
                answer = response.json()
                probabilities = np.asarray(answer["probabilities"], dtype=np.float32)
            counted = answer.get("counted")
            counted = None if counted is None else int(counted)
        except (ValueError, KeyError, TypeError) as error:
            raise VictimError(f"the victim at {self.url} answered no probabilities this client can read "
                              f"({type(error).__name__}: {error})") from None
        _check_answer(self.url, probabilities, len(images))
        return Prediction(probabilities, counted)

    def _request(self, images: np.ndarray, tag: str | None) -> dict:
        if self.binary:
            fields = {"shape": list(images.shape), **({"tag": tag} if tag is not None else {})}
            return {"content": wire.encode(fields, {"images": images}),
                    "headers": {"content-type": wire.MEDIA_TYPE, "accept": wire.MEDIA_TYPE}}
        message = {"images": images.tolist(), **({"tag": tag} if tag is not None else {})}
        return {"content": json.dumps(message).encode(), "headers": {"content-type": "application/json"}}

    def stats(self) -> dict:
        """The victim's counts: ``images``, ``requests``, ``refused``, ``tags``; raises VictimError."""
        return self._send("GET", "/stats").json()

    def _send(self, method: str, path: str, **kwargs) -> Answer:
        """One call; a victim that could not be reached, or answered 502, 503 or 504 (busy, or a
        proxy in front of it without it), is asked again after RETRY_WAITS.  A request it counted
        and then lost the answer of would be counted twice: ``QueryCount`` then stops the run."""
        for wait in (*RETRY_WAITS, None):
            try:
                response = self._fetch(method, path, **kwargs)
            except httpx.HTTPError as error:
                if self._sockets.aborted:  # the run stopped (``abort``): no further try
                    raise VictimError(f"the call to the victim at {self.url} was cut off: the run stopped") from error
                if isinstance(error, httpx.TimeoutException):
                    raise VictimError(f"the victim at {self.url} did not answer within {self._timeout:g} s "
                                      f"({type(error).__name__})") from error
                if wait is None or not isinstance(error, (httpx.ConnectError, httpx.RemoteProtocolError)):
                    raise VictimError(f"cannot reach the victim at {self.url} ({error})") from error
                time.sleep(wait)
                continue
            if response.status_code in RETRIED and wait is not None:
                time.sleep(wait)
                continue
            if response.status_code >= 400:
                try:
                    parsed = response.json()
                    detail = parsed.get("detail", response.text) if isinstance(parsed, dict) else response.text
                except ValueError:
                    detail = response.text
                raise VictimError(f"the victim at {self.url} answered {response.status_code}: {_excerpt(detail)}",
                                  status=response.status_code)
            return response
        raise AssertionError("unreachable: the last try returns or raises")

    def _fetch(self, method: str, path: str, **kwargs) -> Answer:
        """One request, its answer read whole within the timeout, counted from the request, and
        within ``MAX_ANSWER_BYTES`` (after any Content-Encoding): a victim that sends a byte now
        and then, or without end, is cut off (the timeout alone bounds each read, not the whole)."""
        deadline = time.monotonic() + self._timeout
        with self._http.stream(method, path, **kwargs) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise VictimError(f"the victim at {self.url} answered more than {MAX_ANSWER_BYTES:,} bytes "
                                      "(probabilities for its 1,024 images at most take some 200 kB): not read further",
                                      status=response.status_code)
                if time.monotonic() > deadline:
                    raise VictimError(f"the victim at {self.url} did not finish its answer within {self._timeout:g} s "
                                      f"({len(body):,} bytes by then)", status=response.status_code)
            return Answer(response.status_code, response.headers.get("content-type", ""), bytes(body))

    def abort(self) -> None:
        """Cut off the call in flight, from any thread (it raises VictimError), and any call after
        it: the run it served stopped."""
        self._sockets.abort()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VictimClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_answer(url: str, probabilities: np.ndarray, asked: int) -> None:
    """Probabilities no attack can use are the victim's fault, said so, not a margin of NaN."""
    if probabilities.ndim != 2 or probabilities.shape[0] != asked or probabilities.shape[1] < 2:
        raise VictimError(f"the victim at {url} answered probabilities of shape {probabilities.shape} for "
                          f"{asked} images: expected {asked} rows of one probability per class")
    if not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0):
        raise VictimError(f"the victim at {url} answered probabilities that are not finite numbers >= 0 "
                          "(NaN, inf or negative): the attack cannot rank its classes")


def _excerpt(detail, most: int = EXCERPT_CHARS) -> str:
    """A victim's error text as part of one line: whitespace runs (newlines too) as one space,
    other control characters (a terminal's escape codes) shown escaped, cut to ``most``."""
    flat = " ".join(str(detail).split())
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in flat[:most])
    return shown + (f"... ({len(flat):,} characters)" if len(flat) > most else "")

"""The victim: a trained classifier behind REST that answers class probabilities only.

``POST /predict`` takes a batch of MNIST images, pixels in [0, 1], as JSON
(``{"images": [[[...28 floats] x 28] x N], "tag": "..."}``) or as the binary frame of
``zoadamm.wire`` (fields ``shape`` = [N, 28, 28] and ``tag``, vector ``images``), and answers
``probabilities`` (N x 10, in the encoding the ``Accept`` header asks for) and ``counted``.
Never logits, never gradients: an attacker learns only what a deployed model would tell it.

Every image it is asked about is counted, in all and per ``tag``; ``counted`` in an answer is
the tag's count after this request, so an attack's query count is the victim's, not the
attacker's own bookkeeping.  ``GET /stats`` shows the counts.  A malformed batch is refused with
a 4xx that names the problem and counts nothing.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from zoadamm import wire

from ..model_file import Classifier

SIDE = 28
PIXELS = SIDE * SIDE
DEFAULT_MAX_BATCH = 1024
MAX_TAG_CHARS = 128
MAX_TAGS = 10_000  # tags /stats keeps by name: a few runs' worth of images
JSON_TYPE = "application/json"


class BadImages(ValueError):
    """A request whose images the victim cannot classify; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class QueryCounts:
    """Images asked about, in all and per tag; requests refused.  Thread-safe.

    A victim that lives long sees a new tag per attacked image: ``tags`` keeps the
    ``max_tags`` used last, and the images of those it drops are counted in ``other``.  An
    attack's tags are in use while it runs, so only tags long out of use are dropped."""

    images: int = 0
    requests: int = 0
    refused: int = 0
    tags: OrderedDict[str, int] = field(default_factory=OrderedDict)
    other: int = 0
    max_tags: int = MAX_TAGS
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, tag: str | None, images: int) -> int:
        """Count ``images`` for ``tag``; returns the tag's count (the total without a tag)."""
        with self._lock:
            self.images += images
            self.requests += 1
            if tag is None:
                return self.images
            count = self.tags.pop(tag, 0) + images
            self.tags[tag] = count  # last: the most recently used
            if len(self.tags) > self.max_tags:
                self.other += self.tags.popitem(last=False)[1]
            return count

    def refuse(self) -> None:
        with self._lock:
            self.refused += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"images": self.images, "requests": self.requests, "refused": self.refused,
                    "tags": dict(self.tags), "other": self.other}


def check_images(images: np.ndarray, max_batch: int) -> np.ndarray:
    """The batch as float32 (N, 1, 28, 28); accepts (N, 28, 28) and (N, 1, 28, 28).

    Raises:
        BadImages: not numbers, a wrong shape, an empty batch, more than ``max_batch`` images
            (413), or a pixel that is not finite or outside [0, 1].
    """
    if images.dtype.kind not in "iuf":
        raise BadImages(f"images must be numbers, got {images.dtype.name} values")
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise BadImages(f"images must have shape (N, {SIDE}, {SIDE}) or (N, 1, {SIDE}, {SIDE}), "
                        f"got {images.shape}")
    if len(images) == 0:
        raise BadImages("images is empty: send at least one image")
    if len(images) > max_batch:
        raise BadImages(f"{len(images)} images in one request; at most {max_batch}", status=413)
    if not np.isfinite(images).all():
        raise BadImages("images hold NaN or infinite pixels")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise BadImages(f"pixels must lie in [0, 1], found values in [{low:.9g}, {high:.9g}]")
    return np.require(images, np.float32, ["C_CONTIGUOUS", "WRITEABLE"])[:, None]  # torch wants it writable


def check_tag(tag: object) -> str | None:
    """Raises BadImages unless ``tag`` is absent or a string of at most MAX_TAG_CHARS."""
    if tag is None or (isinstance(tag, str) and 0 < len(tag) <= MAX_TAG_CHARS and _encodes(tag)):
        return tag
    if isinstance(tag, str) and 0 < len(tag) <= MAX_TAG_CHARS:  # a lone surrogate: /stats could not show it
        raise BadImages(f"tag must be text that UTF-8 can hold (no lone surrogate), got {tag!r:.60}")
    # a list or an object is named, not shown: its repr may nest past the recursion limit
    shown = f"a JSON {'list' if isinstance(tag, list) else 'object'}" if isinstance(tag, list | dict) \
        else f"{tag!r:.60}"
    raise BadImages(f"tag must be a string of 1 to {MAX_TAG_CHARS} characters, got {shown}")


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_request(body: bytes, content_type: str) -> tuple[np.ndarray, str | None]:
    """(images as sent, tag) from a JSON or frame body.

    Raises:
        BadImages: an unsupported content type (415), a body that does not decode, no images.
    """
    media = content_type.split(";")[0].strip().lower()
    if media == wire.MEDIA_TYPE:
        try:
            fields, vectors = wire.decode(body)
        except wire.WireError as error:
            raise BadImages(f"bad frame: {error}", status=400) from None
        except RecursionError:  # a header of lists in lists past Python's recursion limit
            raise BadImages("bad frame: its header is nested too deeply to decode", status=400) from None
        shape = fields.get("shape")
        if "images" not in vectors or not (isinstance(shape, list) and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
            raise BadImages('a frame needs the vector "images" and the field "shape" (a list of sizes)')
        flat = vectors["images"]
        pixels = math.prod(shape)  # Python ints: numpy's product wraps around past 2**63
        if pixels != flat.size:
            raise BadImages(f"shape {shape} holds {pixels} pixels, the frame carries {flat.size}")
        try:
            return flat.reshape(shape), fields.get("tag")
        except ValueError as error:  # a side beyond numpy's reach around a zero-size one
            raise BadImages(f"shape {shape} cannot be taken: {error}") from None
    if media not in (JSON_TYPE, ""):
        raise BadImages(f"Content-Type must be {JSON_TYPE} or {wire.MEDIA_TYPE}, not {media!r}", status=415)
    try:
        message = json.loads(body)
    except ValueError as error:
        raise BadImages(f"body is not JSON: {error}", status=400) from None
    except RecursionError:  # lists in lists past Python's recursion limit: no image is that deep
        raise BadImages("body is not JSON this victim can read: nested too deeply to decode", status=400) from None
    if not isinstance(message, dict) or "images" not in message:
        raise BadImages('body must be a JSON object with "images"')
    # numpy reads true as 1.0 beside numbers: look for booleans first (only a body that spells one)
    if (b"true" in body or b"false" in body) and _holds_boolean(message["images"]):
        raise BadImages("images must be numbers, got a boolean (true or false)")
    try:
        images = np.asarray(message["images"])
    except ValueError:  # ragged nesting, or deeper than numpy's 64 dimensions
        depth = _depth(message["images"])
        got = "ragged lists" if depth <= 4 else f"lists nested {depth} deep, not 3 (or 4)"
        raise BadImages(f"images must be a (N, {SIDE}, {SIDE}) array of numbers, got {got}") from None
    return images, message.get("tag")


def _depth(value: object) -> int:
    """How deep lists nest along the first items of ``value`` (3 for a (N, 28, 28) batch)."""
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    return depth


def _holds_boolean(value: object) -> bool:
    """Whether a boolean lies anywhere in ``value``'s nested lists."""
    lists = [value]
    while lists:
        items = lists.pop()
        if not isinstance(items, list):
            if isinstance(items, bool):
                return True
            continue
        for item in items:
            if isinstance(item, list):
                lists.append(item)
            elif isinstance(item, bool):
                return True
    return False


def probabilities(classifier: Classifier, images: np.ndarray) -> np.ndarray:
    """Softmax of the classifier's logits as float32 (N, 10).  It is computed in float64 and
    rounded once, so that both encodings carry the same numbers and each row sums to 1 within
    float32's rounding."""
    with torch.inference_mode():
        logits = classifier(torch.from_numpy(images)).double()
        return torch.softmax(logits, dim=1).float().numpy()


def create_app(classifier: Classifier, max_batch: int = DEFAULT_MAX_BATCH) -> FastAPI:
    """The victim's app around ``classifier``; ``app.state.counts`` holds its QueryCounts."""
    app = FastAPI(title="zoadamm victim", description=__doc__)
    counts = app.state.counts = QueryCounts()
    lock = threading.Lock()  # one batch at a time through torch: requests queue, not oversubscribe
    # the longest body a full batch can need: a JSON pixel is at most ~25 characters
    max_bytes = max_batch * PIXELS * 32 + 4096

    def answer(body: bytes, content_type: str, accept: str) -> Response:
        try:
            raw, tag = parse_request(body, content_type)
            images, tag = check_images(raw, max_batch), check_tag(tag)
        except BadImages as error:
            counts.refuse()
            return JSONResponse({"detail": str(error)}, status_code=error.status)
        with lock:
            probs = probabilities(classifier, images)
        counted = counts.add(tag, len(images))
        if wire.accepts_frame(accept):
            frame = wire.encode({"shape": list(probs.shape), "counted": counted}, {"probabilities": probs})
            return Response(frame, media_type=wire.MEDIA_TYPE)
        return JSONResponse({"probabilities": probs.tolist(), "counted": counted})

    def too_long(size: str) -> Response:
        counts.refuse()
        return JSONResponse({"detail": f"body of {size} bytes; at most {max_bytes} ({max_batch} images)"},
                            status_code=413)

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        """Class probabilities of a batch of images; counts them."""
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > max_bytes:
            return too_long(declared)
        # a chunked body declares no length: the bytes read are what is limited
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                return too_long(f"over {max_bytes}")
        # decoding and the forward pass are CPU work: off the event loop
        return await run_in_threadpool(answer, bytes(body), request.headers.get("content-type", ""),
                                       request.headers.get("accept", ""))

    @app.get("/stats")
    def stats() -> dict:
        """Images asked about (in all and per tag), requests answered and refused."""
        return counts.snapshot()

    return app

"""The victim over real HTTP: probabilities that sum to 1 and are the model's, the same
numbers in JSON and in the frame, exact counts, and a clear 4xx for every malformed batch."""

from __future__ import annotations

import contextlib
import json
import struct
import threading
import time

import httpx
import numpy as np
import pytest
import torch

from zoadamm import wire
from zoadamm_worker.attack import victim_client
from zoadamm_worker.attack.victim_client import VictimClient, VictimError


def _local_probabilities(classifier, images: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        logits = classifier(torch.from_numpy(images).reshape(-1, 1, 28, 28)).double()
        return torch.softmax(logits, dim=1).float().numpy()


def test_probabilities_sum_to_one_and_are_the_models(victim_url, classifier, test_window):
    images, labels = test_window
    with VictimClient(victim_url) as frame, VictimClient(victim_url, binary=False) as plain:
        by_frame, by_json = frame.predict(images).probabilities, plain.predict(images).probabilities
    assert by_frame.shape == (64, 10) and by_frame.dtype == np.float32
    assert np.abs(by_frame.astype(np.float64).sum(axis=1) - 1).max() < 1e-6
    assert (by_frame >= 0).all()
    np.testing.assert_array_equal(by_frame, by_json)  # the same float32 numbers in both encodings
    np.testing.assert_allclose(by_frame, _local_probabilities(classifier, images), rtol=1e-5, atol=1e-7)
    assert (by_frame.argmax(1) == labels).mean() >= 0.95


def test_the_answer_has_probabilities_only(victim_url, test_window):
    body = httpx.post(victim_url + "/predict", json={"images": test_window[0][:2].reshape(2, 28, 28).tolist()}).json()
    assert set(body) == {"probabilities", "counted"}


def test_counts_are_exact_per_tag_and_in_all(victim_url, test_window):
    images = test_window[0]
    with VictimClient(victim_url) as victim:
        before = victim.stats()
        assert victim.predict(images[:3], "count-a").counted == 3
        assert victim.predict(images[:5], "count-a").counted == 8
        assert victim.predict(images[:2], "count-b").counted == 2
        victim.predict(images[:4])
        after = victim.stats()
    assert after["images"] - before["images"] == 14
    assert after["requests"] - before["requests"] == 4
    assert after["tags"]["count-a"] == 8 and after["tags"]["count-b"] == 2


def test_counts_stay_exact_under_concurrent_requests(victim_url, test_window):
    images, sizes = test_window[0], np.random.default_rng(0).integers(1, 20, size=(6, 8))

    def worker(row: int) -> None:
        with VictimClient(victim_url) as victim:
            for size in sizes[row]:
                victim.predict(images[:size], f"threads-{row % 2}")

    threads = [threading.Thread(target=worker, args=(row,)) for row in range(len(sizes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with VictimClient(victim_url) as victim:
        tags = victim.stats()["tags"]
    assert tags["threads-0"] == sizes[0::2].sum() and tags["threads-1"] == sizes[1::2].sum()


def _frame(images: np.ndarray, shape=None, **fields) -> bytes:
    return wire.encode({"shape": list(images.shape) if shape is None else shape, **fields}, {"images": images})


GOOD = np.full((2, 28, 28), 0.5, dtype=np.float32)
NAN = GOOD.copy()
NAN[1, 3, 4] = np.nan
MALFORMED = {
    "a wrong image size": (json.dumps({"images": np.zeros((2, 28, 27)).tolist()}), "json", 422, "shape"),
    "no batch dimension": (json.dumps({"images": np.zeros((28, 28)).tolist()}), "json", 422, "shape"),
    "three channels": (_frame(np.zeros((1, 3, 28, 28), np.float32)), "frame", 422, "shape"),
    "ragged lists": (json.dumps({"images": [[[0.0] * 28] * 28, [[0.0] * 28] * 27]}), "json", 422, "ragged"),
    "a pixel above 1": (json.dumps({"images": np.full((1, 28, 28), 1.5).tolist()}), "json", 422, "[0, 1]"),
    "a negative pixel": (_frame(np.full((1, 28, 28), -0.1, np.float32)), "frame", 422, "[0, 1]"),
    "strings": (json.dumps({"images": [[["a"] * 28] * 28]}), "json", 422, "numbers"),
    "booleans": (json.dumps({"images": [[[True] * 28] * 28]}), "json", 422, "numbers"),
    "a boolean among numbers": (json.dumps({"images": [[[0.5] * 27 + [True]] * 28]}), "json", 422, "boolean"),
    "false among numbers": (json.dumps({"images": [[[False] + [0.5] * 27] + [[0.5] * 28] * 27]}), "json", 422,
                            "boolean"),
    "NaN in a frame": (_frame(NAN), "frame", 422, "NaN"),
    "Infinity in JSON": (json.dumps({"images": np.full((1, 28, 28), np.inf).tolist()}), "json", 422, "NaN"),
    "an empty batch": (json.dumps({"images": []}), "json", 422, "shape"),
    "an empty frame batch": (_frame(np.zeros((0, 28, 28), np.float32)), "frame", 422, "empty"),
    "too large a batch": (_frame(np.zeros((1025, 28, 28), np.float32)), "frame", 413, "at most 1024"),
    "a shape that disagrees with the payload": (_frame(GOOD, shape=[3, 28, 28]), "frame", 422, "carries"),
    "a shape whose product overflows int64": (_frame(np.zeros(0, np.float32), shape=[2**62, 4, 28, 28]), "frame",
                                              422, "carries"),
    "a side too large beside a side of 0": (_frame(np.zeros(0, np.float32), shape=[2**62, 0, 28, 28]), "frame",
                                            422, "cannot be taken"),
    "no images field": (json.dumps({"pictures": GOOD.tolist()}), "json", 422, '"images"'),
    "a body that is not JSON": ("{images:", "json", 400, "not JSON"),
    "a broken frame": (b"ZOF1\xff\xff\x00\x00", "frame", 400, "bad frame"),
    "a tag that is not a string": (json.dumps({"images": GOOD.tolist(), "tag": 7}), "json", 422, "tag"),
    "a tag too long": (_frame(GOOD, tag="x" * 129), "frame", 422, "tag"),
    # kept, it made every later /stats a 500 (a lone surrogate has no UTF-8)
    "a tag with a lone surrogate": ('{"images": ' + json.dumps(GOOD.tolist()) + ', "tag": "\\ud800"}', "json", 422,
                                    "lone surrogate"),
    "a frame's tag with a lone surrogate": (_frame(GOOD, tag="\udc80x"), "frame", 422, "lone surrogate"),
    "another content type": ("images=1", "text/plain", 415, "Content-Type"),
    # a 500 with a RecursionError, and "ragged lists" for a nesting too deep for numpy
    "JSON nested past the recursion limit": ('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}", "json", 400,
                                             "body is not JSON"),
    "a number nested 70 lists deep": (json.dumps({"images": json.loads("[" * 70 + "0.5" + "]" * 70)}), "json", 422,
                                      "nested 70 deep"),
    "a frame header nested past the recursion limit": (
        struct.pack("<4sI", wire.MAGIC, 20_000) + b"[" * 10_000 + b"]" * 10_000, "frame", 400, "bad frame"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_batch_is_refused_with_a_clear_4xx_and_counts_nothing(victim_url, case):
    body, kind, status, words = MALFORMED[case]
    content_type = {"json": "application/json", "frame": wire.MEDIA_TYPE}.get(kind, kind)
    before = httpx.get(victim_url + "/stats").json()
    answer = httpx.post(victim_url + "/predict", content=body, headers={"content-type": content_type})
    after = httpx.get(victim_url + "/stats").json()
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    assert (after["images"], after["requests"], after["tags"]) == (before["images"], before["requests"], before["tags"])
    assert after["refused"] == before["refused"] + 1


def test_the_tags_kept_by_name_are_bounded_and_the_rest_counted_as_other():
    """A long-lived victim kept a count for every tag it was ever sent: one per attacked image."""
    from zoadamm_worker.attack.victim import QueryCounts

    counts = QueryCounts(max_tags=3)
    assert [counts.add(tag, n) for tag, n in (("a", 1), ("b", 2), ("c", 3), ("a", 4), ("d", 5))] == [1, 2, 3, 5, 5]
    stats = counts.snapshot()
    assert stats["tags"] == {"c": 3, "a": 5, "d": 5} and stats["other"] == 2  # b, used longest ago, went
    assert stats["images"] == sum(stats["tags"].values()) + stats["other"] == 15


def test_the_client_names_the_victims_refusal(victim_url):
    with VictimClient(victim_url) as victim, pytest.raises(VictimError, match=r"422: pixels must lie in \[0, 1\]"):
        victim.predict(np.full((1, 784), 2.0, dtype=np.float32))


def test_the_client_says_when_no_victim_answers():
    from zoadamm_service.launch import free_port

    with VictimClient(f"http://127.0.0.1:{free_port()}") as victim, pytest.raises(VictimError, match="cannot reach"):
        victim.predict(GOOD)


class _JsonOnlyVictim:
    """A victim of a user's own, over real HTTP: JSON only (415 to anything else), no count in its
    answer, and a brightness rule for its two classes; ``answer`` can make it answer NaN or a
    row too few."""

    def __init__(self, answer: str = "good") -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        victim = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-type") != "application/json":
                    return self._send(415, {"detail": "JSON only"})
                victim.requests += 1
                if victim.answer == "busy once" and victim.requests == 1:
                    return self._send(503, {"detail": "busy"})
                if victim.answer == "noisy error":  # pages of text, and a terminal's escape codes
                    return self._send(500, {"detail": "\x1b[31mred\x1b[0m\n" + "E\n" * 5000})
                bright = float(np.mean(json.loads(body)["images"])) > 0.5
                if victim.answer == "hang" or (victim.answer == "hang on bright" and bright):
                    victim.release.wait(120)  # until the test ends: an answer that does not come
                    return self._send(503, {"detail": "released"})
                if victim.answer in ("endless", "dribble"):  # no length: the answer ends when the socket does
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.end_headers()
                    with contextlib.suppress(OSError):  # the client hung up
                        for _ in range(400):
                            self.wfile.write(b"[0.1, 0.9], " * (1 if victim.answer == "dribble" else 10_000))
                            self.wfile.flush()
                            time.sleep(0.05 if victim.answer == "dribble" else 0)
                    return None
                images = np.asarray(json.loads(body)["images"]).reshape(-1, 784)
                bright = images.mean(axis=1, keepdims=True)
                rows = np.hstack([1 - bright, bright])
                if victim.answer == "nan":
                    rows[0, 0] = np.nan
                return self._send(200, {"probabilities": (rows[1:] if victim.answer == "short" else rows).tolist()})

            def _send(self, status, answer):
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.answer, self.requests, self.release = answer, 0, threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_victim_of_ones_own_that_reads_json_only_and_says_no_count_is_asked_in_json():
    victim = _JsonOnlyVictim()
    try:
        with VictimClient(victim.url) as client:
            first = client.predict(np.full((3, 784), 0.25, np.float32), tag="mine")
            assert not client.binary and first.counted is None
            np.testing.assert_allclose(first.probabilities, [[0.75, 0.25]] * 3)
            assert client.predict(GOOD).probabilities.shape == (len(GOOD), 2)
    finally:
        victim.close()


@pytest.mark.parametrize("answer, words", [
    ("nan", "answered probabilities that are not finite numbers >= 0"),
    ("short", r"answered probabilities of shape \(2, 2\) for 3 images"),
])
def test_an_answer_no_classifier_gives_is_the_victims_fault_said_so(answer, words):
    victim = _JsonOnlyVictim(answer)
    try:
        with VictimClient(victim.url) as client, pytest.raises(VictimError, match=words):
            client.predict(np.full((3, 784), 0.25, np.float32))
    finally:
        victim.close()


def test_a_victims_error_text_is_one_short_line_with_its_control_characters_escaped():
    """Its whole body had come through: 5,001 lines, escape codes reaching the terminal."""
    victim = _JsonOnlyVictim("noisy error")
    try:
        with VictimClient(victim.url) as client, pytest.raises(VictimError) as refused:
            client.predict(np.full((3, 784), 0.25, np.float32))
    finally:
        victim.close()
    said = str(refused.value)
    assert said.startswith(f"the victim at {victim.url} answered 500: \\x1b[31mred\\x1b[0m E E E"), said
    assert "\n" not in said and "\x1b" not in said and len(said) < 500 and said.endswith("... (10,012 characters)")


def test_an_answer_without_end_is_not_read_into_memory(monkeypatch):
    """A victim answering 200 and rows without end was read whole: 3 GB of memory for 200 MB."""
    monkeypatch.setattr(victim_client, "MAX_ANSWER_BYTES", 1 << 20)
    victim = _JsonOnlyVictim("endless")
    try:
        with VictimClient(victim.url, binary=False) as client, pytest.raises(VictimError) as refused:
            client.predict(np.full((3, 784), 0.25, np.float32))
    finally:
        victim.close()
    assert str(refused.value).startswith(f"the victim at {victim.url} answered more than 1,048,576 bytes")


def test_an_answer_sent_a_few_bytes_at_a_time_ends_at_the_timeout():
    """Each read came within the timeout, so a victim sending 12 bytes every 50 ms held the run
    for as long as it went on: the timeout now bounds the whole answer."""
    victim = _JsonOnlyVictim("dribble")
    try:
        with VictimClient(victim.url, binary=False, timeout=1.0) as client, pytest.raises(VictimError) as cut:
            client.predict(np.full((3, 784), 0.25, np.float32))
    finally:
        victim.close()
    said = str(cut.value)
    assert said.startswith(f"the victim at {victim.url} did not finish its answer within 1 s ("), said
    assert int(said.split("(")[1].split(" bytes")[0].replace(",", "")) < 400 * 12  # cut off before its end


def test_a_call_in_flight_is_cut_off_when_the_run_stops():
    """Ctrl-C waited for the answers in flight, up to the victim's timeout: abort() from another
    thread ends the call at once (a call that had waited would say "did not answer within")."""
    victim = _JsonOnlyVictim("hang")
    outcome: list[BaseException] = []
    try:
        with VictimClient(victim.url, binary=False, timeout=60.0) as client:
            def ask() -> None:
                try:
                    client.predict(np.full((3, 784), 0.25, np.float32))
                except BaseException as error:  # noqa: BLE001 - the test reads it
                    outcome.append(error)

            asking = threading.Thread(target=ask)
            asking.start()
            until_asked = time.monotonic() + 30
            while victim.requests == 0 and time.monotonic() < until_asked:
                time.sleep(0.01)
            client.abort()
            asking.join()
    finally:
        victim.close()
    (error,) = outcome
    assert isinstance(error, VictimError) and str(error) == (
        f"the call to the victim at {victim.url} was cut off: the run stopped"), error


def test_images_in_flight_are_let_go_when_the_run_ends():
    """The run ends (here its reader stops; Ctrl-C likewise) while an image waits for an answer
    that does not come: its call is cut off, and nothing waits for the victim's timeout."""
    from zoadamm_worker.attack.zo import in_flight

    victim = _JsonOnlyVictim("hang on bright")
    ends: list[str] = []

    def work(target, stop):
        with VictimClient(victim.url, binary=False, timeout=60.0) as client, stop.watching(client):
            try:
                client.predict(np.full((1, 784), 0.25 if target == "dark" else 0.75, np.float32))
                return target
            except VictimError as error:
                ends.append(str(error))
                raise

    try:
        running = in_flight(work, ["dark", "bright"], concurrency=2)
        assert next(running)[0] == "dark"
        running.close()  # the bright image's call waits on its answer: cut off, not waited out
    finally:
        victim.close()
    assert ends == [f"the call to the victim at {victim.url} was cut off: the run stopped"], ends


def test_the_predict_endpoints_url_reaches_the_victim_too():
    """The victim prints its endpoint's URL, .../predict, which a user copies: it answered 404."""
    victim = _JsonOnlyVictim()
    try:
        with VictimClient(victim.url + "/predict/", binary=False) as client:
            assert client.url == victim.url
            assert client.predict(GOOD).probabilities.shape == (len(GOOD), 2)
    finally:
        victim.close()


def test_a_victim_busy_for_a_moment_is_asked_again():
    victim = _JsonOnlyVictim("busy once")
    try:
        with VictimClient(victim.url, binary=False) as client:
            assert client.predict(GOOD).probabilities.shape == (len(GOOD), 2)
        assert victim.requests == 2
    finally:
        victim.close()


def test_a_chunked_body_past_the_limit_is_refused_as_it_is_read(small_victim_url):
    """A body without Content-Length was read whole, however long, and classified."""
    image = json.dumps({"images": GOOD[:1].tolist()}).encode()

    def body():  # valid JSON, padded past the limit of a one-image victim with whitespace
        yield image[:-1]
        for _ in range(20):
            yield b" " * 4096
        yield b"}"

    before = httpx.get(small_victim_url + "/stats").json()
    answer = httpx.post(small_victim_url + "/predict", content=body(), headers={"content-type": "application/json"})
    after = httpx.get(small_victim_url + "/stats").json()
    assert answer.status_code == 413 and "at most" in answer.json()["detail"]
    assert after["images"] == before["images"] and after["refused"] == before["refused"] + 1
    short = httpx.post(small_victim_url + "/predict", content=iter([image]),
                       headers={"content-type": "application/json"})
    assert short.status_code == 200  # a chunked body within the limit is read as any other


def test_a_victim_answering_fewer_classes_than_the_label_is_said_to_be_at_fault():
    """Its margin was an IndexError traceback, after the query was sent and counted."""
    from zoadamm_worker.attack.feasible import PerturbationSet
    from zoadamm_worker.attack.objective import ImageQueries, Target

    image = np.full(784, 0.25, np.float32)
    victim = _JsonOnlyVictim()  # two classes
    try:
        with VictimClient(victim.url) as client:
            queries = ImageQueries(client.predict, Target(3, image, 7), PerturbationSet(image, "inf", 0.1), 10)
            with pytest.raises(VictimError, match="answered 2 probabilities per image, and image 3's label is 7"):
                queries.probabilities(np.zeros((1, 784), np.float32))
    finally:
        victim.close()


def test_a_victim_answering_fewer_classes_than_the_labels_is_refused_before_any_attack():
    """Its images whose label it has no class for read as misclassified, skipped, and the rest
    were attacked on a margin of fewer classes, the run ending with status 0."""
    from zoadamm_worker.attack.targets import select_targets

    images, labels = np.zeros((3, 784), np.float32), np.array([7, 1, 2])
    five = lambda batch: np.full((len(batch), 5), 0.2)  # noqa: E731
    with pytest.raises(VictimError, match="answered 5 probabilities per image, and a label here is 7"):
        select_targets(0, images, labels, five)


@pytest.mark.parametrize("label", [-1, 10, 2.0])
def test_a_target_whose_label_is_no_digit_is_refused(label):
    from zoadamm_worker.attack.objective import Target

    with pytest.raises(ValueError, match="label must be a digit's class, 0 to 9"):
        Target(0, np.zeros(784, np.float32), label)


def test_a_pixel_just_above_one_is_shown_above_one(victim_url):
    images = np.full((1, 28, 28), 0.5, np.float32)
    images[0, 0, 0] = np.float32(1.0000001)
    answer = httpx.post(victim_url + "/predict", json={"images": images.tolist()})
    assert answer.status_code == 422 and "[0.5, 1.00000012]" in answer.json()["detail"], answer.text

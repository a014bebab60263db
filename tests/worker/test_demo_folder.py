"""Each demo writes into a run folder of its own, even when two start in the same second."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime

from zoadamm_worker import demo, mnist, train


class _SameSecond(datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 12, 6, 14, 5, 31)


def test_two_demos_started_in_the_same_second_keep_their_own_run_folders(tmp_path, monkeypatch, capsys):
    """The training is left out (each run's record says which demo wrote it): what is tested is
    where each demo writes and which folder it names."""
    monkeypatch.setattr(demo, "datetime", _SameSecond)
    monkeypatch.setattr(demo, "local_service", lambda redis_url: contextlib.nullcontext("http://service"))
    monkeypatch.setattr(mnist, "load_mnist", lambda *args: None)

    def record_seed(spec, url, path, data):
        path.write_text(json.dumps(spec.seed))
        return []

    monkeypatch.setattr(train, "train", record_seed)
    reported = []
    monkeypatch.setattr(demo, "_write_report", lambda folder, fo, zo, d, args: reported.append(folder))
    for seed in ("0", "1"):
        assert demo.main(["--epochs", "1", "--out", str(tmp_path), "--seed", seed]) == 0
    first, second = reported
    assert first != second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-20261206-140531", "demo-20261206-140531-2"]
    for folder, seed in ((first, 0), (second, 1)):
        assert [json.loads((folder / f"{run}.jsonl").read_text()) for run in ("fo", "zo")] == [seed, seed]

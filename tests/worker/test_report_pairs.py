"""Which FO record a ZO record is compared with when a folder holds several runs' records (compose's
volume after run upon run): the FO run of the same d and seed set up most like it, the newest."""

from __future__ import annotations

import json
import os

from zoadamm_worker.report import pair_records


def _write(folder, name: str, method: str, epochs: int, when: float, d: int = 1400) -> None:
    rows = [{"epoch": e + 1, "method": method, "d": d, "seed": 0, "epochs": epochs, "session": name}
            for e in range(epochs)]
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.utime(path, (when, when))


def test_a_zo_run_is_paired_with_the_fo_run_set_up_like_it(tmp_path):
    _write(tmp_path, "fo-d1400-seed0-zz", "adamm", epochs=1, when=100.0)  # sorts last: another run's
    _write(tmp_path, "fo-d1400-seed0-aa", "adamm", epochs=3, when=50.0)
    _write(tmp_path, "zo-d1400-seed0-mm", "zo-adamm", epochs=3, when=60.0)
    ((name, fo, zo),) = pair_records(tmp_path)
    assert name == "zo-d1400-seed0-mm" and fo[0]["session"] == "fo-d1400-seed0-aa"


def test_of_fo_runs_set_up_alike_the_newest_counts(tmp_path):
    _write(tmp_path, "fo-b", "adamm", epochs=2, when=20.0)
    _write(tmp_path, "fo-a", "adamm", epochs=2, when=10.0)
    _write(tmp_path, "fo-c", "adamm", epochs=2, when=30.0, d=169196)  # newest, but another model
    _write(tmp_path, "zo", "zo-adamm", epochs=2, when=40.0)
    ((_, fo, _),) = pair_records(tmp_path)
    assert fo[0]["session"] == "fo-b"

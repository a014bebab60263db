"""Read a results folder back: runs, their groups (a row of the report), their weights, the paper.

A group is every seed of one setting: (method, d, q, difference, normalizer, train limit, lr).
FO runs have no q, difference or normalizer of their own; their key holds ``None`` there.
"""

from __future__ import annotations

import csv
import json
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from zoadamm.methods import AMSGRAD_METHODS

from ..model import initial_parameters
from ..records import RecordError, text_of
from ..train import RunSpec
from .runner import diverged_path, weights_path

DEFAULT_LR = RunSpec.lr
GroupKey = tuple  # (method, d, q, difference, normalizer, train_limit, lr)


@dataclass
class Run:
    name: str
    path: Path
    records: list[dict]

    @property
    def spec(self) -> dict:
        return self.records[0]

    @property
    def seed(self) -> int:
        return self.spec["seed"]

    @property
    def key(self) -> GroupKey:
        s = self.spec
        limit, lr = s.get("train_limit"), s.get("lr", DEFAULT_LR)
        if s["method"] == "adamm":
            return ("adamm", s["d"], None, None, None, limit, lr)
        return (s["method"], s["d"], s["directions"], s["difference"], s["normalizer"], limit, lr)

    def column(self, name: str) -> np.ndarray:
        return np.array([r[name] for r in self.records], dtype=float)

    def weights(self) -> dict[int, np.ndarray]:
        """epoch -> flat float32 weights (epoch 0: the initial weights); empty without any.

        From ``<name>.weights.npz`` for a complete run, else from the records of a run still
        going (``train`` keeps them there until the run ends).
        """
        npz = weights_path(self.path)
        if npz.exists():
            try:
                with np.load(npz) as archive:
                    return {int(e): w for e, w in zip(archive["epochs"], archive["weights"], strict=True)}
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
                raise RecordError(f"{npz} is no weights file of a run ({type(error).__name__}): it is damaged; "
                                  "move it out of the folder to analyze the rest") from None
        found = {r["epoch"]: np.asarray(r["weights"], np.float32) for r in self.records if "weights" in r}
        if found:
            found[0] = initial_parameters(self.spec["scale"], self.seed)
        return found


@dataclass
class Group:
    key: GroupKey
    runs: list[Run] = field(default_factory=list)

    @property
    def label(self) -> str:
        method, d, q, difference, normalizer, limit, lr = self.key
        divisor = "" if normalizer == "v_hat" or method not in AMSGRAD_METHODS else f" /sqrt({normalizer})"
        name = "ZO" if method == "zo-adamm" else method
        text = "FO AdaMM" if method == "adamm" else f"{name} q={q} {difference}" + divisor
        return (f"{text} d={d:,}" + (f" lr={lr:g}" if lr != DEFAULT_LR else "")
                + (f" (first {limit} images)" if limit else ""))

    @property
    def epochs_reached(self) -> list[int]:
        return [len(run.records) for run in self.runs]

    @property
    def common_epochs(self) -> int:
        """Epochs every seed of the group reached: the rows' statistics stop there."""
        return min(self.epochs_reached)

    def stat(self, name: str, epoch: int | None = None) -> tuple[float, float, int]:
        """(mean, std, seeds) of ``name`` at ``epoch`` (default: the common last epoch) over seeds."""
        epoch = epoch or self.common_epochs
        values = [run.records[epoch - 1][name] for run in self.runs if len(run.records) >= epoch]
        return float(np.mean(values)), float(np.std(values)), len(values)

    def curve(self, name: str) -> np.ndarray:
        """(seeds, common epochs) array of ``name``."""
        n = self.common_epochs
        return np.array([[r[name] for r in run.records[:n]] for run in self.runs], dtype=float)


def paired(fo: Group, zo: Group) -> list[tuple]:
    """(FO run, ZO run) of every seed both groups have."""
    by_seed = {run.seed: run for run in fo.runs}
    return [(by_seed[run.seed], run) for run in zo.runs if run.seed in by_seed]


def ratio_curves(fo: Group, zo: Group, name: str, zo_over_fo: bool = True) -> np.ndarray:
    """(seeds, epochs) of ZO/FO (or FO/ZO) ``name`` per epoch, over the epochs every pair reached."""
    pairs = paired(fo, zo)
    n = min(min(len(a.records), len(b.records)) for a, b in pairs)
    a = np.array([f.column(name)[:n] for f, _ in pairs])
    b = np.array([z.column(name)[:n] for _, z in pairs])
    return b / a if zo_over_fo else a / b


def load_diverged(folder: str | Path) -> list[dict]:
    """The settings (and the step) of every run in ``folder`` that diverged."""
    found = []
    for path in sorted(Path(folder).glob("*.diverged.json")):
        try:
            marker = json.loads(text_of(path))
        except json.JSONDecodeError as error:
            raise RecordError(f"{path} is no JSON ({error.msg}): move it out of the folder") from None
        if not isinstance(marker, dict) or (missing := [k for k in DIVERGED if k not in marker]):
            raise RecordError(f"{path} is no marker of a diverged run (it lacks "
                              f"{', '.join(missing) if isinstance(marker, dict) else 'every field'}): move it out")
        found.append(marker)
    return found


# what every record gives analyze (a ZO run's its settings too), and a diverged run's marker
REQUIRED = ("epoch", "method", "d", "seed", "scale", "train_loss", "test_loss", "test_accuracy")
ZO_REQUIRED = ("directions", "difference", "normalizer")
DIVERGED = ("step", "method", "scale", "seed", "lr")


def load_runs(folder: str | Path) -> list[Run]:
    """Every ``*.jsonl`` record in ``folder`` (not ``aside/``) with at least one epoch, by name;
    runs that diverged are left out (``load_diverged``): their epochs stop where they broke."""
    runs = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        if diverged_path(path).exists():
            continue
        records: list[dict] = []
        lines = [(number, line) for number, line in enumerate(text_of(path).splitlines(), 1) if line.strip()]
        for number, line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == lines[-1][0]:  # the last line cut by a kill: keep the whole lines before it
                    break
                raise RecordError(f"{path}:{number} is no JSON, and whole records follow it: mend or remove "
                                  "that line") from None
            records.append(_epoch_record(record, path, number, len(records) + 1))
        if records:
            runs.append(Run(path.stem, path, records))
    return runs


def _epoch_record(record, path: Path, number: int, epoch: int) -> dict:
    """``record`` if it is epoch ``epoch`` of a run, else RecordError naming the line."""
    needed = REQUIRED + (ZO_REQUIRED if isinstance(record, dict) and record.get("method") != "adamm" else ())
    missing = [key for key in needed if key not in record] if isinstance(record, dict) else list(REQUIRED)
    if missing:
        raise RecordError(f"{path}:{number} is no epoch record of a run (it lacks {', '.join(missing)}): "
                          "move it out of the folder, or give a folder of zoadamm-experiments runs")
    if record["epoch"] != epoch:  # a line written twice, or epochs missing: the curves would be shifted
        raise RecordError(f"{path}:{number} is epoch {record['epoch']!r} where epoch {epoch} comes next: a run's "
                          "records are its epochs 1, 2, ... in order, each once")
    return record


def group_runs(runs: list[Run]) -> list[Group]:
    """Groups sorted FO first, then by d, method, difference, q, normalizer and lr."""
    groups: dict[GroupKey, Group] = {}
    for run in runs:
        groups.setdefault(run.key, Group(run.key)).runs.append(run)
    for group in groups.values():
        group.runs.sort(key=lambda run: run.seed)
        for one, other in zip(group.runs, group.runs[1:], strict=False):  # a copy: one seed twice in mean ± std
            if one.seed == other.seed:
                raise RecordError(f"{one.path} and {other.path} are runs of one setting with one seed "
                                  f"({one.seed}): keep one of them in the folder")

    def order(key):
        method, d, q, difference, normalizer, limit, lr = key
        return (limit or 0, d, method != "adamm", method, difference or "", q or 0, normalizer or "", lr)
    return [groups[key] for key in sorted(groups, key=order)]


def paper_results() -> list[dict]:
    """The paper's final-epoch figures (``paper_results.csv`` next to this module; '#' lines are notes)."""
    text = resources.files(__package__).joinpath("paper_results.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    return [{k: (v if k == "optimizer" else float(v)) for k, v in row.items()} for row in rows]

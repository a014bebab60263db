"""Read a results folder back: runs, their groups (a row of the report), their weights, the paper.

A group is every seed of one setting: (method, d, q, difference, normalizer, train limit, lr).
FO runs have no q, difference or normalizer of their own; their key holds ``None`` there.
"""

from __future__ import annotations

import csv
import json
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
            with np.load(npz) as archive:
                return {int(e): w for e, w in zip(archive["epochs"], archive["weights"], strict=True)}
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
    return [json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.diverged.json"))]


REQUIRED = ("epoch", "method", "d", "seed", "train_loss", "test_accuracy")  # what every record gives analyze


def load_runs(folder: str | Path) -> list[Run]:
    """Every ``*.jsonl`` record in ``folder`` (not ``aside/``) with at least one epoch, by name;
    runs that diverged are left out (``load_diverged``): their epochs stop where they broke."""
    runs = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        if diverged_path(path).exists():
            continue
        records = []
        for number, line in enumerate(text_of(path).splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill: keep the whole lines before it
                break
            missing = [key for key in REQUIRED if key not in record] if isinstance(record, dict) else list(REQUIRED)
            if missing:
                raise RecordError(f"{path}:{number} is no epoch record of a run (it lacks {', '.join(missing)}): "
                                 "move it out of the folder, or give a folder of zoadamm-experiments runs")
            records.append(record)
        if records:
            runs.append(Run(path.stem, path, records))
    return runs


def group_runs(runs: list[Run]) -> list[Group]:
    """Groups sorted FO first, then by d, method, difference, q, normalizer and lr."""
    groups: dict[GroupKey, Group] = {}
    for run in runs:
        groups.setdefault(run.key, Group(run.key)).runs.append(run)
    for group in groups.values():
        group.runs.sort(key=lambda run: run.seed)

    def order(key):
        method, d, q, difference, normalizer, limit, lr = key
        return (limit or 0, d, method != "adamm", method, difference or "", q or 0, normalizer or "", lr)
    return [groups[key] for key in sorted(groups, key=order)]


def paper_results() -> list[dict]:
    """The paper's final-epoch figures (``paper_results.csv`` next to this module; '#' lines are notes)."""
    text = resources.files(__package__).joinpath("paper_results.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    return [{k: (v if k == "optimizer" else float(v)) for k, v in row.items()} for row in rows]

"""Run a grid through the service, one JSONL record file per run, resumable at run granularity.

Resuming: a run whose file holds all its epochs (and, for d = 1,400, its weights file) is
skipped, and so is one whose file holds more (the same run asked for fewer epochs).  Any other
file of that name (a run killed mid-way, one of fewer epochs, or written with other settings) is
moved to ``aside/`` and the run starts again from epoch 1.  Continuing the killed session
from the service was not chosen: the runner's own service keeps sessions in memory, so they die
with it, and the worker's minibatch position and FO/ZO mirror state are not in the service.

Several runners may share a folder: each run is locked (``.locks/<name>.lock``, flock) while it
trains, and a runner skips a run another one holds.

Weights: ``train`` puts the flat vector in every epoch record; once a run is complete they move
to ``<name>.weights.npz`` (float32, compressed, epoch 0 = the initial weights) and the JSONL is
rewritten without them, which keeps the record files small enough to commit.

A run whose loss turns NaN or infinite (an lr too large for its method) is a result, not a
failure: ``<name>.diverged.json`` says at which step, the grid goes on, and the run counts as
complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..model import initial_parameters
from ..records import claim_new, read_records
from ..train import Diverged, RunSpec, train
from .grid import run_name, same_run

ASIDE = "aside"
LOCKS = ".locks"


@contextlib.contextmanager
def run_lock(out: Path, name: str):
    """Yields True when this process holds the run's lock, False when another runner does.

    Two runners on one folder (a second one started by mistake, or on purpose to use more
    cores) would otherwise take an in-progress record for a killed one and move it aside.
    The lock dies with its process, so a killed runner never leaves a run locked.
    """
    folder = out / LOCKS
    folder.mkdir(exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def weights_path(record: Path) -> Path:
    return record.with_name(record.name.removesuffix(".jsonl") + ".weights.npz")


def diverged_path(record: Path) -> Path:
    return record.with_name(record.name.removesuffix(".jsonl") + ".diverged.json")


def is_complete(path: Path, spec: RunSpec) -> bool:
    """True when ``path`` holds every epoch of ``spec`` with its settings (weights moved out), or
    the run diverged with these settings (its marker file says at which step).  A run of more
    epochs holds them too: a run's first epochs do not depend on how many follow."""
    marker = diverged_path(path)
    if marker.exists():
        with contextlib.suppress(json.JSONDecodeError, OSError):
            if same_run(spec, json.loads(marker.read_text())):
                return True
    try:
        records = read_records(path)
    except (json.JSONDecodeError, OSError):
        return False  # a line cut by a kill: not complete
    return (len(records) >= spec.epochs and _epochs_in_order(records) and all(same_run(spec, r) for r in records)
            and (not spec.save_weights or (zipfile.is_zipfile(weights_path(path)) and "weights" not in records[-1])))


def _why_again(path: Path, spec: RunSpec) -> str:
    """Why the record at ``path`` is not this run's, in words: fewer epochs than asked, other
    settings, or a run cut short."""
    with contextlib.suppress(json.JSONDecodeError, OSError, AttributeError):
        records = read_records(path)
        if records and not all(same_run(spec, r) for r in records):
            return "a record written with other settings"
        if _epochs_in_order(records) and not diverged_path(path).exists():
            return f"a record of {len(records)} of the {spec.epochs} epochs asked (trained again from epoch 1)"
    return "an incomplete record"


def _epochs_in_order(records: list) -> bool:
    """Whether ``records`` are a run's epochs 1, 2, ... each once, as ``train`` writes them."""
    return all(isinstance(r, dict) for r in records) and [r.get("epoch") for r in records] == list(
        range(1, len(records) + 1))


def finish_weights(path: Path, spec: RunSpec) -> None:
    """Move the weights of a complete run out of its JSONL into ``<name>.weights.npz``.

    The npz is written first and the JSONL replaced atomically, so a kill in between leaves a
    run that the next ``finish_weights`` completes.
    """
    records = read_records(path)
    if "weights" not in records[-1]:
        return
    stack = [initial_parameters(spec.scale, spec.seed)] + [np.asarray(r.pop("weights"), np.float32) for r in records]
    target = weights_path(path)
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez_compressed(tmp, epochs=np.arange(len(stack)), weights=np.stack(stack))
    os.replace(tmp, target)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)


def move_aside(path: Path) -> Path:
    """Keep an incomplete record (never delete measurements): ``aside/<name>.<time>.jsonl``, or
    ``<name>.<time>-2.jsonl`` ... where a record of that run was moved aside in the same second."""
    target = claim_new(path.parent / ASIDE / f"{path.stem}.{time.strftime('%Y%m%d-%H%M%S')}", ".jsonl")
    os.replace(path, target)
    weights = weights_path(path)
    if weights.exists():
        os.replace(weights, target.with_name(target.stem + ".weights.npz"))
    return target


def _manifest_entry(out: Path, spec: RunSpec) -> dict:
    path = out / f"{run_name(spec)}.jsonl"
    try:
        recorded = len(read_records(path))
    except (json.JSONDecodeError, OSError):
        recorded = 0
    return {"name": run_name(spec), "file": path.name, "epochs": spec.epochs, "epochs_recorded": recorded,
            "complete": is_complete(path, spec), "spec": asdict(spec)}


def write_manifest(out: Path, preset: str, runs: list[RunSpec]) -> Path:
    """``grid-<preset>.json``: every run of the grid with the epochs its file holds now.

    Runs listed by an earlier invocation and not by this one (``--seeds 1`` after ``--seeds 0``,
    or a second runner on the folder) stay listed, refreshed from their files; the manifest's
    lock keeps two runners from dropping each other's runs.  To forget runs no longer planned (a
    preset since changed), delete the manifest: the next invocation lists its own runs.
    """
    manifest = out / f"grid-{preset}.json"
    (out / LOCKS).mkdir(exist_ok=True)
    with open(out / LOCKS / f"{manifest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        listed = {}
        with contextlib.suppress(OSError, json.JSONDecodeError, KeyError, TypeError):
            for entry in json.loads(manifest.read_text())["runs"]:
                listed[entry["name"]] = RunSpec(**entry["spec"])
        listed.update((run_name(spec), spec) for spec in runs)
        entries = [_manifest_entry(out, spec) for spec in listed.values()]
        tmp = manifest.with_name(manifest.name + ".tmp")
        tmp.write_text(json.dumps({"preset": preset, "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                   "runs": entries}, indent=1))
        os.replace(tmp, manifest)
    return manifest


ENVIRONMENTS = "environments"  # <run>.json for each run trained: the machine and the software it ran on


def environment() -> dict:
    """The code's commit (where it runs from a git checkout), the versions that shape the
    numbers, and the CPU: a run on another CPU agrees in its first digits only
    (docs/experiments.md, "What reproduces means here").  The same for every run of a grid."""
    import platform
    import subprocess

    import torch

    import zoadamm

    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                               text=True, timeout=10)
        commit = found.stdout.strip() or None
    cpu = platform.processor() or None
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return {"commit": commit, "zoadamm": zoadamm.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "cpu": cpu, "cores": len(os.sched_getaffinity(0))}


def run_grid(runs: list[RunSpec], out: str | Path, preset: str = "custom", service: str | None = None,
             data=None, data_dir: str | None = None, progress: bool = True,
             stop_after_runs: int | None = None, log=print, training=lambda name: None) -> list[str]:
    """Train every run of the grid not yet complete in ``out``; returns the names it trained.

    Starts its own service (embedded store) unless ``service`` is a URL.  ``stop_after_runs``
    ends the grid after that many trained runs, as an interruption would.  ``training(name)`` is
    called as each run starts to train (what an interrupted command names).

    Raises:
        ServiceStartError: the runner's own service did not start.
        zoadamm.sdk.APIError and MnistError: from the service or the data, uncaught.
    """
    from zoadamm_service.launch import local_service

    from ..mnist import load_mnist

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, preset, runs)
    executed: list[str] = []
    made_on: dict = {}  # the machine's environment, read once the grid trains a run
    with contextlib.ExitStack() as stack:
        url = service
        for k, spec in enumerate(runs, 1):
            name = run_name(spec)
            path = out / f"{name}.jsonl"
            if spec.save_weights and path.exists() and not is_complete(path, spec):
                # killed between the last epoch and the npz: finished under the run's lock, or two
                # runners would write one temporary npz at once
                with run_lock(out, name) as mine, contextlib.suppress(json.JSONDecodeError, KeyError, IndexError):
                    if mine and not is_complete(path, spec) and len(read_records(path)) >= spec.epochs:
                        finish_weights(path, spec)
            if is_complete(path, spec):
                log(f"run {k}/{len(runs)} {name}: complete, skipped")
                continue
            if stop_after_runs is not None and len(executed) >= stop_after_runs:
                log(f"stopped after {len(executed)} runs as asked; run again to continue")
                break
            with run_lock(out, name) as mine:
                if not mine:
                    log(f"run {k}/{len(runs)} {name}: running in another process, skipped")
                    continue
                if is_complete(path, spec):  # another runner finished it between the check and the lock
                    log(f"run {k}/{len(runs)} {name}: complete, skipped")
                    continue
                if path.exists():
                    log(f"run {k}/{len(runs)} {name}: {_why_again(path, spec)}, moved to {move_aside(path)}")
                if url is None:
                    url = stack.enter_context(local_service())
                if data is None:
                    data = load_mnist("auto", data_dir)
                log(f"run {k}/{len(runs)} {name}: {spec.epochs} epochs")
                started = time.perf_counter()
                training(name)
                try:
                    train(spec, url, path, data=data, progress=progress, session_name=name)
                except Diverged as diverged:  # a result of the grid, not a failure of the runner
                    diverged_path(path).write_text(json.dumps({"step": diverged.step, **asdict(spec)}))
                    log(f"run {k}/{len(runs)} {name}: {diverged}")
                else:
                    if spec.save_weights:
                        finish_weights(path, spec)
            executed.append(name)
            made_on = made_on or environment()  # where and with what: other CPUs round otherwise
            (out / ENVIRONMENTS).mkdir(exist_ok=True)
            (out / ENVIRONMENTS / f"{name}.json").write_text(
                json.dumps({**made_on, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1) + "\n")
            write_manifest(out, preset, runs)
            log(f"run {k}/{len(runs)} {name}: done in {time.perf_counter() - started:.0f} s")
    write_manifest(out, preset, runs)
    return executed

"""Experiment grids: which runs a preset asks for, and the file name each run's record gets.

A run is a ``RunSpec``; its name is built from the settings that change its result (method, d,
q, difference, normalizer, seed, train limit), so two grids that share a run (the FO baseline
of ``paper`` and ``q-sweep``) write the same file and the second grid skips it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from zoadamm.methods import AMSGRAD_METHODS

from ..model import parameter_count
from ..report_records import RUN_FIELDS
from ..train import PAPER_SCALE, RunSpec

# The paper recorded the weights of its smallest model only; at d = 1,400 a run's weights for
# 50 epochs are 280 kB of float32, at d = 169,196 they would be 34 MB.
WEIGHTS_MAX_D = 1400
SCALE_169K = 12.333333  # d = 169,196
SCALE_2_8M = 119.888885  # d = 2,806,751


@dataclass(frozen=True)
class Block:
    """Runs over ``scales`` x seeds: FO (when ``fo``) and ZO for each (q, difference) and normalizer."""

    scales: tuple[float, ...]
    epochs: int
    zo: tuple[tuple[int, str], ...] = ((1, "forward"),)
    normalizers: tuple[str, ...] = ("v_hat",)
    fo: bool = True
    normalize: bool = True  # inputs centred with MNIST's mean and std; False: raw [0, 1] pixels
    # the ZO methods and the learning rates each is run at
    methods: tuple[tuple[str, tuple[float, ...]], ...] = (("zo-adamm", (1e-3,)),)


@dataclass(frozen=True)
class Preset:
    blocks: tuple[Block, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    train_limit: int | None = None
    about: str = ""


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        (Block((PAPER_SCALE, SCALE_169K), 50), Block((SCALE_2_8M,), 5)),
        about="FO and ZO q=1 at d = 1,400 and 169,196 (50 epochs), d = 2,806,751 (5 epochs)"),
    # central q costs 1 + 2q evaluations per step: central q=4 costs what forward q=8 does
    "q-sweep": Preset(
        (Block((PAPER_SCALE,), 50, zo=tuple((q, difference) for difference in ("forward", "central")
                                            for q in (1, 4, 8, 16))),),
        about="d = 1,400: FO, ZO q in {1,4,8,16}, forward and central differences"),
    "paper-variant": Preset(
        (Block((PAPER_SCALE,), 50, normalizers=("v",), fo=False),),
        about="d = 1,400, ZO q=1 dividing by sqrt(v) as the paper's code did"),
    "raw-inputs": Preset(
        (Block((PAPER_SCALE, SCALE_169K), 50, normalize=False),),
        about="d = 1,400 and 169,196, FO and ZO q=1 on raw [0, 1] pixels instead of normalised ones"),
    # one lr grid for every method, a decade and a half each side of the paper's 1e-3
    "methods": Preset(
        (Block((PAPER_SCALE,), 5, fo=False, methods=tuple((method, (3e-4, 1e-3, 3e-3, 1e-2))
                                                          for method in ("zo-adamm", "zo-sgd", "zo-signsgd"))),),
        about="d = 1,400, 5 epochs, q=1: ZO-AdaMM, ZO-SGD and ZO-signSGD over a small lr grid each"),
    "smoke": Preset(
        (Block((PAPER_SCALE,), 2, zo=((1, "forward"), (2, "forward"))),), seeds=(0, 1), train_limit=640,
        about="tests: d = 1,400 on 640 images, 2 epochs, FO and ZO q in {1,2}"),
}


def build_grid(preset: str, epochs: int | None = None, seeds: list[int] | None = None,
               scales: list[float] | None = None, qs: list[int] | None = None,
               train_limit: int | None = None) -> list[RunSpec]:
    """The runs of ``preset``, with any of its epochs, seeds, scales or q replaced.

    Runs come seed by seed, FO before ZO, so a grid stopped early still holds matched pairs.

    Raises:
        KeyError: an unknown preset.
        ValueError: a non-positive epoch count, q or train limit.
    """
    chosen = PRESETS[preset]
    if any(v is not None and v < 1 for v in (epochs, train_limit)) or any(q < 1 for q in qs or ()):
        raise ValueError("epochs, q and train_limit must be positive")
    limit = train_limit if train_limit is not None else chosen.train_limit
    runs: list[RunSpec] = []
    for block in chosen.blocks:
        zo = block.zo
        if qs:
            differences = list(dict.fromkeys(difference for _, difference in block.zo))
            zo = tuple((q, difference) for difference in differences for q in qs)
        for scale in scales or block.scales:
            save = parameter_count(scale) <= WEIGHTS_MAX_D
            # normalised inputs unless the block says otherwise: the published runs here were made with
            # them (FO reaches the paper's 0.97 at d = 1,400); `raw-inputs` measures what they change
            base = RunSpec(scale=scale, epochs=epochs or block.epochs, train_limit=limit, save_weights=save,
                           normalize=block.normalize)
            for seed in chosen.seeds if seeds is None else seeds:
                if block.fo:
                    runs.append(replace(base, method="adamm", seed=seed))
                for method, lrs in block.methods:
                    for normalizer in block.normalizers:
                        for q, difference in zo:
                            runs.extend(replace(base, method=method, lr=lr, seed=seed, directions=q,
                                                difference=difference, normalizer=normalizer) for lr in lrs)
    unique = {run_name(spec): spec for spec in runs}  # overrides can make two blocks ask for one run
    return list(unique.values())


def run_name(spec: RunSpec) -> str:
    """``fo-d1400-seed0``, ``zo-d1400-q4-central-vhat-seed2``; ``-n640`` when train_limit is set,
    ``-raw`` for raw pixels; a ZO method other than zo-adamm and an lr other than the default
    are named too (``zo-sgd-d1400-q1-forward-lr0.0003-seed0``)."""
    parts = ["fo" if spec.method == "adamm" else "zo" if spec.method == "zo-adamm" else spec.method,
             f"d{spec.dim}"]
    if spec.method != "adamm":
        parts += [f"q{spec.directions}", spec.difference]
        if spec.method in AMSGRAD_METHODS:  # the others have no normalizer
            parts.append(spec.normalizer.replace("_", ""))
        if spec.lr != RunSpec.lr:
            parts.append(f"lr{spec.lr:g}")
    parts.append(f"seed{spec.seed}")
    if spec.train_limit is not None:
        parts.append(f"n{spec.train_limit}")
    if not spec.normalize:
        parts.append("raw")
    return "-".join(parts)


def same_run(spec: RunSpec, record: dict) -> bool:
    """Whether a record file found for a run is that run's, whatever its name: a file written with
    other settings is not."""
    return all(record.get(key) == getattr(spec, key) for key in RUN_FIELDS)

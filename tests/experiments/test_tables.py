"""The report's table of when each setting reaches a test accuracy, on records written by hand."""

from __future__ import annotations

from pathlib import Path

from zoadamm_worker.experiments.records import Run, group_runs
from zoadamm_worker.experiments.tables import k_table, methods_table, target_table


def _run(seed: int, q: int, accuracies: list[float]) -> Run:
    per_step = 1 + q
    records = [{"epoch": e, "method": "zo-adamm", "d": 1400, "directions": q, "difference": "forward",
                "normalizer": "v_hat", "seed": seed, "steps": 469 * e, "evaluations": 469 * e * per_step,
                "test_accuracy": acc} for e, acc in enumerate(accuracies, 1)]
    return Run(f"zo-q{q}-seed{seed}", Path(f"zo-q{q}-seed{seed}.jsonl"), records)


def test_the_first_epoch_at_the_target_is_read_from_the_mean_over_seeds_and_from_each_seed():
    groups = group_runs([
        _run(0, 4, [0.80, 0.91, 0.93]),
        _run(1, 4, [0.85, 0.88, 0.92]),  # mean 0.895 at epoch 2: the mean first reaches 0.90 at 3
        _run(0, 1, [0.50, 0.80, 0.72]),
        _run(1, 1, [0.60, 0.76, 0.68]),  # the mean peaks at epoch 2
    ])
    text = target_table(groups, 0.90).splitlines()
    assert text[2] == ("| ZO q=1 forward d=1,400 | 2 | not in 3 (best 0.7800, epoch 2) | — | —, — | "
                       "0.7000 ± 0.0200 (epoch 3) |")
    assert text[3] == ("| ZO q=4 forward d=1,400 | 5 | epoch 3 | 7,035 | 2, 3 | 0.9250 ± 0.0050 (epoch 3) |")


def _losses(method: str, d: int, seed: int, train_losses: list[float]) -> Run:
    records = [{"epoch": e, "method": method, "d": d, "directions": 1, "difference": "forward",
                "normalizer": "v_hat", "seed": seed, "train_loss": loss} for e, loss in enumerate(train_losses, 1)]
    return Run(f"{method}-{d}-{seed}", Path(f"{method}-{d}-{seed}.jsonl"), records)


def test_k_is_the_loss_ratio_over_sqrt_d_at_equal_epochs_for_every_d():
    fo_small, zo_small, fo_big, zo_big = group_runs([
        _losses("adamm", 100, 0, [1.0, 0.5]), _losses("zo-adamm", 100, 0, [3.0, 2.5]),
        _losses("adamm", 10_000, 0, [1.0]), _losses("zo-adamm", 10_000, 0, [40.0]),
    ])
    text = k_table([(fo_small, zo_small), (fo_big, zo_big)]).splitlines()
    assert text[0] == "| d | √d | epoch 1: ratio / k | epoch 2: ratio / k |"
    assert text[2] == "| 100 | 10 | 3.0 / 0.3000 | 5.0 / 0.5000 |"
    assert text[3] == "| 10,000 | 100 | 40.0 / 0.4000 | — |"


def _method_run(method: str, lr: float, seed: int, accuracy: float, q: int = 1) -> Run:
    record = {"epoch": 1, "method": method, "lr": lr, "d": 1400, "directions": q, "difference": "forward",
              "normalizer": "v_hat", "seed": seed, "test_accuracy": accuracy}
    return Run(f"{method}-{lr}-q{q}-{seed}", Path(f"{method}-{lr}-q{q}-{seed}.jsonl"), [record])


def test_the_methods_table_picks_each_methods_best_lr_by_its_mean_over_seeds():
    groups = group_runs([
        _method_run("zo-sgd", 1e-4, 0, 0.30), _method_run("zo-sgd", 1e-4, 1, 0.50),  # mean 0.40
        _method_run("zo-sgd", 1e-3, 0, 0.45), _method_run("zo-sgd", 1e-3, 1, 0.25),  # mean 0.35
        _method_run("zo-adamm", 1e-3, 0, 0.60), _method_run("zo-adamm", 1e-3, 1, 0.70),
    ])
    assert len(groups) == 3  # an lr is a setting of its own
    text = methods_table(groups).splitlines()
    assert text[2].startswith("| zo-adamm | 0.001 | 0.6500 ± 0.0500 |")  # the best method first
    assert text[3].startswith("| zo-sgd | 0.0001 | 0.4000 ± 0.1000 | **lr 0.0001: 0.4000 ± 0.1000 (2 × 1)**")
    assert "lr 0.001: 0.3500 ± 0.1000 (2 × 1)" in text[3]


def test_an_lr_that_diverged_is_shown_and_never_the_best():
    groups = group_runs([_method_run("zo-sgd", 1e-3, 0, 0.30), _method_run("zo-sgd", 1e-2, 0, 0.90)])
    diverged = [{"method": "zo-sgd", "lr": 1e-2, "step": 700}, {"method": "zo-signsgd", "lr": 1e-2, "step": 3}]
    text = methods_table(groups, diverged).splitlines()
    assert text[2].startswith("| zo-sgd | 0.001 | 0.3000 ± 0.0000 |")  # not 1e-2, though its one epoch was better
    assert "lr 0.01: 0.9000 ± 0.0000 (1 × 1), 1 diverged (step 700)" in text[2]
    assert text[3] == "| zo-signsgd | — | every lr diverged | lr 0.01: 1 diverged (step 3) |"


def test_methods_at_two_settings_get_a_table_each():
    """A grid of q = 1 and q = 4: one table mixed them, its best cell from one q and its other
    cells from the other (the later group wrote over the earlier one's cell of the same lr)."""
    import pytest

    from zoadamm_worker.experiments.analysis import _methods_section

    groups = group_runs([_method_run(m, 1e-2, 0, acc, q) for m, acc, q in (
        ("zo-sgd", 0.09, 1), ("zo-sgd", 0.07, 4), ("zo-adamm", 0.60, 1), ("zo-adamm", 0.80, 4))])
    with pytest.raises(ValueError, match="one table per setting"):
        methods_table(groups)
    text = "\n".join(_methods_section(groups, []))
    one, four = text.split("ZO methods side by side: d = 1,400, q = 4")
    assert "ZO methods side by side: d = 1,400, q = 1, forward differences" in one
    assert "| zo-sgd | 0.01 | 0.0900 ± 0.0000 | **lr 0.01: 0.0900 ± 0.0000 (1 × 1)** |" in one
    assert "| zo-sgd | 0.01 | 0.0700 ± 0.0000 | **lr 0.01: 0.0700 ± 0.0000 (1 × 1)** |" in four
    assert "0.07" not in one and "0.09" not in four and "(q = 4, forward differences)" in four

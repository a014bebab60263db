"""A training run whose loss became NaN or infinite: apart from ``train`` (and torch), so that
the command line can name it without loading torch before its Ctrl-C handling is in place."""

from __future__ import annotations


class Diverged(RuntimeError):
    """The objective became non-finite (NaN or infinite loss): the run cannot go on at this lr."""

    def __init__(self, step: int, lr: float) -> None:
        super().__init__(f"the loss is not finite at step {step} (lr {lr:g}): the run diverged; try a smaller --lr")
        self.step = step

"""The adversarial images of an attack report beside their originals (examples.png)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_examples(runs: list[tuple[str, dict]], path: Path, count: int = 6) -> None:
    """The first ``count`` images common to all runs' examples (``read_examples``): originals,
    then each run's result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    common = sorted(set.intersection(*(set(data["index"].tolist()) for _, data in runs)))[:count]
    figure, axes = plt.subplots(len(common), len(runs) + 1, figsize=(1.6 * (len(runs) + 1), 1.7 * len(common)),
                                squeeze=False)
    for row, index in enumerate(common):
        for column in range(len(runs) + 1):
            name, data = runs[max(column - 1, 0)]
            at = int(np.flatnonzero(data["index"] == index)[0])
            image = data["original" if column == 0 else "final"][at].reshape(28, 28)
            ax = axes[row, column]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title("original" if column == 0 else name, fontsize=8)
            if column == 0:
                ax.set_xlabel(f"#{index}: {data['label'][at]}", fontsize=8)
            else:
                verdict = f"→ {data['predicted'][at]}" if data["success"][at] else "not fooled"
                ax.set_xlabel(verdict, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

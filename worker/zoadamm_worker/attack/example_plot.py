"""The adversarial images of an attack report beside their originals (examples.png)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np


def headings(runs: list[tuple[str, dict]]) -> list[str]:
    """Each run's column title: its method, norm and ε, from the settings its examples file holds
    (``run``), with the file's name below where two runs would read the same; the file's name
    alone for a file written before examples held their run."""
    titles = []
    for name, data in runs:
        if "run" not in data:
            titles.append(name)
            continue
        run = json.loads(str(data["run"]))
        titles.append(f"{run['method']}\n{'ℓ∞' if run['norm'] == 'inf' else 'ℓ' + run['norm']} ε = {run['eps']:g}")
    seen = Counter(titles)
    return [f"{title}\n{name}" if seen[title] > 1 and title != name else title
            for title, (name, _) in zip(titles, runs, strict=True)]


def plot_examples(runs: list[tuple[str, dict]], path: Path, count: int = 6) -> None:
    """The first ``count`` images common to all runs' examples (``read_examples``): originals,
    then each run's result, headed by ``headings``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = headings(runs)
    common = sorted(set.intersection(*(set(data["index"].tolist()) for _, data in runs)))[:count]
    figure, axes = plt.subplots(len(common), len(runs) + 1, figsize=(1.6 * (len(runs) + 1), 1.7 * len(common)),
                                squeeze=False)
    for row, index in enumerate(common):
        for column in range(len(runs) + 1):
            _, data = runs[max(column - 1, 0)]
            at = int(np.flatnonzero(data["index"] == index)[0])
            image = data["original" if column == 0 else "final"][at].reshape(28, 28)
            ax = axes[row, column]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title("original" if column == 0 else titles[column - 1], fontsize=8)
            if column == 0:
                ax.set_xlabel(f"#{index}: {data['label'][at]}", fontsize=8)
            else:
                verdict = f"→ {data['predicted'][at]}" if data["success"][at] else "not fooled"
                ax.set_xlabel(verdict, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

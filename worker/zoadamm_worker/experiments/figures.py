"""The paper's figures from grouped runs, drawn with matplotlib (t-SNE from scikit-learn).

Every function writes one PNG and returns its path, or None when the records hold nothing to
draw (no FO/ZO pair, no weights): a partial results folder still gets every figure it can.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only: no display on servers
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

from ..model import layout  # noqa: E402
from ..report import plain_narrow_log  # noqa: E402
from .records import Group, paired, ratio_curves  # noqa: E402

FIG4_LAYERS = ("conv1.weight", "conv2.weight", "fc3.weight")  # the paper's "most significant"


def _band(ax, x, curves, label, **style):
    mean, std = curves.mean(axis=0), curves.std(axis=0)
    seeds = f"{len(curves)} seed{'' if len(curves) == 1 else 's'}{', ±1 std shaded' if len(curves) > 1 else ''}"
    line, = ax.plot(x, mean, label=f"{label} ({seeds})", **style)
    if len(curves) > 1:
        ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())


def _save(fig, path: Path) -> Path:
    for ax in fig.axes:
        ax.grid(alpha=0.3)
        if ax.get_xlabel() == "epoch":  # whole epochs: no tick at 1.5
            ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        plain_narrow_log(ax)
        if ax.get_legend() is None and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def fig2_ratios(pairs: list[tuple[Group, Group]], path: Path) -> Path | None:
    """Fig. 2: train-loss ratio ZO/FO and accuracy ratio FO/ZO per epoch, one line per d."""
    pairs = [(fo, zo) for fo, zo in pairs if paired(fo, zo)]
    if not pairs:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for fo, zo in pairs:
        loss = ratio_curves(fo, zo, "train_loss")
        _band(left, np.arange(1, loss.shape[1] + 1), loss, zo.label, marker=".")
        acc = ratio_curves(fo, zo, "test_accuracy", zo_over_fo=False)
        _band(right, np.arange(1, acc.shape[1] + 1), acc, zo.label, marker=".")
    # log scale: across d the ratio spans two orders of magnitude (FO's train loss nears 0 at large d)
    left.set(xlabel="epoch", ylabel="train loss ZO / FO", title="Train loss ratio (times ZO worse)", yscale="log")
    right.set(xlabel="epoch", ylabel="test accuracy FO / ZO", title="Accuracy ratio (times ZO worse)")
    return _save(fig, path)


def fig3_k(pairs: list[tuple[Group, Group]], path: Path) -> Path | None:
    """Fig. 3: k = Loss_ZO / (Loss_FO sqrt(d)) per epoch, one line per d."""
    pairs = [(fo, zo) for fo, zo in pairs if paired(fo, zo)]
    if not pairs:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for fo, zo in pairs:
        k = ratio_curves(fo, zo, "train_loss") / np.sqrt(zo.key[1])
        _band(ax, np.arange(1, k.shape[1] + 1), k, zo.label, marker=".")
    ax.set(xlabel="epoch", ylabel="k", yscale="log", title="k = Loss_ZO / (Loss_FO · √d)")
    return _save(fig, path)


def cosine_curves(fo: Group, zo: Group, scale: float) -> dict[str, np.ndarray]:
    """layer -> (seeds, epochs + 1) cosine similarity of FO and ZO weights, epoch 0 included."""
    weights = [(a.weights(), b.weights()) for a, b in paired(fo, zo)]
    weights = [(a, b) for a, b in weights if a and b]
    if not weights:
        return {}
    n = min(min(max(a), max(b)) for a, b in weights)
    out = {}
    for name, start, stop, _ in layout(scale):
        rows = []
        for a, b in weights:
            u = np.array([a[e][start:stop] for e in range(n + 1)], dtype=float)
            v = np.array([b[e][start:stop] for e in range(n + 1)], dtype=float)
            rows.append((u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)))
        out[name] = np.array(rows)
    return out


def fig_cosine(curves: dict[str, np.ndarray], layers, path: Path, title: str) -> Path | None:
    """Figs. 4 and 6: per-layer cosine similarity of FO and ZO weights, mean ± std over seeds."""
    if not curves:
        return None
    layers = [layer for layer in layers if layer in curves]
    cols = min(len(layers), 5 if len(layers) > 3 else 3)
    rows = -(-len(layers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.8 * rows), squeeze=False)
    for ax, layer in zip(axes.flat, layers, strict=False):  # the grid may have spare axes
        c = curves[layer]
        _band(ax, np.arange(c.shape[1]), c, "FO vs ZO")
        ax.set(title=layer, xlabel="epoch", ylabel="cosine", ylim=(min(-0.1, c.min() - 0.05), 1.05))
    for ax in list(axes.flat)[len(layers):]:
        ax.axis("off")
    fig.suptitle(title)
    return _save(fig, path)


def filter_trajectories(run, layer: str, scale: float) -> np.ndarray:
    """(filters, epochs + 1, weights per filter) of a conv layer's weights over the epochs."""
    (start, stop, shape), = [(a, b, s) for name, a, b, s in layout(scale) if name == layer]
    weights = run.weights()
    return np.stack([weights[e][start:stop].reshape(shape[0], -1) for e in sorted(weights)], axis=1)


def fig5_tsne(fo_run, zo_run, scale: float, path: Path, seed: int = 0) -> Path | None:
    """Fig. 5: t-SNE of each conv filter's trajectory (FO and ZO, one seed, epoch 0 shared)."""
    if fo_run is None or zo_run is None or not fo_run.weights() or not zo_run.weights():
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, layer in zip(axes, ("conv1.weight", "conv2.weight"), strict=True):
        fo, zo = filter_trajectories(fo_run, layer, scale), filter_trajectories(zo_run, layer, scale)
        n = min(fo.shape[1], zo.shape[1])
        # t-SNE places two copies of one point apart, which drew FO and ZO starting in different
        # places: the shared start goes in once, and ZO's track begins at FO's
        shared = np.array_equal(fo[:, 0], zo[:, 0])
        points = np.concatenate([fo[:, :n].reshape(-1, fo.shape[2]), zo[:, int(shared):n].reshape(-1, zo.shape[2])])
        perplexity = max(2.0, min(30.0, (len(points) - 1) / 3))
        xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)
        fo_xy, zo_xy = xy[:fo.shape[0] * n].reshape(fo.shape[0], n, 2), xy[fo.shape[0] * n:].reshape(fo.shape[0], -1, 2)
        if shared:
            zo_xy = np.concatenate([fo_xy[:, :1], zo_xy], axis=1)
        for method, color, tracks in (("FO", "tab:blue", fo_xy), ("ZO", "tab:red", zo_xy)):
            for f in range(fo.shape[0]):
                ax.plot(tracks[f, :, 0], tracks[f, :, 1], color=color, marker="o.^"[f % 3], markersize=4,
                        linewidth=1, alpha=0.8, label=f"{method} filter {f}")
                if method == "FO" or not shared:
                    ax.annotate("start", tracks[f, 0], fontsize=6)
        ax.set(title=f"{layer}: {n - 1} epochs, seed {fo_run.seed}", xticks=[], yticks=[])
    return _save(fig, path)


def fig_filters(fo_run, zo_run, scale: float, path: Path) -> Path | None:
    """The last common epoch's conv filters as images: conv1 (5x5), conv2 (3 in-channels of 3x3)."""
    if fo_run is None or zo_run is None or not fo_run.weights() or not zo_run.weights():
        return None
    epoch = min(max(fo_run.weights()), max(zo_run.weights()))
    spans = {name: (a, b, s) for name, a, b, s in layout(scale)}
    fig, axes = plt.subplots(4, 9, figsize=(10, 5))
    for ax in axes.flat:
        ax.axis("off")
    for m, (method, run) in enumerate((("FO", fo_run), ("ZO", zo_run))):
        w = run.weights()[epoch]
        a, b, shape = spans["conv1.weight"]
        for f, image in enumerate(w[a:b].reshape(shape)[:, 0]):
            axes[m, f].imshow(image, cmap="gray")
            axes[m, f].set_title(f"{method} conv1 f{f}", fontsize=7)
        a, b, shape = spans["conv2.weight"]
        for f, kernel in enumerate(w[a:b].reshape(shape)):
            for c, image in enumerate(kernel):
                axes[2 + m, 3 * f + c].imshow(image, cmap="gray")
                axes[2 + m, 3 * f + c].set_title(f"{method} conv2 f{f} c{c}", fontsize=7)
    fig.suptitle(f"Conv filters after epoch {epoch}, seed {fo_run.seed}")
    return _save(fig, path)


def fig_q_sweep(groups: list[Group], path: Path) -> Path | None:
    """Test accuracy per epoch and per function evaluation for every group of one d."""
    if len(groups) < 2:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    qs = sorted({g.key[2] for g in groups if g.key[2] is not None})
    methods = sorted({g.key[0] for g in groups if g.key[0] != "adamm"})
    lrs = sorted({g.key[6] for g in groups})
    for group in groups:
        method, _, q, difference, normalizer, _, lr = group.key
        if method == "adamm":
            style = dict(marker=".", markersize=3, color="black")
        elif len(methods) > 1 or len(lrs) > 1:  # methods compared: one colour each, the lr in the line style
            style = dict(marker=".", markersize=3, color=plt.cm.tab10(methods.index(method)),
                         linestyle=LR_STYLES[lrs.index(lr) % len(LR_STYLES)])
        else:  # one colour per q, the line style tells the difference (and the variant normalizer)
            style = dict(marker=".", markersize=3, color=_q_colour(q, qs),
                         linestyle=("-" if difference == "forward" else "--") if normalizer == "v_hat" else ":")
        acc = group.curve("test_accuracy")
        _band(left, np.arange(1, acc.shape[1] + 1), acc, group.label, **style)
        _band(right, group.curve("evaluations").mean(axis=0), acc, group.label, **style)
    left.set(xlabel="epoch", ylabel="test accuracy", title="At equal epochs")
    if len(groups) > 6:  # one legend, beside the charts, where it hides no curve
        right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
        left.legend().set_visible(False)
        fig.set_size_inches(15, 4.5)
    right.set(xlabel="function evaluations (FO: 1 per gradient)", ylabel="test accuracy", xscale="log",
              title="At equal function evaluations")
    return _save(fig, path)


LR_STYLES = (":", "-.", "--", "-")  # smallest lr dotted, largest solid


def _q_colour(q: int, qs: list[int]):
    return plt.cm.viridis(0.85 * qs.index(q) / max(1, len(qs) - 1))


def fig_final_cosine(cosines: list[tuple[Group, dict[str, np.ndarray]]], path: Path) -> Path | None:
    """The shape of the minima across settings: per weight layer, the cosine similarity of FO
    and ZO weights at the last epoch, one bar per ZO setting (mean ± std over seeds); colour
    by q as in the cost figure, central differences hatched, and settings of the same q and
    differences (another normalizer, method or lr) told apart by a pattern of their own."""
    if len(cosines) < 2:
        return None
    layers = [name for name in cosines[0][1] if name.endswith(".weight")]
    qs = sorted({group.key[2] for group, _ in cosines})
    width = 0.8 / len(cosines)
    fig, ax = plt.subplots(figsize=(11, 4))
    alike: dict[tuple, int] = {}  # settings seen so far of each (q, differences)
    for k, (group, curves) in enumerate(cosines):
        last = [curves[layer][:, -1] for layer in layers]
        epoch = curves[layers[0]].shape[1] - 1
        seen = alike[group.key[2:4]] = alike.get(group.key[2:4], -1) + 1
        hatch = ("//" if group.key[3] == "central" else "") + ("", "..", "xx", "oo", "--")[seen % 5]
        ax.bar(np.arange(len(layers)) + (k - (len(cosines) - 1) / 2) * width, [c.mean() for c in last], width,
               yerr=[c.std() for c in last], color=_q_colour(group.key[2], qs), edgecolor="white",
               hatch=hatch or None, label=f"{group.label} (epoch {epoch})")
    ax.set_xticks(np.arange(len(layers)), [layer.removesuffix(".weight") for layer in layers])
    ax.set(ylabel="cosine similarity to FO", title="FO and ZO weights at the last epoch, per layer")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)

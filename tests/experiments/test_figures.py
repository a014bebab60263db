"""Fig. 5, the t-SNE of the conv filters' trajectories, on weights made up for it: no service."""

from __future__ import annotations

import numpy as np

from zoadamm_worker.experiments import figures
from zoadamm_worker.model import initial_parameters

SCALE = 1 / 9


class _Run:
    """What the figure reads of a run: its seed and its weights per epoch."""

    def __init__(self, start: np.ndarray, seed: int, epochs: int = 4) -> None:
        rng = np.random.default_rng(seed)
        self.seed = 0
        self._weights = {0: start, **{e: start + rng.normal(0, 0.05 * e, start.size).astype(np.float32)
                                      for e in range(1, epochs + 1)}}

    def weights(self) -> dict[int, np.ndarray]:
        return self._weights


def _draw(fo: _Run, zo: _Run, tmp_path, monkeypatch) -> tuple[list, list[np.ndarray]]:
    """The figure's two axes, and the points each t-SNE embedded."""
    embedded: list[np.ndarray] = []

    class Recording(figures.TSNE):
        def fit_transform(self, X, y=None):
            embedded.append(np.asarray(X))
            return super().fit_transform(X)

    drawn = []
    monkeypatch.setattr(figures, "TSNE", Recording)
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    assert figures.fig5_tsne(fo, zo, SCALE, tmp_path / "fig5_tsne.png") == tmp_path / "fig5_tsne.png"
    (fig,) = drawn
    return fig.axes, embedded


def test_fo_and_zo_start_at_one_point_the_shared_initial_weights(tmp_path, monkeypatch):
    start = initial_parameters(SCALE, 0)
    axes, embedded = _draw(_Run(start, 1), _Run(start, 2), tmp_path, monkeypatch)
    for points in embedded:  # conv1 and conv2: 3 filters, FO's 5 epochs and ZO's 4 after the start
        assert len(points) == 3 * 5 + 3 * 4 == len(np.unique(points, axis=0))
    for ax in axes:
        lines = ax.get_lines()
        fo, zo = lines[:3], lines[3:]
        assert [line.get_label() for line in lines] == [f"{m} filter {f}" for m in ("FO", "ZO") for f in range(3)]
        for fo_line, zo_line in zip(fo, zo, strict=True):
            assert len(fo_line.get_xydata()) == len(zo_line.get_xydata()) == 5
            np.testing.assert_array_equal(zo_line.get_xydata()[0], fo_line.get_xydata()[0])
            assert not np.array_equal(zo_line.get_xydata()[1:], fo_line.get_xydata()[1:])
        assert [text.get_text() for text in ax.texts] == ["start"] * 3  # once per filter, not once per method


def test_runs_from_different_weights_start_where_each_started(tmp_path, monkeypatch):
    axes, embedded = _draw(_Run(initial_parameters(SCALE, 0), 1), _Run(initial_parameters(SCALE, 1), 2),
                           tmp_path, monkeypatch)
    assert [len(points) for points in embedded] == [2 * 3 * 5] * 2
    for ax in axes:
        lines = ax.get_lines()
        for fo_line, zo_line in zip(lines[:3], lines[3:], strict=True):
            assert not np.array_equal(zo_line.get_xydata()[0], fo_line.get_xydata()[0])
        assert len(ax.texts) == 6


def test_settings_of_one_q_and_differences_get_bars_of_their_own_pattern(tmp_path, monkeypatch):
    """cosine_by_setting coloured by q and hatched central differences only: two normalizers at
    q = 1 forward were two bars and two legend swatches of the same look."""
    from zoadamm_worker.experiments.records import Group

    layers = {f"{name}.weight": np.full((3, 2), value) for name, value in (("conv1", 0.3), ("fc1", 0.6))}
    groups = [Group(("zo-adamm", 1400, 1, "forward", normalizer, None, 1e-3)) for normalizer in ("v", "v_hat")]
    groups.append(Group(("zo-adamm", 1400, 4, "central", "v_hat", None, 1e-3)))
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    figures.fig_final_cosine([(group, layers) for group in groups], tmp_path / "cosine_by_setting.png")
    (fig,) = drawn
    handles, labels = fig.axes[0].get_legend_handles_labels()
    looks = [(tuple(h.patches[0].get_facecolor()), h.patches[0].get_hatch()) for h in handles]
    assert len(set(looks)) == len(groups) == len(set(labels)), list(zip(labels, looks, strict=True))

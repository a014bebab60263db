"""The report's statistics and table: Wilson intervals, bootstrap intervals, one row per run."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from zoadamm_worker.attack.intervals import bootstrap, summarize_group, wilson
from zoadamm_worker.attack.report import Run, curve_styles, read_rows, table, write_report


def test_wilson_matches_its_formula():
    z = 1.959963984540054
    for successes, total in [(0, 10), (8, 10), (20, 20), (37, 200)]:
        p = successes / total
        centre = (p + z * z / (2 * total)) / (1 + z * z / total)
        half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
        low, high = wilson(successes, total)
        assert low == pytest.approx(max(0.0, centre - half), abs=1e-9)
        assert high == pytest.approx(min(1.0, centre + half), abs=1e-9)


def test_bootstrap_intervals_hold_the_statistic_and_narrow_with_more_images():
    rng = np.random.default_rng(3)
    few, many = rng.exponential(100, 20).tolist(), rng.exponential(100, 400).tolist()
    low, high = bootstrap(few, np.median)
    assert low <= np.median(few) <= high
    wide, narrow = np.subtract(*bootstrap(few, np.mean)[::-1]), np.subtract(*bootstrap(many, np.mean)[::-1])
    assert narrow < wide
    assert bootstrap([5.0], np.mean) is None and bootstrap([5.0, 5.0], np.mean) == (5.0, 5.0)


def _row(method, norm, success, queries, linf=0.2, l2=3.0):
    return {"method": method, "norm": norm, "eps": 0.2 if norm == "inf" else 2.0, "budget": 1000,
            "success": success, "queries": queries, "linf": linf, "l2": l2}


def test_the_table_has_one_row_per_run_with_its_numbers(tmp_path):
    path = tmp_path / "records.jsonl"
    rows = [_row("art-square", "inf", True, q) for q in (10, 20, 30)] + [_row("art-square", "inf", False, 1000)]
    rows += [_row("art-zoo", "2", False, 1000)] * 2
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    groups = read_rows([path])
    square = summarize_group(groups[Run("art-square", "inf", 0.2, 1000)])
    assert square["rate"] == 0.75 and square["median_queries"] == 20 and square["mean_linf"] == pytest.approx(0.2)
    text = table(groups)
    assert "| art-square | ℓ∞ | 0.2 | 1,000 | 4 | 0.75 [0.30, 0.95] | 20 [10, 30] |" in text
    assert "| art-zoo | ℓ2 | 2 | 1,000 | 2 | 0.00 [0.00, 0.66] | – | – | – |" in text


def test_an_image_recorded_twice_under_the_same_settings_is_refused(tmp_path):
    """A second run appended to the same records would count its images twice in every figure."""
    path = tmp_path / "records.jsonl"
    rows = [{**_row("zo-adamm", "inf", True, 40), "index": i} for i in (1, 2)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows * 2))
    with pytest.raises(ValueError, match=r"image 1 is recorded twice for zo-adamm inf 0.2 1000 \(.*:1 and .*:3\)"):
        read_rows([path])
    other = tmp_path / "other.jsonl"  # the same images under other settings are another run
    other.write_text("".join(json.dumps({**row, "budget": 500}) + "\n" for row in rows))
    assert list(read_rows([other])) == [Run("zo-adamm", "inf", 0.2, 500)]


def test_runs_of_other_settings_are_rows_of_their_own_told_apart(tmp_path):
    """Runs of other lr, --directions or seed on other images were merged into one row, and two
    radii that print alike were two rows both labelled 0.2."""
    zo = {"seed": 0, "lr": 0.02, "mu": 0.005, "directions": 10}
    rows = [{**_row("zo-adamm", "inf", True, 40), **zo, "index": 0},
            {**_row("zo-adamm", "inf", False, 1000), **zo, "lr": 0.05, "index": 1},
            {**_row("zo-adamm", "inf", True, 60), **zo, "directions": 40, "index": 2},
            {**_row("zo-adamm", "inf", True, 80), **zo, "seed": 1, "index": 3},
            {**_row("pgd", "inf", True, 5), "seed": 0, "eps": 0.2, "index": 0},
            {**_row("pgd", "inf", True, 5), "seed": 0, "eps": 0.2000000001, "index": 0}]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    groups = read_rows([tmp_path / "r.jsonl"])
    assert len(groups) == 6 and all(len(runs) == 1 for runs in groups.values())
    text = table(groups)
    for cells in ("| zo-adamm (seed 0, lr 0.02, directions 10) | ℓ∞ | 0.2 | 1,000 | 1 | 1.00",
                  "| zo-adamm (seed 0, lr 0.05, directions 10) | ℓ∞ | 0.2 | 1,000 | 1 | 0.00",
                  "| zo-adamm (seed 0, lr 0.02, directions 40) |", "| zo-adamm (seed 1, lr 0.02, directions 10) |",
                  "| pgd | ℓ∞ | 0.2 | 1,000 |", "| pgd | ℓ∞ | 0.2000000001 | 1,000 |"):
        assert cells in text, text
    write_report([str(tmp_path / "r.jsonl")], [], tmp_path / "report")  # the curves are labelled alike


def test_a_sweep_of_eps_and_budget_draws_curves_that_read_apart(tmp_path):
    """Runs of one method and norm at several ε (or budgets) drew in one colour and one line,
    their legends differing by ε alone; a budget was not named at all."""
    rows = [{**_row("zo-adamm", "inf", True, 40), "eps": eps, "budget": budget}
            for eps, budget in ((0.15, 1000), (0.2, 1000), (0.2, 2000))]
    rows += [_row("zo-adamm", "2", True, 40), _row("art-square", "inf", True, 40)]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    styles = curve_styles(read_rows([tmp_path / "r.jsonl"]))
    assert len(set(styles.values())) == len(styles) == 5
    assert len({(color, style) for color, style, _ in styles.values()}) == 5  # drawn apart, not only labelled
    assert len({label for _, _, label in styles.values()}) == 5
    zo = {run: style for run, style in styles.items() if run.method == "zo-adamm"}
    assert len({color for color, _, _ in zo.values()}) == 1  # one method, one colour
    assert {color for color, _, _ in styles.values()} == {"C0", "C1"}  # the methods' colours, in turn
    assert {label for _, _, label in zo.values()} == {
        "zo-adamm ℓ∞ ε=0.15 budget 1,000", "zo-adamm ℓ∞ ε=0.2 budget 1,000", "zo-adamm ℓ∞ ε=0.2 budget 2,000",
        "zo-adamm ℓ2 ε=2 budget 1,000"}
    # a longer sweep in both norms: past the dashes a colour has, the next colour
    sweep = [{**_row("zo-sgd", norm, True, 40), "eps": eps} for norm in ("inf", "2") for eps in range(1, 8)]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(row) + "\n" for row in sweep))
    drawn = curve_styles(read_rows([tmp_path / "s.jsonl"]))
    assert len({(color, style) for color, style, _ in drawn.values()}) == len(drawn) == 14


def test_runs_against_two_victims_are_two_rows(tmp_path):
    """attack-report merged runs of the same settings made against two victims into one row."""
    rows = [{**_row("art-square", "inf", True, 40), "victim": "http://a:1", "index": 0},
            {**_row("art-square", "inf", False, 1000), "victim": "http://b:1", "index": 1}]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    text = table(read_rows([tmp_path / "r.jsonl"]))
    assert "| art-square (victim http://a:1) | ℓ∞ | 0.2 | 1,000 | 1 | 1.00" in text, text
    assert "| art-square (victim http://b:1) | ℓ∞ | 0.2 | 1,000 | 1 | 0.00" in text, text
    # a run made before the victim was recorded and continued since: one run, as written in any case
    rows = [{**_row("art-square", "inf", True, 40), "index": 0},
            {**_row("art-square", "inf", False, 1000), "victim": "HTTP://A:1/", "index": 1},
            {**_row("art-square", "inf", True, 60), "victim": "http://a:1", "index": 2}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert "| art-square | ℓ∞ | 0.2 | 1,000 | 3 |" in table(read_rows([tmp_path / "c.jsonl"]))


def _examples(path, indices):
    n = len(indices)
    np.savez_compressed(path, index=np.array(indices), label=np.zeros(n, int), predicted=np.ones(n, int),
                        success=np.ones(n, bool), original=np.zeros((n, 784), np.float32),
                        final=np.full((n, 784), 0.1, np.float32))


def _attack_folder(folder):
    """What `make attack` leaves in its folder: per-image records and examples, the summaries of
    --json, and a universal perturbation's verdicts and δ."""
    rows = [{**_row("zo-adamm", "inf", True, 40 + i), "index": i} for i in range(3)]
    (folder / "zo-adamm-linf.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    _examples(folder / "zo-adamm-linf.npz", [0, 1, 2])
    (folder / "summaries.jsonl").write_text(json.dumps({"method": "zo-adamm", "norm": "inf", "eps": 0.2, "budget": 1000,
                                                        "attacked": 3, "success_rate": 1.0}) + "\n")
    (folder / "universal.jsonl").write_text(json.dumps({"index": 0, "label": 7, "predicted": 3, "fooled": True}) + "\n")
    np.savez_compressed(folder / "universal.npz", delta=np.zeros(784, np.float32))


def test_a_glob_over_an_attack_folder_reports_its_records_and_skips_its_other_files_with_a_note(tmp_path):
    """results/attack/zo/*.jsonl failed with KeyError 'method' and 'success', *.npz with KeyError."""
    _attack_folder(tmp_path)
    notes: list[str] = []
    written = write_report(sorted(map(str, tmp_path.glob("*.jsonl"))), sorted(map(str, tmp_path.glob("*.npz"))),
                           tmp_path / "report", notes.append)
    assert [path.name for path in written] == ["table.md", "curves.png", "examples.png"]
    assert "| zo-adamm | ℓ∞ | 0.2 | 1,000 | 3 | 1.00" in written[0].read_text()
    assert len(table(read_rows([tmp_path / "zo-adamm-linf.jsonl"])).splitlines()) == 3  # the run's row alone
    assert notes == [f"skipped {tmp_path / 'summaries.jsonl'}: it holds run summaries (the lines of attack --json), "
                     "not per-image records",
                     f"skipped {tmp_path / 'universal.jsonl'}: it holds a universal perturbation's verdicts per test "
                     "image (index, label, predicted, fooled), not per-image records",
                     f"skipped {tmp_path / 'universal.npz'}: it holds a universal perturbation (delta), not "
                     "per-image examples"]


@pytest.mark.parametrize("name, text, words", [
    ("broken.jsonl", json.dumps(_row("pgd", "inf", True, 5)) + "\n{\"method\": \n",
     r"broken.jsonl:2 is not a JSON record"),
    ("other.jsonl", '{"loss": 0.3}\n', r"other.jsonl:1 is not a record of attack --records, which has method, "),
    ("mixed.jsonl", json.dumps(_row("pgd", "inf", True, 5)) + "\n" + json.dumps(
        {"index": 0, "label": 7, "predicted": 3, "fooled": True}) + "\n", "mixed.jsonl holds per-image records and "),
    ("empty.jsonl", "", r"no per-image records to report: .*empty.jsonl holds no records$"),
    ("blank.jsonl", "\n\n", r"blank.jsonl holds no records$"),
])
def test_a_records_file_that_cannot_be_reported_is_refused_naming_it(tmp_path, name, text, words):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=words):
        write_report([str(tmp_path / name)], [], tmp_path / "report")
    assert not (tmp_path / "report").exists()  # nothing written, not an empty table


@pytest.mark.parametrize("field, value, words", [
    ("success", "false", "success must be true or false, not 'false'"),  # was counted a success
    ("queries", "84", "queries must be a whole number from 0 to its budget, not '84'"),  # a traceback
    ("queries", float("nan"), "queries must be a whole number from 0 to its budget, not nan"),
    ("queries", 5000, "queries must be a whole number from 0 to its budget, not 5000"),
    ("queries", -1, "queries must be a whole number from 0 to its budget, not -1"),
    ("l2", None, "l2 must be a finite distance >= 0, not None"),
    ("eps", [0.2], r"eps must be a finite radius > 0, not \[0.2\]"),
    ("budget", "2000", "budget must be a whole number >= 1, not '2000'"),
])
def test_a_record_whose_fields_are_not_what_attack_writes_is_refused_naming_them(tmp_path, field, value, words):
    """A record edited by hand or cut by a fault: refused in words, before anything is written."""
    good = {**_row("pgd", "inf", True, 5), "index": 0}
    path = tmp_path / "edited.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "index": 1, field: value}) + "\n")
    with pytest.raises(ValueError, match=r"edited.jsonl:2: " + words):
        write_report([path], [], tmp_path / "report")
    assert not (tmp_path / "report").exists()


def test_a_missing_records_file_is_refused_not_skipped(tmp_path):
    """A misspelt name was skipped with a note ("holds no records"), and the report, its run left
    out, was written with status 0."""
    present = tmp_path / "r.jsonl"
    present.write_text(json.dumps({**_row("pgd", "inf", True, 5), "index": 0}) + "\n")
    with pytest.raises(ValueError, match=r"missing.jsonl: no such file; give records files of attack --records"):
        write_report([present, tmp_path / "missing.jsonl"], [], tmp_path / "report")
    assert not (tmp_path / "report").exists()
    with pytest.raises(ValueError, match=r"a folder; give records files of attack --records"):
        write_report([present, tmp_path], [], tmp_path / "report")
    # a pipe (a shell's <(...)) is read as a file, as it was before the missing were refused
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    writer = threading.Thread(target=pipe.write_text, args=(present.read_text(),))
    writer.start()
    assert "| pgd |" in table(read_rows([pipe]))
    writer.join()


def test_example_files_that_cannot_be_shown_are_refused_in_words(tmp_path):
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps({**_row("pgd", "inf", True, 5), "index": 0}) + "\n")
    _examples(tmp_path / "a.npz", [0, 1])
    _examples(tmp_path / "b.npz", [100, 101, 102])
    with pytest.raises(ValueError, match=r"no test image in common \(.*a.npz: 2 images, 0 to 1; .*b.npz: 3 images, "
                                         r"100 to 102\)"):
        write_report([records], [tmp_path / "a.npz", tmp_path / "b.npz"], tmp_path / "report")
    np.savez_compressed(tmp_path / "c.npz", index=np.arange(2))
    with pytest.raises(ValueError, match=r"c.npz holds index, not attack --examples \(it lacks label, predicted"):
        write_report([records], [tmp_path / "c.npz"], tmp_path / "report")
    with pytest.raises(ValueError, match=r"r.jsonl is not an .npz of attack --examples: it is no zip of arrays"):
        write_report([records], [records], tmp_path / "report")


def test_the_command_line_says_in_one_line_what_a_file_holds(tmp_path, capsys):
    from zoadamm_worker.cli import main

    _attack_folder(tmp_path)
    status = main(["attack-report", str(tmp_path / "universal.jsonl"), "--out", str(tmp_path / "report")])
    error = capsys.readouterr().err
    assert status == 1 and len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert "universal.jsonl holds a universal perturbation's verdicts per test image" in error


RESULTS = Path(__file__).resolve().parents[2] / "results" / "attack"


def _lead(folder: str, norm: str) -> list[int]:
    """ZO-AdaMM's fooled images less ZO-SGD's within Q queries, for Q = 1 to 2,000 (index Q - 1)."""
    def fooled(method: str) -> np.ndarray:
        rows = [json.loads(line) for line in (RESULTS / folder / f"{method}-{norm}.jsonl").read_text().splitlines()]
        queries = np.sort([row["queries"] for row in rows if row["success"]])
        return np.searchsorted(queries, np.arange(1, 2001), side="right")

    return (fooled("zo-adamm") - fooled("zo-sgd")).tolist()


def _spans(lead: list[int]) -> list[tuple[int, int, int]]:
    """(first Q, last Q, sign of the lead) of each stretch where the sign holds."""
    spans: list[tuple[int, int, int]] = []
    for q, value in enumerate(lead, 1):
        sign = (value > 0) - (value < 0)
        if spans and spans[-1][2] == sign:
            spans[-1] = (spans[-1][0], q, sign)
        else:
            spans.append((q, q, sign))
    return spans


def test_the_curves_read_as_docs_attack_md_says():
    """The pages' words on who leads at which query count, recounted from the committed records."""
    linf_20 = _spans(_lead("zo", "linf"))
    assert linf_20 == [(1, 55, 0), (56, 407, 1), (408, 847, 0), (848, 1155, -1), (1156, 1243, 0),
                       (1244, 1683, -1), (1684, 1870, 0), (1871, 2000, -1)]
    assert max(_lead("zo", "linf")) == 10 and min(_lead("zo", "linf")) == -2
    assert min(_lead("zo", "l2")) == 0  # at l2 ZO-AdaMM never behind on 19 images
    linf_200, l2_200 = _lead("zo-200", "linf"), _lead("zo-200", "l2")
    assert _spans(linf_200)[-1] == (584, 2000, -1) and min(linf_200) == -16
    assert max(linf_200) == 62 == linf_200[166 - 1] and max(l2_200) == 41 == l2_200[441 - 1]
    spans = _spans(l2_200)
    assert [span for span in spans if span[2] < 0] == [(1077, 1089, -1), (1112, 1133, -1), (1673, 2000, -1)]
    assert all(value >= 0 for value in l2_200[1134 - 1:1672]) and max(l2_200[1134 - 1:1672]) == 4
    assert min(l2_200[1673 - 1:]) == -3
    page = " ".join((RESULTS.parents[1] / "docs" / "attack.md").read_text().split())
    for words in ("from 848 on ZO-SGD is ahead or level", "tied again at 1,156 to 1,243 and 1,684 to 1,870",
                  "fooled more from 584 queries on", "ZO-SGD ahead at 1,077 to 1,089 and 1,112 to 1,133",
                  "fooled more only from 1,673 queries on"):
        assert words in page


def test_the_examples_are_headed_by_method_norm_and_eps_not_by_file_name(tmp_path, monkeypatch):
    """Files named pgd, sq and zo were the columns' titles; two runs alike but for another
    setting keep their file names below, and a file written before examples held their run
    keeps its name alone."""
    import matplotlib.pyplot as plt

    from zoadamm_worker.attack.outputs import save_examples
    from zoadamm_worker.attack.runner import AttackSettings, record_settings

    rows = [{"index": i, "label": 7, "predicted": 3, "success": True} for i in range(2)]
    finals = {i: (np.zeros(784, np.float32), np.full(784, 0.1, np.float32)) for i in range(2)}
    for name, method, norm, eps, directions in (("pgd", "pgd", "inf", 0.2, 10), ("sq", "art-square", "inf", 0.2, 10),
                                                ("zo", "zo-adamm", "2", 2.0, 10), ("zo-q40", "zo-adamm", "2", 2.0, 40)):
        run = record_settings(AttackSettings(method=method, norm=norm, eps=eps, budget=100, directions=directions))
        save_examples(tmp_path / f"{name}.npz", run, rows, finals, None)
    _examples(tmp_path / "old.npz", [0, 1])
    (tmp_path / "r.jsonl").write_text(json.dumps({**_row("pgd", "inf", True, 3), "index": 0}) + "\n")
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # kept open to be read
    names = ["pgd", "sq", "zo", "zo-q40", "old"]
    write_report([str(tmp_path / "r.jsonl")], [str(tmp_path / f"{n}.npz") for n in names], tmp_path / "report")
    titles = {ax.get_title() for ax in figures[-1].axes if ax.get_title()}
    assert titles == {"original", "pgd\nℓ∞ ε = 0.2", "art-square\nℓ∞ ε = 0.2", "zo-adamm\nℓ2 ε = 2\nzo",
                      "zo-adamm\nℓ2 ε = 2\nzo-q40", "old"}


def test_runs_on_other_images_are_said_so_beside_the_table(tmp_path):
    """Two runs on other test images made one table and one plot without a word, as though
    their rates were measured alike; runs on the same images are compared without one."""
    def records(name, method, indices):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({**_row(method, "inf", True, 10), "index": i}) + "\n" for i in indices))
        return str(path)

    same = [records("a", "zo-adamm", [0, 1, 2]), records("b", "zo-sgd", [0, 1, 2])]
    notes: list[str] = []
    write_report(same, [], tmp_path / "same", notes.append)
    assert notes == [] and "different test images" not in (tmp_path / "same" / "table.md").read_text()
    other = [records("a", "zo-adamm", [0, 1, 2]), records("c", "zo-sgd", [20, 21, 22])]
    write_report(other, [], tmp_path / "other", notes.append)
    said = ("the runs attacked different test images: their rows are not measured on the same images (give each "
            "run the same --offset and --images)")
    assert notes == [said] and said in (tmp_path / "other" / "table.md").read_text()

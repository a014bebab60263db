"""The tables of docs/benchmarks.md, docs/constraints.md and the README are what
benchmarks/tables.py renders from the committed results."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"
DOCS = (DOC, ROOT / "docs" / "constraints.md", ROOT / "README.md")  # every document with tables
sys.path.insert(0, str(ROOT / "benchmarks"))

import tables  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)


def test_every_table_is_the_rendered_one():
    for doc in DOCS:
        committed = doc.read_text()
        assert committed == tables.render(committed), \
            f"{doc.name} differs from its results: run `python benchmarks/tables.py {doc.relative_to(ROOT)}`"


def test_the_readmes_table_is_the_rendered_one():
    readme = (ROOT / "README.md").read_text()
    assert tables.markers("headline")[0] in readme
    assert readme == tables.render(readme), "README.md differs: run `python benchmarks/tables.py README.md`"


def test_every_table_is_in_a_doc():
    committed = "\n".join(doc.read_text() for doc in DOCS)
    missing = [name for name in tables.TABLES if tables.markers(name)[0] not in committed]
    assert not missing, missing
    for name in tables.TABLES:
        begin, end = tables.markers(name)
        rendered = committed.split(begin, 1)[1].split(end, 1)[0]
        assert rendered.count("\n|") >= 2, name  # a header and at least one row


def test_every_results_file_the_docs_name_is_committed():
    named = set(re.findall(r"benchmarks/results/([\w.-]+\.json)", "\n".join(doc.read_text() for doc in DOCS)))
    assert named, "the doc names no results file"
    assert sorted(f for f in named if not (ROOT / "benchmarks" / "results" / f).is_file()) == []


def test_a_changed_result_changes_the_table(monkeypatch):
    original = tables.load

    def slower(name):
        result = original(name)
        if name == "service_step.json":
            result[0]["lean"]["ms_per_step"] = 99.0
        return result

    monkeypatch.setattr(tables, "load", slower)
    assert "| 1,400 | 99.00 ms |" in tables.service_step()
    assert DOC.read_text() != tables.render(DOC.read_text())

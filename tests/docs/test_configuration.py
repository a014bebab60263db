"""docs/configuration.md holds the table ``settings_doc`` generates from ``Settings``, as it is now."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoadamm_service import settings_doc
from zoadamm_service.settings import Settings, environment_variable

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_table_is_the_generated_one():
    committed = DOC.read_text()
    assert committed == settings_doc.splice(committed, settings_doc.table()), (
        f"docs/configuration.md is not what Settings gives: run `{settings_doc.COMMAND}`")


def test_every_setting_is_a_row_with_its_variable_and_default():
    rows = {line.split(" | ")[0].strip("|` ") for line in settings_doc.table().splitlines()[2:]}
    assert rows == {environment_variable(name) for name in Settings.model_fields}
    assert "`REDIS_URL` | str, optional | unset |" in settings_doc.table()
    assert "`ZOADAMM_TRACE_POINTS` | int ≥ 0, ≤ 4096 | `2048` |" in settings_doc.table()


def test_a_setting_without_a_description_is_refused(monkeypatch):
    field = Settings.model_fields["max_dim"]
    monkeypatch.setattr(field, "description", None)
    with pytest.raises(ValueError, match="Settings.max_dim has no description"):
        settings_doc.table()


def test_splice_needs_the_markers():
    with pytest.raises(ValueError, match="no marker lines"):
        settings_doc.splice("# a document without them\n", "| table |\n")
    begin, end = settings_doc.BEGIN, settings_doc.END
    text = f"head\n{begin}\nold rows\n{end}\ntail\n"
    assert settings_doc.splice(text, "new rows\n") == f"head\n{begin}\nnew rows\n{end}\ntail\n"


def test_the_command_rewrites_the_table_in_place(tmp_path):
    doc = tmp_path / "configuration.md"
    doc.write_text(f"intro\n{settings_doc.BEGIN}\nstale\n{settings_doc.END}\nafter\n")
    assert settings_doc.main([str(doc)]) == 0
    assert doc.read_text() == f"intro\n{settings_doc.BEGIN}\n{settings_doc.table()}{settings_doc.END}\nafter\n"


def test_every_variable_the_code_reads_has_a_row():
    """A ``ZOADAMM_*`` variable read anywhere in the packages or the compose file is documented
    (the settings' rows are generated; the clients' and compose's are written by hand)."""
    import re

    root = DOC.parents[1]
    sources = [*root.glob("client/zoadamm/**/*.py"), *root.glob("service/zoadamm_service/**/*.py"),
               *root.glob("worker/zoadamm_worker/**/*.py"), root / "docker-compose.yml"]
    read = {name for path in sources for name in re.findall(r"\bZOADAMM_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())}
    documented = set(re.findall(r"`(ZOADAMM_[A-Z0-9_]+)`", DOC.read_text()))
    assert read - documented == set()

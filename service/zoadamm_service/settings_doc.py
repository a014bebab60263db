"""The table of service settings in docs/configuration.md, generated from ``Settings``.

    python -m zoadamm_service.settings_doc docs/configuration.md   # rewrite the table in place
    python -m zoadamm_service.settings_doc                         # print it

Every field of ``Settings`` is a row: its environment variable, type and bounds, default and
description, so a setting added to ``Settings`` reaches the docs by running the command again
(``tests/docs/test_configuration.py`` fails until it is).  The table sits between two marker
lines; the text around them is written by hand.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from .settings import Settings, environment_variable

COMMAND = "python -m zoadamm_service.settings_doc docs/configuration.md"
BEGIN = f"<!-- the settings table: generated from Settings by `{COMMAND}`; edit Settings, not this table -->"
END = "<!-- end of the generated settings table -->"
_BOUNDS = {Ge: ("≥", "ge"), Gt: (">", "gt"), Le: ("≤", "le"), Lt: ("<", "lt")}


def table() -> str:
    """The Markdown table of every ``Settings`` field, in the class's order.

    Raises ValueError naming a field that has no description (the table would have a hole)."""
    rows = ["| variable | type | default | what |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise ValueError(f"Settings.{name} has no description: give it Field(description=...)")
        cells = (f"`{environment_variable(name)}`", _type(field), _default(field.default), field.description)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def _type(field: FieldInfo) -> str:
    union = get_origin(field.annotation) in (Union, types.UnionType)
    names = [_name(arg) for arg in (get_args(field.annotation) if union else (field.annotation,))]
    optional = "NoneType" in names
    text = " or ".join(n for n in names if n != "NoneType")
    bounds = [f"{_BOUNDS[type(m)][0]} {_number(getattr(m, _BOUNDS[type(m)][1]))}" for m in field.metadata
              if type(m) in _BOUNDS]
    return text + (" " + ", ".join(bounds) if bounds else "") + (", optional" if optional else "")


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):  # as the environment spells it
        return str(value).lower()
    return f"`{_number(value)}`"


def _number(value: Any) -> str:
    """A value as it is written in the environment (no digit separators, which it does not take)."""
    return repr(value) if isinstance(value, float) else str(value)


def splice(document: str, generated: str, begin: str = BEGIN, end: str = END) -> str:
    """``document`` with the text between the marker lines ``begin`` and ``end`` replaced by
    ``generated`` (benchmarks/tables.py renders its tables into docs the same way).

    Raises ValueError when a marker is missing."""
    if begin not in document or end not in document:
        raise ValueError(f"the document has no marker lines:\n{begin}\n{end}")
    head, rest = document.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{generated}{end}{tail}"


def main(argv: list[str]) -> int:
    if not argv:
        sys.stdout.write(table())
        return 0
    path = Path(argv[0])
    path.write_text(splice(path.read_text(), table()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

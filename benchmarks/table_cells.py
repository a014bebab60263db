"""What every table renderer of ``tables.py`` uses: the results folder and markdown rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> Any:
    return json.loads((RESULTS / name).read_text())


def rows(header: list[str], body: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *body]
    return "".join("| " + " | ".join(cells) + " |\n" for cells in lines)


def grouped(value: int) -> str:
    """An integer with thousands separators, as the docs write them."""
    return f"{value:,}"
